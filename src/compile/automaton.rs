//! The automaton for the rules the index cannot take (`?`, classes, a star before the end).
//!
//! The two-field first match reduces to one string: `action 0xFF resource` is matched against
//! `A_k 0xFF R_k` for every such rule `k`, in one anchored multi-pattern lazy DFA with
//! leftmost-first priority, so the lowest matching rule falls out of one walk. The separator
//! is the byte 0xFF because it never occurs in UTF-8: neither field can contain it, whatever
//! characters (NUL included) a request holds, and no glob character class can match it, so
//! the split is never ambiguous. For the escalation stage the walk goes on with another 0xFF
//! and the confidence's class (see [`super::confidence`]); each band is a byte range there.
//!
//! The lazy DFA needs a mutable cache per search; [`super::CompiledPolicy`] keeps them in a
//! pool. The walk reads the fields in place: nothing is copied or allocated once the states
//! it needs are built.

use regex_automata::hybrid::dfa::{Cache, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};

use crate::glob::Glob;

use super::confidence::{ClassRange, Classes};

pub(crate) const SEPARATOR: u8 = 0xFF;

/// The lazy DFA may use this much memory per cache before it starts over.
const CACHE_CAPACITY: usize = 8 << 20;

/// The search could not finish (the lazy DFA gave up); decide another way.
#[derive(Debug)]
pub(crate) struct GaveUp;

/// A rule as the automaton sees it, also kept to decide without it.
#[derive(Debug, Clone)]
pub(crate) struct ComplexRule {
    pub(crate) rule: u32,
    pub(crate) action: Glob,
    pub(crate) resource: Glob,
    /// The classes the rule's band holds (escalation); `None` for HITL rules.
    pub(crate) band: Option<ClassRange>,
}

/// What every string a complex rule matches starts with, and its band: when no rule passes
/// this, the automaton cannot match and is not walked.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    pub(crate) rule: u32,
    pub(crate) action: String,
    pub(crate) resource: String,
    pub(crate) band: Option<ClassRange>,
}

impl Prefilter {
    /// The most complex rules worth testing one by one before a walk.
    pub(crate) const MAX_RULES: usize = 16;

    pub(crate) fn new(rule: &ComplexRule) -> Prefilter {
        Prefilter {
            rule: rule.rule,
            action: super::pattern::literal_prefix(&rule.action),
            resource: super::pattern::literal_prefix(&rule.resource),
            band: rule.band,
        }
    }

    #[inline]
    pub(crate) fn may_match(&self, action: &[u8], resource: &[u8], class: u32) -> bool {
        self.band.is_none_or(|(lo, hi)| lo <= class && class <= hi)
            && super::table::starts_with(action, self.action.as_bytes())
            && super::table::starts_with(resource, self.resource.as_bytes())
    }
}

impl ComplexRule {
    /// Matches the plain way: the reference glob matcher.
    pub(crate) fn matches(&self, action: &str, resource: &str, class: u32) -> bool {
        self.band.is_none_or(|(lo, hi)| (lo..=hi).contains(&class))
            && self.action.is_match(action)
            && self.resource.is_match(resource)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Automaton {
    dfa: DFA,
    /// The rule of each pattern, in pattern order (which is rule order).
    rules: Vec<u32>,
    /// Whether the walk goes on with the confidence class.
    with_class: bool,
}

impl Automaton {
    /// Builds the automaton, or `None` when the lazy DFA cannot be built (then the rules are
    /// matched one by one).
    pub(crate) fn build(rules: &[ComplexRule], classes: &Classes) -> Option<Automaton> {
        let with_class = rules.iter().any(|r| r.band.is_some());
        let patterns: Vec<String> = rules
            .iter()
            .map(|r| {
                let band = r
                    .band
                    .map(|b| format!("(?-u:\\xFF){}", classes.regex(b)))
                    .unwrap_or_default();
                let any_class = if with_class && r.band.is_none() {
                    "(?-u:\\xFF[\\x00-\\xFF]*)"
                } else {
                    ""
                };
                format!(
                    "(?:{})(?-u:\\xFF)(?:{}){band}{any_class}\\z",
                    r.action.to_regex(),
                    r.resource.to_regex()
                )
            })
            .collect();
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::LeftmostFirst)
                    .cache_capacity(CACHE_CAPACITY)
                    .minimum_cache_clear_count(None),
            )
            .syntax(syntax::Config::new().utf8(false))
            .thompson(thompson::Config::new().utf8(false))
            .build_many(&patterns)
            .ok()?;
        Some(Automaton {
            dfa,
            rules: rules.iter().map(|r| r.rule).collect(),
            with_class,
        })
    }

    pub(crate) fn create_cache(&self) -> Cache {
        self.dfa.create_cache()
    }

    /// The lowest rule matching `action 0xFF resource [0xFF class]`, if any.
    #[inline]
    pub(crate) fn first_match(
        &self,
        cache: &mut Cache,
        action: &[u8],
        resource: &[u8],
        class: &[u8],
    ) -> Result<Option<u32>, GaveUp> {
        let config = start::Config::new().anchored(Anchored::Yes);
        let mut sid = self.dfa.start_state(cache, &config).map_err(|_| GaveUp)?;
        let sep = [SEPARATOR];
        let tail: &[u8] = if self.with_class { class } else { &[] };
        let pieces: [&[u8]; 5] = [
            action,
            &sep,
            resource,
            if self.with_class { &sep } else { &[] },
            tail,
        ];
        for piece in pieces {
            for &byte in piece {
                sid = self.dfa.next_state(cache, sid, byte).map_err(|_| GaveUp)?;
                if sid.is_dead() {
                    return Ok(None);
                }
            }
        }
        sid = self.dfa.next_eoi_state(cache, sid).map_err(|_| GaveUp)?;
        if !sid.is_match() {
            return Ok(None);
        }
        let pattern = self.dfa.match_pattern(cache, sid, 0);
        Ok(self.rules.get(pattern.as_usize()).copied())
    }

    /// Heap bytes of the automaton itself (its NFA and tables), without caches.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.dfa.memory_usage() + self.dfa.get_nfa().memory_usage() + self.rules.capacity() * 4
    }
}
