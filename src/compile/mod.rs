//! Compiled policies: the same decisions as the reference evaluator
//! ([`crate::eval::reference`]), in a time that does not grow with the number of rules.
//!
//! ```
//! use rekall_policy::{Policy, Request};
//!
//! let policy = Policy::from_path("policies/seed.yaml")?;
//! let compiled = policy.compile();
//! let request = Request::new("deploy").resource("staging").confidence(0.8999);
//! assert_eq!(compiled.decide(&request)?, policy.decide(&request)?);
//! assert_eq!(compiled.decide(&request)?.outcome().as_str(), "notify-and-proceed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How
//!
//! A stage's answer is its first rule, in file order, that matches. Compiling sorts each rule
//! into the cheapest matcher that can take it, as globset sorts globs into strategies:
//!
//! - `pattern`: exact names and name-plus-star globs (`delete`, `svc_42/env_*`, `*`, small
//!   alternations of these), and for resources one star between fixed texts (`*/env`,
//!   `svc_*/env`), need no automaton: a string equals, or starts (and ends) with, fixed ones.
//! - `index`: those rules are found by hash lookups of the action and resource pair, the
//!   action, and the action's prefixes at the lengths that occur; then by the resource, the
//!   same way. Keys and bucket entries each sit in one cache line, so a lookup that hits
//!   costs about two cache misses whatever the number of rules, and a Bloom filter answers
//!   most lookups that miss.
//! - the other rules ("complex": `?`, classes, a star before the end): when they are few and
//!   made of text and stars only (`svc_1*.delete`), they are tested one by one by finding
//!   their pieces (in linear time); otherwise they go to the complex-glob matcher (`complex`,
//!   `field`, `anchors`, `segment`): one multi-literal search per field finds the literals of
//!   every rule's segments, candidate rules become bitsets, and candidates are verified in
//!   rule order, in work linear in the request and the rules ([`Work`],
//!   [`CompiledPolicy::work_bound`]). Only globs of more alternatives than it expands go to
//!   one anchored lazy DFA (`automaton`) over `action 0xFF resource [0xFF confidence-class]`
//!   with leftmost-first priority, which gives up when it keeps rebuilding states, and then
//!   to the reference matcher; `lint` names those rules (`costly-globs`). 0xFF never occurs
//!   in UTF-8, so no character of a request (NUL included) can blur the two fields.
//! - `confidence`: the confidence becomes a class (a binary search over the band
//!   endpoints), so a band is a range of classes: a run in a table, a byte range in the DFA.
//!
//! Every part knows the lowest rule it can yield and skips what cannot beat the best found
//! so far; the lowest of all wins. Verdicts are the policy's own, precomputed: a decision
//! borrows them, and deciding allocates nothing.
//!
//! A compiled policy is `Send + Sync`; the DFA's per-search caches sit in a pool, one per
//! thread at a time. [`LivePolicy`] holds one that a long-running service can replace
//! while it decides.

mod anchors;
mod automaton;
mod builder;
mod complex;
mod confidence;
mod field;
mod index;
mod live;
mod pattern;
mod segment;
mod table;

use std::fmt;

use regex_automata::hybrid::dfa::Cache;
use regex_automata::util::pool::Pool;

pub use builder::Builder;
pub use complex::Work;
pub use live::LivePolicy;

use crate::decision::{Decision, Stage, StageResult, Verdict};
use crate::policy::Verdicts;
use crate::request::{Limits, Request, RequestError, check_action, check_confidence};

use automaton::{Automaton, ComplexRule, Prefilter};
use complex::{ComplexMatcher, ComplexScratch};
use confidence::Classes;
use index::{Index, NONE};

/// A policy compiled for deciding fast. Build it with [`crate::Policy::compile`] or
/// [`Builder`].
pub struct CompiledPolicy {
    verdicts: std::sync::Arc<Verdicts>,
    name: Option<String>,
    classes: Classes,
    hitl: Option<StageMatcher>,
    escalation: Option<StageMatcher>,
    caches: Pool<Caches, CacheFn>,
    limits: Limits,
}

type CacheFn = Box<dyn Fn() -> Caches + Send + Sync>;

/// The mutable state of one decision at a time: the lazy DFAs' caches and the complex-glob
/// matchers' scratch, grown to what the searches needed and then reused.
#[derive(Debug)]
struct Caches {
    hitl: Option<Cache>,
    escalation: Option<Cache>,
    hitl_scratch: ComplexScratch,
    escalation_scratch: ComplexScratch,
    /// Rules matched one by one, and lazy DFA walks (see [`Work::fallback`]).
    fallback: u64,
}

