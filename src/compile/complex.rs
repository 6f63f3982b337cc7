//! The first matching complex rule of a stage, in time linear in the rules and the text.
//!
//! The first rules are matched directly against both fields, in rule order, within a
//! budget of a few readings of the action at `memchr`'s speed. Past it, the action's
//! [`FieldSet`] marks its candidate rules in a bitset. They are verified in
//! rule order (the band first, then the action); the resource is read only when one passes:
//! the first such rules are matched against it directly, within a budget, and after that
//! it is searched once, and a rule must be a candidate there too (one of its keys occurs)
//! and match it. Only rules that can beat the best rule found so far (by the
//! index) are looked at. A decision's work is bounded by a constant times the rules' forms
//! and segments plus the text's length times the fields' byte weights; [`Work`] counts it, so
//! that tests can hold the bound as numbers rather than times.

use super::confidence::ClassRange;
use super::field::{Budget, FieldScratch, FieldSet, FieldSetBuilder, SearchFailed};
use super::index::NONE;
use super::segment::{Form, forms};
use crate::glob::Glob;

/// The most forms one glob may expand to in the matcher; a glob with more is left to the
/// lazy DFA and the reference matcher, and `lint` says so (`costly-globs`).
pub(crate) const MAX_FORMS: usize = 64;

/// The most steps one byte of a request may cost for the decision bound to be promised
/// (see `FieldSet::byte_weight`); the families of `bench --adversarial` stay below 40.
pub(crate) const MAX_BYTE_WEIGHT: usize = 64;

/// The complex rules of one stage that the matcher takes.
#[derive(Debug, Clone)]
pub(crate) struct ComplexMatcher {
    /// Each rule's number in the stage, ascending.
    rules: Vec<u32>,
    bands: Vec<Option<ClassRange>>,
    action: FieldSet,
    resource: FieldSet,
}

/// The per-decision state of a [`ComplexMatcher`].
#[derive(Debug, Default, Clone)]
pub(crate) struct ComplexScratch {
    action: FieldScratch,
    resource: FieldScratch,
    action_bits: Vec<u64>,
    resource_bits: Vec<u64>,
    verified: u64,
}

/// What deciding has cost so far, in countable steps (summed over the decisions a scratch
/// served).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Bytes searched, anchor occurrences found, characters compared, binary-search probes
    /// and candidates marked, over both fields.
    pub steps: u64,
    /// Candidate rules verified.
    pub verified: u64,
    /// Rules matched one by one by the reference glob matcher, or walks of the lazy DFA:
    /// the rules the matcher does not take (see `costly-globs`).
    pub fallback: u64,
    /// Places where anchors end that the fields' searches logged, also counted in
    /// `steps`: none for a field read only for which anchors occur in it (see
    /// `FieldSet::scan`).
    pub logged: u64,
}

impl Work {
    /// Everything counted.
    pub fn total(&self) -> u64 {
        self.steps + self.verified + self.fallback
    }

    pub(crate) fn since(self, before: Work) -> Work {
        Work {
            steps: self.steps - before.steps,
            verified: self.verified - before.verified,
            fallback: self.fallback - before.fallback,
            logged: self.logged - before.logged,
        }
    }
}

/// A rule's globs as the matcher takes them: its forms, or `None` for a glob with too many.
pub(crate) fn matcher_forms(glob: &Glob) -> Option<Vec<Form>> {
    forms(glob, MAX_FORMS)
}

/// Collects a stage's rules for the matcher.
#[derive(Debug, Default)]
pub(crate) struct ComplexMatcherBuilder {
    rules: Vec<u32>,
    bands: Vec<Option<ClassRange>>,
    action: FieldSetBuilder,
    resource: FieldSetBuilder,
}

