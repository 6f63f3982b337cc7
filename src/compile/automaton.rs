//! The automaton for the complex rules the complex-glob matcher does not take (globs of more
//! alternatives than it expands), and the screens of small sets of complex rules.
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
use super::pattern::{Stars, literal_prefix};
use super::table::starts_with;

pub(crate) const SEPARATOR: u8 = 0xFF;

/// The lazy DFA may use this much memory per cache before it starts over.
const CACHE_CAPACITY: usize = 2 << 20;
/// After this many starts over, when states keep costing more than
/// [`MIN_BYTES_PER_STATE`] bytes each to earn, the DFA gives up and the rules it holds are
/// matched one by one: a DFA that keeps rebuilding costs more than the plain matcher.
const CLEARS_BEFORE_GIVING_UP: usize = 3;
const MIN_BYTES_PER_STATE: usize = 10;

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

/// What a field of a complex rule needs before the automaton is worth walking.
#[derive(Debug, Clone)]
pub(crate) enum Screen {
    /// A literal prefix: necessary, not sufficient.
    Prefix(String),
    /// Text and stars only: the whole test.
    Stars(Stars),
}

impl Screen {
    fn new(glob: &Glob) -> Screen {
        match Stars::new(glob) {
            Some(stars) => Screen::Stars(stars),
            None => Screen::Prefix(literal_prefix(glob)),
        }
    }

    #[inline]
    fn test(&self, s: &[u8]) -> bool {
        match self {
            Screen::Prefix(p) => starts_with(s, p.as_bytes()),
            Screen::Stars(stars) => stars.matches(s),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Screen::Prefix(p) => p.capacity(),
            Screen::Stars(stars) => stars.heap_bytes(),
        }
    }
}

/// A complex rule's screen: its band and what its fields need. When every complex rule of a
/// stage has exact screens (globs of text and stars), they decide alone; otherwise, when no
/// rule passes its screen, the automaton cannot match and is not walked.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    pub(crate) rule: u32,
    action: Screen,
    resource: Screen,
    band: Option<ClassRange>,
}

impl Prefilter {
    /// The most complex rules worth testing one by one.
    pub(crate) const MAX_RULES: usize = 16;

    pub(crate) fn new(rule: &ComplexRule) -> Prefilter {
        Prefilter {
            rule: rule.rule,
            action: Screen::new(&rule.action),
            resource: Screen::new(&rule.resource),
            band: rule.band,
        }
    }

    /// Whether passing the screen means matching.
    pub(crate) fn exact(&self) -> bool {
        matches!(
            (&self.action, &self.resource),
            (Screen::Stars(_), Screen::Stars(_))
        )
    }

    #[inline]
    pub(crate) fn may_match(&self, action: &[u8], resource: &[u8], class: u32) -> bool {
        self.band.is_none_or(|(lo, hi)| lo <= class && class <= hi)
            && self.action.test(action)
            && self.resource.test(resource)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Prefilter>() + self.action.heap_bytes() + self.resource.heap_bytes()
    }
}

impl ComplexRule {
    /// Heap bytes of its globs: text, and tokens at most one per character.
    pub(crate) fn heap_bytes(&self) -> usize {
        let glob = |g: &Glob| g.as_str().len() * (1 + std::mem::size_of::<crate::glob::Token>());
        glob(&self.action) + glob(&self.resource)
    }

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
                    .minimum_cache_clear_count(Some(CLEARS_BEFORE_GIVING_UP))
                    .minimum_bytes_per_state(Some(MIN_BYTES_PER_STATE)),
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
                // Untagged states (built, not dead, not a match) take the short path.
                if !sid.is_tagged() {
                    let next = self.dfa.next_state_untagged(cache, sid, byte);
                    if !next.is_tagged() {
                        sid = next;
                        continue;
                    }
                }
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