impl Caches {
    fn work(&self) -> Work {
        let (h, e) = (self.hitl_scratch.work(), self.escalation_scratch.work());
        Work {
            steps: h.steps + e.steps,
            verified: h.verified + e.verified,
            fallback: self.fallback,
            logged: h.logged + e.logged,
        }
    }
}

/// Which stage's parts of [`Caches`] a search uses.
type StageCaches = fn(&mut Caches) -> (Option<&mut Cache>, &mut ComplexScratch, &mut u64);

/// The matchers of one stage.
#[derive(Debug)]
struct StageMatcher {
    index: Index,
    /// The rules the index does not hold, in rule order.
    complex: Vec<ComplexRule>,
    /// The lowest of them (`NONE` when there are none).
    complex_min: u32,
    /// When they are few: what each needs, to skip the automaton when none can match.
    prefilter: Option<Vec<Prefilter>>,
    /// Whether the prefilter decides alone (every complex glob is text and stars).
    screened: bool,
    /// The complex rules whose globs expand to few forms.
    matcher: Option<ComplexMatcher>,
    /// The others, in rule order, for the automaton or one by one.
    fallback: Vec<ComplexRule>,
    /// The rules whose cost per decision is not bounded as promised, and why.
    costly: Vec<(u32, String)>,
    automaton: Option<Automaton>,
}