impl ComplexMatcherBuilder {
    /// Adds rule `rule` (ascending) with the forms of its globs.
    pub(crate) fn add(
        &mut self,
        rule: u32,
        action: (&Glob, &[Form]),
        resource: (&Glob, &[Form]),
        band: Option<ClassRange>,
    ) {
        self.rules.push(rule);
        self.bands.push(band);
        self.action.add(action.1, action.0.is_any());
        self.resource.add(resource.1, resource.0.is_any());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Builds the matcher, with the rules (by number in the stage) whose cost per byte of
    /// request is more than [`MAX_BYTE_WEIGHT`], and why.
    pub(crate) fn build(self) -> (ComplexMatcher, Vec<(u32, String)>) {
        let (action, blamed_action) = self.action.build(MAX_BYTE_WEIGHT);
        let (resource, blamed_resource) = self.resource.build(MAX_BYTE_WEIGHT);
        let mut costly = Vec::new();
        for (field, set, blamed) in [
            ("action", &action, blamed_action),
            ("resource", &resource, blamed_resource),
        ] {
            for local in blamed {
                if let Some(&rule) = self.rules.get(local as usize) {
                    costly.push((
                        rule,
                        format!(
                            "one byte of a request's {field} can cost {} steps with this policy's {field} globs (the bound is promised up to {MAX_BYTE_WEIGHT}): this rule's literals end inside one another's, or it has a segment of only `?` and classes",
                            set.byte_weight()
                        ),
                    ));
                }
            }
        }
        let matcher = ComplexMatcher {
            rules: self.rules,
            bands: self.bands,
            action,
            resource,
        };
        (matcher, costly)
    }
}

impl ComplexMatcher {
    /// The lowest rule below `below` whose globs match and whose band holds `class`, or
    /// [`NONE`].
    ///
    /// The first rules are matched directly, in rule order, against both fields, within a
    /// budget of some readings of the action at `memchr`'s speed: on a text that matches an
    /// early rule, or that lacks the early rules' literals, that answers for a fraction of
    /// one reading through the automaton. Past the budget, the action is searched once, and
    /// only the rules not yet answered are asked whether they are candidates.
    pub(crate) fn first_match(
        &self,
        action: &str,
        resource: &str,
        class: u32,
        below: u32,
        sc: &mut ComplexScratch,
    ) -> Result<u32, SearchFailed> {
        let limit = self.rules.partition_point(|&r| r < below);
        if limit == 0 {
            return Ok(NONE);
        }
        let mut resource_check = ResourceCheck {
            direct: Some(Budget(direct_budget(resource.len()))),
            scanned: false,
        };
        let mut budget = Budget(ACTION_READINGS * direct_budget(action.len()));
        let mut answered = 0;
        while answered < limit {
            let i = answered;
            if !self.band_holds(i, class) {
                answered += 1;
                continue;
            }
            sc.verified += 1;
            match self
                .action
                .rule_matches_directly(i, action, &mut sc.action, &mut budget)
            {
                None => break,
                Some(false) => {}
                Some(true) => {
                    if self.resource_matches(i, resource, &mut resource_check, sc)? {
                        return Ok(self.rules.get(i).copied().unwrap_or(NONE));
                    }
                }
            }
            answered += 1;
        }
        if answered == limit {
            return Ok(NONE);
        }
        let words = limit.div_ceil(64);
        self.action.scan(action, &mut sc.action)?;
        reset(&mut sc.action_bits, words);
        self.action
            .mark(action, &mut sc.action, limit, &mut sc.action_bits);
        // The rules answered directly are not asked again.
        for (w, bits) in sc.action_bits.iter_mut().enumerate() {
            let below_answered = answered.saturating_sub(w * 64).min(64);
            *bits &= !low_bits(below_answered);
        }
        // Many candidates left: the resource's own candidates are marked too, and only the
        // rules that are candidates in both fields are verified. Few: each is asked of the
        // resource directly, which reads a fraction of it.
        let candidates: u32 = sc.action_bits.iter().map(|b| b.count_ones()).sum();
        sc.action.work += words as u64;
        if candidates as usize > FEW_CANDIDATES {
            if !resource_check.scanned {
                self.resource.scan(resource, &mut sc.resource)?;
                resource_check.scanned = true;
            }
            reset(&mut sc.resource_bits, words);
            self.resource
                .mark(resource, &mut sc.resource, limit, &mut sc.resource_bits);
            for (a, r) in sc.action_bits.iter_mut().zip(&sc.resource_bits) {
                *a &= r;
            }
            resource_check.direct = None;
        }
        for w in 0..sc.action_bits.len() {
            let mut bits = sc.action_bits.get(w).copied().unwrap_or(0);
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                if i >= limit {
                    return Ok(NONE);
                }
                bits &= bits - 1;
                sc.verified += 1;
                if !self.band_holds(i, class)
                    || !self.action.rule_matches(i, action, &mut sc.action)
                {
                    continue;
                }
                if self.resource_matches(i, resource, &mut resource_check, sc)? {
                    return Ok(self.rules.get(i).copied().unwrap_or(NONE));
                }
            }
        }
        Ok(NONE)
    }