impl CompiledPolicy {
    /// Decides a request: exactly what [`crate::Policy::decide`] decides.
    #[inline]
    pub fn decide(&self, request: &Request) -> Result<Decision<'_>, RequestError> {
        let confidence = request.check_within(&self.limits)?;
        Ok(self.decide_checked(&request.action, &request.resource, confidence))
    }

    /// Decides from borrowed parts, checked as a [`Request`]'s are (a non-empty action,
    /// fields within the limits, a confidence in [0, 1] or none for 0).
    ///
    /// ```
    /// let compiled = rekall_policy::Policy::from_path("policies/seed.yaml")?.compile();
    /// assert_eq!(compiled.decide_str("deploy", "staging", None)?.outcome().as_str(), "escalate");
    /// assert!(compiled.decide_str("", "staging", None).is_err());
    /// assert!(compiled.decide_str("deploy", "staging", Some(f64::NAN)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn decide_str(
        &self,
        action: &str,
        resource: &str,
        confidence: Option<f64>,
    ) -> Result<Decision<'_>, RequestError> {
        check_action(action)?;
        self.limits.check_field("action", action)?;
        self.limits.check_field("resource", resource)?;
        let confidence = check_confidence(confidence)?;
        Ok(self.decide_checked(action, resource, confidence))
    }

    /// Decides as [`CompiledPolicy::decide`] does, and counts the work the decision took
    /// (see [`Work`]): what tests hold against [`CompiledPolicy::work_bound`].
    pub fn decide_with_work(
        &self,
        request: &Request,
    ) -> Result<(Decision<'_>, Work), RequestError> {
        let confidence = request.check_within(&self.limits)?;
        let mut guard = Some(self.caches.get());
        let before = guard.as_ref().map(|g| g.work()).unwrap_or_default();
        let decision = self.decide_in(&mut guard, &request.action, &request.resource, confidence);
        let after = guard.as_ref().map(|g| g.work()).unwrap_or_default();
        Ok((decision, after.since(before)))
    }

    /// The most [`Work::total`] a decision may take for an action and a resource of these
    /// lengths in bytes: linear in each, with a constant per byte that the globs set. `None`
    /// when some rules are left to the lazy DFA and the reference matcher (globs with too
    /// many alternatives), whose cost is the text's length times the rules'. Both those
    /// rules and globs whose constant per byte passes the promised limit are what `lint`
    /// reports as `costly-globs` ([`CompiledPolicy::costly_rules`]).
    pub fn work_bound(&self, action_len: usize, resource_len: usize) -> Option<u64> {
        let mut total = 0u64;
        for stage in [&self.hitl, &self.escalation].into_iter().flatten() {
            if !stage.fallback.is_empty() && !stage.screened {
                return None;
            }
            if let Some(m) = &stage.matcher {
                total += m.work_bound(action_len, resource_len);
            }
        }
        Some(total)
    }

    /// The rules for which the compiled policy cannot promise its bound (none, or one whose
    /// constant per request byte passes the promised limit), in stage and rule order, each
    /// with the reason: what `lint` reports as `costly-globs`.
    pub fn costly_rules(&self) -> Vec<CostlyRule> {
        let stages = [
            (Stage::Hitl, &self.hitl),
            (Stage::Escalation, &self.escalation),
        ];
        stages
            .into_iter()
            .filter_map(|(stage, m)| Some((stage, m.as_ref()?)))
            .flat_map(|(stage, m)| {
                m.costly.iter().map(move |(rule, reason)| CostlyRule {
                    stage,
                    rule: *rule as usize,
                    reason: reason.clone(),
                })
            })
            .collect()
    }

    /// Decides a request whose fields are already checked. The confidence must be in
    /// [0, 1]: the classes say nothing about other numbers.
    #[inline]
    fn decide_checked(&self, action: &str, resource: &str, confidence: f64) -> Decision<'_> {
        let mut guard = None;
        self.decide_in(&mut guard, action, resource, confidence)
    }

    #[inline]
    fn decide_in<'s>(
        &'s self,
        guard: &mut Option<regex_automata::util::pool::PoolGuard<'s, Caches, CacheFn>>,
        action: &str,
        resource: &str,
        confidence: f64,
    ) -> Decision<'s> {
        let class = self.classes.of(confidence);
        // Rules first, the decision last: a decision is large, and built in place once.
        let hitl = self.hitl.as_ref().map(|stage| {
            self.stage_first(
                stage,
                guard,
                |c| (c.hitl.as_mut(), &mut c.hitl_scratch, &mut c.fallback),
                action,
                resource,
                None,
            )
        });
        let escalation = self.escalation.as_ref().map(|stage| {
            self.stage_first(
                stage,
                guard,
                |c| {
                    (
                        c.escalation.as_mut(),
                        &mut c.escalation_scratch,
                        &mut c.fallback,
                    )
                },
                action,
                resource,
                Some(class),
            )
        });
        Decision {
            hitl: hitl.map(|rule| self.result(rule, &self.verdicts.hitl)),
            escalation: escalation.map(|rule| self.result(rule, &self.verdicts.escalation)),
        }
    }

    /// The first rule of a stage that matches, or `NONE`. `class` is the confidence's class
    /// for a stage of bands (escalation), `None` for one without (HITL), whose automaton reads
    /// no class bytes.
    #[inline]
    fn stage_first<'s>(
        &'s self,
        stage: &StageMatcher,
        guard: &mut Option<regex_automata::util::pool::PoolGuard<'s, Caches, CacheFn>>,
        parts: StageCaches,
        action: &str,
        resource: &str,
        class: Option<u32>,
    ) -> u32 {
        let class_bytes = class;
        let class = class.unwrap_or(0);
        let mut best = stage
            .index
            .first_match(action.as_bytes(), resource.as_bytes(), class);
        if stage.complex_min >= best {
            return best;
        }
        if let Some(prefilter) = &stage.prefilter {
            let mut passing = prefilter
                .iter()
                .take_while(|p| p.rule < best)
                .filter(|p| p.may_match(action.as_bytes(), resource.as_bytes(), class));
            match passing.next() {
                Some(p) if stage.screened => return p.rule,
                Some(_) => {}
                None => return best,
            }
        }
        let caches = guard.get_or_insert_with(|| self.caches.get());
        let (cache, scratch, fallback) = parts(caches);
        let mut all = false;
        if let Some(matcher) = &stage.matcher {
            match matcher.first_match(action, resource, class, best, scratch) {
                Ok(found) => best = best.min(found),
                // The search could not run: every complex rule one by one.
                Err(_) => all = true,
            }
        }
        let fallback_rules = if all { &stage.complex } else { &stage.fallback };
        if fallback_rules.first().is_none_or(|c| c.rule >= best) {
            return best;
        }
        *fallback += 1;
        let walked = match (&stage.automaton, cache) {
            (Some(automaton), Some(cache)) if !all => {
                // The class as the automaton reads it, only when it is walked.
                let mut buf = [0u8; 4];
                let width = class_bytes.map_or(0, |c| self.classes.encode(c, &mut buf));
                let class_bytes = buf.get(..width).unwrap_or(&[]);
                automaton
                    .first_match(cache, action.as_bytes(), resource.as_bytes(), class_bytes)
                    .ok()
            }
            _ => None,
        };
        let found = match walked {
            Some(found) => found.unwrap_or(NONE),
            // No automaton, or it gave up: match the remaining rules one by one.
            None => fallback_rules
                .iter()
                .take_while(|c| c.rule < best)
                .inspect(|_| *fallback += 1)
                .find(|c| c.matches(action, resource, class))
                .map_or(NONE, |c| c.rule),
        };
        best.min(found)
    }

    #[inline]
    fn result<'s>(&'s self, rule: u32, verdicts: &'s [Verdict]) -> StageResult<'s> {
        match verdicts.get(rule as usize).filter(|_| rule != NONE) {
            Some(verdict) => StageResult::new(Some(rule as usize), verdict),
            None => StageResult::new(None, &self.verdicts.no_match),
        }
    }

    /// How many classes the confidence falls into: the bands' edges cut [0, 1] into them.
    pub(crate) fn confidence_classes(&self) -> u32 {
        self.classes.count()
    }

    /// The class of a confidence in [0, 1]: two confidences of one class are decided alike.
    #[inline]
    pub(crate) fn confidence_class(&self, confidence: f64) -> u32 {
        self.classes.of(confidence)
    }

    /// The bounds a request must keep to be decided.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The policy's `name`, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// An estimate of the heap memory the compiled form holds, by part. The automaton cache
    /// counted is the one this thread gets from the pool (after whatever searches it ran);
    /// every thread deciding at the same moment holds one.
    pub fn memory_usage(&self) -> MemoryUsage {
        let stages = [&self.hitl, &self.escalation];
        let index = stages
            .iter()
            .filter_map(|s| s.as_ref())
            .map(|s| s.index.heap_bytes())
            .sum::<usize>()
            + self.classes.heap_bytes()
            + self.name.as_ref().map_or(0, String::capacity);
        let automata = stages
            .iter()
            .filter_map(|s| s.as_ref())
            .map(|s| {
                s.automaton.as_ref().map_or(0, Automaton::heap_bytes)
                    + s.matcher.as_ref().map_or(0, ComplexMatcher::heap_bytes)
                    + s.fallback.capacity() * std::mem::size_of::<ComplexRule>()
                    + s.fallback
                        .iter()
                        .map(ComplexRule::heap_bytes)
                        .sum::<usize>()
                    + s.complex.capacity() * std::mem::size_of::<ComplexRule>()
                    + s.complex.iter().map(ComplexRule::heap_bytes).sum::<usize>()
                    + s.prefilter
                        .as_ref()
                        .map_or(0, |p| p.iter().map(Prefilter::heap_bytes).sum::<usize>())
            })
            .sum();
        // The pool boxes each cache set.
        let caches = std::mem::size_of::<Caches>() + {
            let guard = self.caches.get();
            guard.hitl.as_ref().map_or(0, Cache::memory_usage)
                + guard.escalation.as_ref().map_or(0, Cache::memory_usage)
                + guard.hitl_scratch.heap_bytes()
                + guard.escalation_scratch.heap_bytes()
        };
        let verdicts = verdicts_heap_bytes(&self.verdicts);
        MemoryUsage {
            index,
            automata,
            caches,
            verdicts,
        }
    }
}