    fn band_holds(&self, rule: usize, class: u32) -> bool {
        let band = self.bands.get(rule).copied().flatten();
        !band.is_some_and(|(lo, hi)| class < lo || class > hi)
    }

    /// Whether rule `rule`'s resource glob matches, for a rule whose action matched. The
    /// resource is searched only once a candidate's band and action match: a request whose
    /// action no candidate fits costs nothing in its resource. The first rules that get
    /// that far are matched against it directly, within a budget of about two readings of
    /// it; past that, it is searched once, and the rules are asked whether they are
    /// candidates there.
    fn resource_matches(
        &self,
        rule: usize,
        resource: &str,
        check: &mut ResourceCheck,
        sc: &mut ComplexScratch,
    ) -> Result<bool, SearchFailed> {
        if let Some(budget) = check.direct.as_mut() {
            match self
                .resource
                .rule_matches_directly(rule, resource, &mut sc.resource, budget)
            {
                Some(answer) => return Ok(answer),
                None => check.direct = None,
            }
        }
        if !check.scanned {
            self.resource.scan(resource, &mut sc.resource)?;
            check.scanned = true;
        }
        Ok(self.resource.may_match(rule, &mut sc.resource)
            && self.resource.rule_matches(rule, resource, &mut sc.resource))
    }

    /// The most work [`ComplexMatcher::first_match`] can take on texts of these lengths:
    /// per field, each byte searched once and the anchors and segments around it (the
    /// field's byte weight), each distinct segment and chain once with a binary search, each
    /// form once, and the bounds' chains placed backwards, a reading for presence only
    /// before that; then each rule verified once;
    /// and each field's direct matching (at most its budget, each step counted at most three
    /// times, and one search past it).
    pub(crate) fn work_bound(&self, action_len: usize, resource_len: usize) -> u64 {
        let field = |f: &FieldSet, len: usize| {
            let (len, weight, size) = (len as u64, f.byte_weight() as u64, f.size() as u64);
            let probes = u64::from(64 - (len * (weight + 1) + 1).leading_zeros()) + 1;
            // A text read for presence only first, then searched again with its log: a
            // step a byte and four per byte for sweeping the states, and the bounds placed
            // twice.
            let presence = (len + 1) * (5 + f.horizon_weight()) + size;
            (len + 1) * (weight + 1 + f.horizon_weight())
                + size * (probes + 4)
                + f.rules() as u64
                + presence
        };
        let direct =
            |budget: u64, len: usize, f: &FieldSet| 3 * budget + len as u64 + f.size() as u64;
        field(&self.action, action_len)
            + field(&self.resource, resource_len)
            + direct(direct_budget(resource_len), resource_len, &self.resource)
            + direct(
                ACTION_READINGS * direct_budget(action_len),
                action_len,
                &self.action,
            )
            + self.rules.len() as u64
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.rules.capacity() * 4
            + self.bands.capacity() * std::mem::size_of::<Option<ClassRange>>()
            + self.action.heap_bytes()
            + self.resource.heap_bytes()
    }
}

impl ComplexScratch {
    pub(crate) fn work(&self) -> Work {
        Work {
            steps: self.action.work + self.resource.work,
            verified: self.verified,
            fallback: 0,
            logged: self.action.logged + self.resource.logged,
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.action.heap_bytes()
            + self.resource.heap_bytes()
            + (self.action_bits.capacity() + self.resource_bits.capacity()) * 8
    }
}

/// How the resource is being checked in one decision: directly while its budget lasts, then
/// through its search, made once.
struct ResourceCheck {
    direct: Option<Budget>,
    scanned: bool,
}

/// How many of [`direct_budget`] the action's direct matching may take: a step there is a
/// byte passed by `memchr` (several bytes an instruction) or a character compared,
/// where a byte read through the automaton and its log costs some thirty instructions.
const ACTION_READINGS: u64 = 4;

/// The most candidates left after the action's search that are asked of the resource one
/// by one; with more, the resource's candidates are marked too.
const FEW_CANDIDATES: usize = 8;

/// The lowest `n` bits set (`n` at most 64).
fn low_bits(n: usize) -> u64 {
    match n {
        0 => 0,
        64.. => u64::MAX,
        n => (1u64 << n) - 1,
    }
}

/// The steps the resource's direct matching may take before it is searched instead: about
/// two readings of it, a small cost next to one reading through the automaton.
fn direct_budget(len: usize) -> u64 {
    2 * (len as u64 + 1)
}

fn reset(bits: &mut Vec<u64>, words: usize) {
    bits.clear();
    bits.resize(words, 0);
}