/// A rule whose decision cost the compiled policy cannot bound as it promises for the others
/// (see [`CompiledPolicy::costly_rules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostlyRule {
    pub stage: Stage,
    /// The rule's index in its stage.
    pub rule: usize,
    /// Why, in a sentence.
    pub reason: String,
}

/// Heap memory of a compiled policy, in bytes, by part (estimates from capacities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Hash tables, buckets, band maps.
    pub index: usize,
    /// The lazy DFAs' NFAs and the complex rules they hold.
    pub automata: usize,
    /// One thread's lazy DFA caches, as grown by the searches it ran.
    pub caches: usize,
    /// The precomputed verdicts that decisions borrow.
    pub verdicts: usize,
}

impl MemoryUsage {
    pub fn total(&self) -> usize {
        self.index + self.automata + self.caches + self.verdicts
    }
}

fn verdicts_heap_bytes(v: &Verdicts) -> usize {
    use std::mem::size_of;
    let strings = |list: &[crate::Principal]| list.iter().map(|p| p.as_str().len()).sum::<usize>();
    let one = |v: &Verdict| {
        v.approvers.capacity() * size_of::<crate::Principal>()
            + strings(&v.approvers)
            + v.escalate_to.capacity() * size_of::<crate::Principal>()
            + strings(&v.escalate_to)
            + v.notify_via.capacity() * size_of::<String>()
            + v.notify_via.iter().map(String::capacity).sum::<usize>()
            + v.rule_id.as_ref().map_or(0, String::capacity)
            + v.chain.capacity() * size_of::<crate::decision::StepVerdict>()
            + v.chain
                .iter()
                .map(|s| {
                    s.step.capacity()
                        + s.approvers.capacity() * size_of::<crate::Principal>()
                        + strings(&s.approvers)
                        + s.escalate_to.capacity() * size_of::<crate::Principal>()
                        + strings(&s.escalate_to)
                        + s.notify_via.capacity() * size_of::<String>()
                        + s.notify_via.iter().map(String::capacity).sum::<usize>()
                })
                .sum::<usize>()
    };
    (v.hitl.capacity() + v.escalation.capacity()) * size_of::<Verdict>()
        + v.hitl
            .iter()
            .chain(&v.escalation)
            .chain([&v.no_match])
            .map(one)
            .sum::<usize>()
}

impl fmt::Debug for CompiledPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledPolicy")
            .field("name", &self.name)
            .field("hitl", &self.hitl)
            .field("escalation", &self.escalation)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn a_compiled_policy_is_shared_between_threads() {
        assert_send_sync::<CompiledPolicy>();
    }
}
