//! The index of one stage: for every rule whose globs have simple forms (see
//! [`super::pattern`]), where a request's action and resource can find it by hash lookups.
//!
//! A rule's globs expand to pairs of simple forms `(action form, resource form)`; the rules
//! sharing a pair form one *entry*, whose band map says which of them comes first at each
//! confidence class (for HITL rules there is one class and the entry's first rule). Entries
//! are found by the action first:
//!
//! - exact action and exact resource: one lookup of the pair;
//! - exact action: the *bucket* of that action, looked up once;
//! - action prefix `p`: the bucket of `p`, looked up once per distinct prefix length (most
//!   misses stop at the table's Bloom filter);
//! - any action (`*`): one bucket, always visited.
//!
//! A bucket holds its entries by resource form (exact, prefix, or a start and an end such as
//! `*/env`): a few are scanned (a comparison or two each); many are indexed again, by exact
//! resource, by resource prefix (once per prefix length) and by start and end (once per
//! pair of lengths), in the same table.
//!
//! Every bucket and every kind of lookup knows the lowest rule it can yield, so a search
//! skips whatever cannot beat the best rule found so far. Lookups stay a handful whatever the
//! number of rules.

use std::cmp::Reverse;
use std::collections::hash_map::Entry as Slot;
use std::collections::{BinaryHeap, HashMap};

use super::confidence::ClassRange;
use super::pattern::Simple;
use super::table::{
    FastHash, Inline, KeyTable, KeyTableBuilder, Prefixes, bytes_eq, ends_with, starts_with,
};

/// No rule.
pub(crate) const NONE: u32 = u32::MAX;

/// Buckets with more entries than this get their own lookups instead of a scan.
const SCAN_LIMIT: usize = 8;

const NS_PAIR: u32 = 0;
const NS_ACTION: u32 = 1;
const NS_ACTION_PREFIX: u32 = 2;
/// Big bucket `k` looks up exact resources in `NS_BUCKETS + 3k`, prefixes in the next, and
/// starts and ends in the one after.
const NS_BUCKETS: u32 = 3;

#[derive(Debug, Clone, Copy)]
struct Run {
    /// The first class of the run.
    class: u32,
    rule: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    runs_start: u32,
    runs_len: u32,
    /// One run per class, so that the class is the index (when classes are few).
    dense: bool,
}

/// With at most this many classes, entries hold a rule per class instead of runs.
const DENSE_CLASSES: u32 = 64;

/// Marks an answer that is a rule (the same at every class) rather than an entry to look up.
const DIRECT: u32 = 1 << 31;

/// How a bucket entry's resource form matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    /// The resource's first `split` bytes start the string and the rest end it.
    Affix,
    /// The head of a big bucket, which only carries the bucket's numbers.
    Head,
}

/// One entry of a bucket, in one cache line: a bucket's entries sit side by side, and its
/// first says how many there are, so that finding a bucket and scanning it are one miss.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct BucketEntry {
    first_rule: u32,
    /// A rule with [`DIRECT`] set, or an entry.
    answer: u32,
    /// In a bucket's first entry: the bucket's length, and its big part (or `NONE`).
    count: u32,
    big: u32,
    kind: Kind,
    /// Where an affix's start ends and its end begins.
    split: u16,
    resource: Inline<36>,
}

#[derive(Debug, Clone)]
struct BigBucket {
    ns_exact: u32,
    ns_prefix: u32,
    ns_affix: u32,
    /// Each prefix length, with the lowest rule of the entries of that length.
    prefix_lengths: Vec<(usize, u32)>,
    /// Each pair of start and end lengths of the affixes, with their lowest rule.
    affix_lengths: Vec<((usize, usize), u32)>,
}

/// The searchable index of one stage.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    table: KeyTable,
    entries: Vec<Entry>,
    runs: Vec<Run>,
    /// Every bucket's entries, bucket after bucket, each sorted by first rule.
    bucket_entries: Vec<BucketEntry>,
    /// Resource forms too long to sit in their entry.
    arena: Vec<u8>,
    bigs: Vec<BigBucket>,
    /// The lowest rule each kind of lookup can yield (`NONE` when it has nothing).
    pair_min: u32,
    action_min: u32,
    prefix_min: u32,
    /// Each action prefix length, with the lowest rule of the buckets of that length.
    action_prefix_lengths: Vec<(usize, u32)>,
    /// The first entry of the bucket of `*` actions.
    any_bucket: Option<u32>,
    /// Which (length, last two bytes) the action prefixes have, to skip most lengths
    /// before hashing.
    prefix_screen: EndScreen,
}

/// A 4096-bit filter on a prefix's length and its last two bytes: one cache line or so that
/// rules out nearly every length at which a request's action has no prefix of the policy
/// (`svc_42.` ends in `2.`, and an action has a `.` at one place only).
#[derive(Debug, Clone)]
struct EndScreen {
    bits: [u64; 64],
}

impl EndScreen {
    #[inline]
    fn bit(len: usize, s: &[u8]) -> usize {
        let last = s.get(len.wrapping_sub(1)).copied().unwrap_or(0);
        let before = s.get(len.wrapping_sub(2)).copied().unwrap_or(0);
        let x = (len as u32).wrapping_mul(0x9E37_79B1)
            ^ (u32::from(before) << 8 | u32::from(last)).wrapping_mul(0x85EB_CA77);
        (x >> 20) as usize
    }

    fn add(&mut self, prefix: &[u8]) {
        let b = EndScreen::bit(prefix.len(), prefix);
        if let Some(word) = self.bits.get_mut(b / 64) {
            *word |= 1 << (b % 64);
        }
    }

    /// False when `s` has no policy prefix of length `len` (true may be a false alarm).
    #[inline]
    fn may_hold(&self, len: usize, s: &[u8]) -> bool {
        let b = EndScreen::bit(len, s);
        self.bits
            .get(b / 64)
            .is_some_and(|w| w & (1 << (b % 64)) != 0)
    }
}

impl Index {
    /// The lowest rule whose forms match and whose band holds `class`, or [`NONE`].
    #[inline]
    pub(crate) fn first_match(&self, action: &[u8], resource: &[u8], class: u32) -> u32 {
        let mut best = NONE;
        if self.pair_min < best
            && let Some(answer) = self.table.get(NS_PAIR, &[action, resource])
        {
            best = best.min(self.answer(answer, class));
        }
        if self.action_min < best
            && let Some(b) = self.table.get(NS_ACTION, &[action])
        {
            best = self.bucket(b, resource, class, best);
        }
        if self.prefix_min < best {
            let mut hashes = Prefixes::new(NS_ACTION_PREFIX, action);
            for &(len, min_rule) in &self.action_prefix_lengths {
                if len > action.len() {
                    break;
                }
                if min_rule >= best || !self.prefix_screen.may_hold(len, action) {
                    continue;
                }
                let Some(h) = hashes.hash(len) else { break };
                if let Some(b) = self.table.get_hashed(
                    h,
                    NS_ACTION_PREFIX,
                    &[action.get(..len).unwrap_or_default()],
                ) {
                    best = self.bucket(b, resource, class, best);
                }
            }
        }
        if let Some(b) = self.any_bucket {
            best = self.bucket(b, resource, class, best);
        }
        best
    }

    /// The rule an answer gives at a class.
    #[inline]
    fn answer(&self, answer: u32, class: u32) -> u32 {
        if answer & DIRECT != 0 {
            return answer & !DIRECT;
        }
        let Some(e) = self.entries.get(answer as usize) else {
            return NONE;
        };
        let start = e.runs_start as usize;
        if e.dense {
            return self
                .runs
                .get(start + class as usize)
                .map_or(NONE, |r| r.rule);
        }
        let Some(runs) = self.runs.get(start..start + e.runs_len as usize) else {
            return NONE;
        };
        let i = runs.partition_point(|r| r.class <= class);
        i.checked_sub(1)
            .and_then(|i| runs.get(i))
            .map_or(NONE, |r| r.rule)
    }

    /// The lowest rule of the bucket whose first entry is `first` that beats `best`.
    #[inline]
    fn bucket(&self, first: u32, resource: &[u8], class: u32, mut best: u32) -> u32 {
        let start = first as usize;
        let Some(head) = self.bucket_entries.get(start) else {
            return best;
        };
        if head.first_rule >= best {
            return best;
        }
        let entries = self
            .bucket_entries
            .get(start..start + head.count as usize)
            .unwrap_or_default();
        for e in entries {
            if e.first_rule >= best {
                break;
            }
            let text = e.resource.get(&self.arena);
            let hit = match e.kind {
                Kind::Exact => bytes_eq(resource, text),
                Kind::Prefix => starts_with(resource, text),
                Kind::Affix => {
                    let (head, tail) = text.split_at(usize::from(e.split).min(text.len()));
                    resource.len() >= text.len()
                        && starts_with(resource, head)
                        && ends_with(resource, tail)
                }
                Kind::Head => false,
            };
            if hit {
                best = best.min(self.answer(e.answer, class));
            }
        }
        if let Some(big) = self.bigs.get(head.big as usize) {
            if let Some(answer) = self.table.get(big.ns_exact, &[resource]) {
                best = best.min(self.answer(answer, class));
            }
            let mut hashes = Prefixes::new(big.ns_prefix, resource);
            for &(len, min_rule) in &big.prefix_lengths {
                let Some(h) = hashes.hash(len) else { break };
                if min_rule < best
                    && let Some(answer) = self.table.get_hashed(
                        h,
                        big.ns_prefix,
                        &[resource.get(..len).unwrap_or_default()],
                    )
                {
                    best = best.min(self.answer(answer, class));
                }
            }
            for &((head, tail), min_rule) in &big.affix_lengths {
                if min_rule >= best || head + tail > resource.len() {
                    continue;
                }
                let parts = [
                    resource.get(..head).unwrap_or_default(),
                    resource.get(resource.len() - tail..).unwrap_or_default(),
                ];
                if let Some(answer) = self.table.get(big.ns_affix, &parts) {
                    best = best.min(self.answer(answer, class));
                }
            }
        }
        best
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.table.heap_bytes()
            + self.entries.capacity() * size_of::<Entry>()
            + self.runs.capacity() * size_of::<Run>()
            + self.bucket_entries.capacity() * size_of::<BucketEntry>()
            + self.arena.capacity()
            + self.bigs.capacity() * size_of::<BigBucket>()
            + self
                .bigs
                .iter()
                .map(|b| {
                    b.prefix_lengths.capacity() * size_of::<(usize, u32)>()
                        + b.affix_lengths.capacity() * size_of::<((usize, usize), u32)>()
                })
                .sum::<usize>()
            + self.action_prefix_lengths.capacity() * size_of::<(usize, u32)>()
            + size_of::<EndScreen>()
    }
}

/// An entry on its way into a bucket: its first rule, its answer and its resource form.
type Listed<'a> = (u32, u32, &'a Simple);

/// Where an entry goes, by its action form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Home {
    Pair(String),
    Action(String),
    ActionPrefix(String),
    AnyAction,
}

/// Collects rules in rule order, then builds an [`Index`].
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    /// Each entry's rules, in rule order, with their class ranges.
    entries: Vec<Vec<(u32, ClassRange)>>,
    /// Each pair of forms' entry.
    by_forms: HashMap<(Simple, Simple), u32, FastHash>,
}

impl IndexBuilder {
    /// Adds rule `rule` for every pair of its forms; rules must come in ascending order.
    /// Returns false, adding nothing, when an action form is not a start of the string
    /// ([`Simple::is_head`]) or an affix is too long to hold: the rule is not the index's.
    pub(crate) fn add(
        &mut self,
        rule: u32,
        actions: &[Simple],
        resources: &[Simple],
        band: ClassRange,
    ) -> bool {
        let fits = |r: &Simple| match r {
            Simple::Affix(head, _) => u16::try_from(head.len()).is_ok(),
            _ => true,
        };
        if !actions.iter().all(Simple::is_head) || !resources.iter().all(fits) {
            return false;
        }
        for action in actions {
            // Refused above.
            if matches!(action, Simple::Affix(..)) {
                continue;
            }
            for resource in resources {
                // The forms are copied once, into the map, which gives each entry its home
                // when the index is built.
                let entry = match self.by_forms.entry((action.clone(), resource.clone())) {
                    Slot::Occupied(found) => *found.get(),
                    Slot::Vacant(slot) => {
                        let e = self.entries.len() as u32;
                        self.entries.push(Vec::new());
                        *slot.insert(e)
                    }
                };
                if let Some(rules) = self.entries.get_mut(entry as usize)
                    && rules.last().is_none_or(|(r, _)| *r != rule)
                {
                    rules.push((rule, band));
                }
            }
        }
        true
    }

    /// Builds the index for `classes` confidence classes (1 for a HITL stage).
    pub(crate) fn build(self, classes: u32) -> Index {
        let IndexBuilder {
            entries: entry_rules,
            by_forms,
        } = self;
        // Each entry's home and resource form, by entry, moved out of the map.
        let mut homes: Vec<Option<(Home, Simple)>> = (0..entry_rules.len()).map(|_| None).collect();
        for ((action, resource), e) in by_forms {
            let home = match (action, &resource) {
                (Simple::Exact(a), Simple::Exact(_)) => Home::Pair(a),
                (Simple::Exact(a), _) => Home::Action(a),
                (Simple::Prefix(p), _) if p.is_empty() => Home::AnyAction,
                (Simple::Prefix(p), _) => Home::ActionPrefix(p),
                (Simple::Affix(..), _) => continue,
            };
            if let Some(slot) = homes.get_mut(e as usize) {
                *slot = Some((home, resource));
            }
        }
        let mut table = KeyTableBuilder::default();
        let mut entries = Vec::with_capacity(entry_rules.len());
        let mut runs = Vec::new();
        let mut answers = Vec::with_capacity(entry_rules.len());
        let mut first_rules = Vec::with_capacity(entry_rules.len());
        for rules in &entry_rules {
            let start = runs.len();
            band_runs(rules, &mut runs);
            let first_rule = rules.first().map_or(NONE, |(r, _)| *r);
            // One run from class 0 with a rule: the answer is that rule, with nothing to look up.
            let direct = match runs.get(start..) {
                Some([only]) if only.class == 0 && only.rule < DIRECT => Some(only.rule | DIRECT),
                _ => None,
            };
            let dense = direct.is_none() && classes <= DENSE_CLASSES;
            if dense {
                let sparse: Vec<Run> = runs.drain(start..).collect();
                for class in 0..classes {
                    let i = sparse.partition_point(|r| r.class <= class);
                    let rule = i
                        .checked_sub(1)
                        .and_then(|i| sparse.get(i))
                        .map_or(NONE, |r| r.rule);
                    runs.push(Run { class, rule });
                }
            }
            answers.push(direct.unwrap_or(entries.len() as u32));
            first_rules.push(first_rule);
            entries.push(Entry {
                runs_start: start as u32,
                runs_len: (runs.len() - start) as u32,
                dense,
            });
        }

        let mut pair_min = NONE;
        let mut action_min = NONE;
        let mut prefix_min = NONE;
        // Bucket lists, by home; then laid out flat.
        let mut lists: Vec<(&Home, Vec<Listed<'_>>)> = Vec::new();
        let mut list_of: HashMap<&Home, usize, FastHash> = HashMap::default();
        for (e, (home, resource)) in homes
            .iter()
            .enumerate()
            .filter_map(|(e, h)| h.as_ref().map(|h| (e, h)))
        {
            let (answer, first_rule) = (
                answers.get(e).copied().unwrap_or(NONE),
                first_rules.get(e).copied().unwrap_or(NONE),
            );
            match home {
                Home::Pair(action) => {
                    let Simple::Exact(resource) = resource else {
                        continue;
                    };
                    table.insert(NS_PAIR, &[action.as_bytes(), resource.as_bytes()], answer);
                    pair_min = pair_min.min(first_rule);
                    continue;
                }
                Home::Action(_) => action_min = action_min.min(first_rule),
                Home::ActionPrefix(_) => prefix_min = prefix_min.min(first_rule),
                Home::AnyAction => {}
            }
            let next = lists.len();
            let i = *list_of.entry(home).or_insert(next);
            if i == next {
                lists.push((home, Vec::new()));
            }
            if let Some((_, list)) = lists.get_mut(i) {
                list.push((first_rule, answer, resource));
            }
        }

        let mut arena = Vec::new();
        let mut bucket_entries: Vec<BucketEntry> = Vec::new();
        let mut bigs = Vec::new();
        let mut prefix_buckets = Vec::new();
        let mut prefix_screen = EndScreen { bits: [0; 64] };
        let mut any_bucket = None;
        let mut next_ns = NS_BUCKETS;
        for (home, mut list) in lists {
            list.sort_by_key(|(first_rule, _, _)| *first_rule);
            let first = bucket_entries.len() as u32;
            let min_rule = list.first().map_or(NONE, |(r, _, _)| *r);
            let entry = |first_rule: u32, answer: u32, form: &Simple, arena: &mut Vec<u8>| {
                let (kind, text, split) = match form {
                    Simple::Exact(r) => (Kind::Exact, r.clone(), 0),
                    Simple::Prefix(p) => (Kind::Prefix, p.clone(), 0),
                    Simple::Affix(head, tail) => (
                        Kind::Affix,
                        format!("{head}{tail}"),
                        u16::try_from(head.len()).unwrap_or(u16::MAX),
                    ),
                };
                BucketEntry {
                    first_rule,
                    answer,
                    count: 0,
                    big: NONE,
                    kind,
                    split,
                    resource: Inline::new(text.as_bytes(), arena),
                }
            };
            if list.len() <= SCAN_LIMIT {
                for (first_rule, answer, form) in &list {
                    bucket_entries.push(entry(*first_rule, *answer, form, &mut arena));
                }
            } else {
                let mut big = BigBucket {
                    ns_exact: next_ns,
                    ns_prefix: next_ns + 1,
                    ns_affix: next_ns + 2,
                    prefix_lengths: Vec::new(),
                    affix_lengths: Vec::new(),
                };
                next_ns += 3;
                bucket_entries.push(BucketEntry {
                    first_rule: min_rule,
                    answer: NONE,
                    count: 0,
                    big: bigs.len() as u32,
                    kind: Kind::Head,
                    split: 0,
                    resource: Inline::new(b"", &mut arena),
                });
                let mut lengths = Vec::new();
                let mut affix_lengths = Vec::new();
                for (first_rule, answer, form) in &list {
                    match form {
                        Simple::Exact(r) => table.insert(big.ns_exact, &[r.as_bytes()], *answer),
                        Simple::Prefix(p) if p.is_empty() => {
                            bucket_entries.push(entry(*first_rule, *answer, form, &mut arena))
                        }
                        Simple::Prefix(p) => {
                            table.insert(big.ns_prefix, &[p.as_bytes()], *answer);
                            lengths.push((p.len(), *first_rule));
                        }
                        Simple::Affix(head, tail) => {
                            table.insert(
                                big.ns_affix,
                                &[head.as_bytes(), tail.as_bytes()],
                                *answer,
                            );
                            affix_lengths.push(((head.len(), tail.len()), *first_rule));
                        }
                    }
                }
                big.prefix_lengths = lowest_per_length(lengths);
                big.affix_lengths = lowest_per_length(affix_lengths);
                bigs.push(big);
            }
            let count = bucket_entries.len() as u32 - first;
            if let Some(head) = bucket_entries.get_mut(first as usize) {
                head.count = count;
            }
            match home {
                Home::Action(a) => table.insert(NS_ACTION, &[a.as_bytes()], first),
                Home::ActionPrefix(p) => {
                    table.insert(NS_ACTION_PREFIX, &[p.as_bytes()], first);
                    prefix_buckets.push((p.len(), min_rule));
                    prefix_screen.add(p.as_bytes());
                }
                Home::AnyAction => any_bucket = Some(first),
                Home::Pair(_) => {}
            }
        }

        Index {
            table: table.build(),
            entries,
            runs,
            bucket_entries,
            arena,
            bigs,
            pair_min,
            action_min,
            prefix_min,
            action_prefix_lengths: lowest_per_length(prefix_buckets),
            any_bucket,
            prefix_screen,
        }
    }
}

/// Each distinct length once, ascending, with the lowest rule given for it.
fn lowest_per_length<L: Ord + Copy>(mut lengths: Vec<(L, u32)>) -> Vec<(L, u32)> {
    lengths.sort_unstable();
    lengths.dedup_by_key(|(len, _)| *len);
    lengths
}

/// Appends the runs of an entry: for each class from 0, the lowest rule whose range holds it
/// (`NONE` where none does), with equal neighbours merged. `rules` is in ascending order.
fn band_runs(rules: &[(u32, ClassRange)], out: &mut Vec<Run>) {
    let start = out.len();
    let push = |out: &mut Vec<Run>, class: u32, rule: u32| {
        if out.len() > start && out.last().is_some_and(|r| r.rule == rule) {
            return;
        }
        out.push(Run { class, rule });
    };
    // Sweep the class line: at each range start, add; the active rule is the lowest whose
    // range is still open.
    let mut starts: Vec<(u32, u32, u32)> = rules
        .iter()
        .map(|&(rule, (lo, hi))| (lo, rule, hi))
        .collect();
    starts.sort_unstable();
    let mut cuts: Vec<u32> = rules
        .iter()
        .flat_map(|&(_, (lo, hi))| [lo, hi.saturating_add(1)])
        .collect();
    cuts.push(0);
    cuts.sort_unstable();
    cuts.dedup();
    let mut active: BinaryHeap<Reverse<(u32, u32)>> = BinaryHeap::new();
    let mut next = 0;
    for &cut in &cuts {
        while let Some(&(lo, rule, hi)) = starts.get(next)
            && lo <= cut
        {
            active.push(Reverse((rule, hi)));
            next += 1;
        }
        while active.peek().is_some_and(|Reverse((_, hi))| *hi < cut) {
            active.pop();
        }
        push(
            out,
            cut,
            active.peek().map_or(NONE, |Reverse((rule, _))| *rule),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Policy, Request};
    use proptest::prelude::*;

    /// Resource globs of every form the index holds, made of few characters so that they
    /// overlap: exact, prefix, and a start and an end (`*/e`, `a*b`, `ab*ba`).
    fn resource_glob() -> impl Strategy<Value = String> {
        let text = || proptest::string::string_regex("[ab/]{0,3}").unwrap();
        prop_oneof![
            text(),
            text().prop_map(|t| format!("{t}*")),
            (
                text(),
                proptest::string::string_regex("[ab/]{1,3}").unwrap()
            )
                .prop_map(|(h, t)| format!("{h}*{t}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Buckets small enough to scan and big enough to be indexed again (more than
        /// `SCAN_LIMIT` resource forms for one action) decide as the reference does, for
        /// every kind of resource form.
        #[test]
        fn every_resource_form_decides_as_the_reference(
            rules in proptest::collection::vec(
                (prop_oneof![Just("act"), Just("act*"), Just("*")], resource_glob()),
                1..40,
            ),
            resources in proptest::collection::vec(
                proptest::string::string_regex("[ab/]{0,7}").unwrap(),
                1..40,
            ),
        ) {
            let mut yaml = String::from("version: 1\nhitl:\n  rules:\n");
            for (action, resource) in &rules {
                yaml.push_str(&format!(
                    "    - action: \"{action}\"\n      resource: \"{resource}\"\n      requireApproval: false\n"
                ));
            }
            let policy = Policy::from_yaml_str(&yaml, "forms.yaml").unwrap();
            let compiled = policy.compile();
            for resource in &resources {
                for action in ["act", "actx", "other"] {
                    let request = Request::new(action).resource(resource.as_str());
                    prop_assert_eq!(
                        compiled.decide(&request).ok(),
                        policy.decide(&request).ok(),
                        "{} on {}", action, resource
                    );
                }
            }
        }
    }

    fn runs(rules: &[(u32, ClassRange)]) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        band_runs(rules, &mut out);
        out.into_iter().map(|r| (r.class, r.rule)).collect()
    }

    #[test]
    fn band_runs_give_the_lowest_rule_per_class() {
        assert_eq!(runs(&[(4, (0, 0))]), vec![(0, 4), (1, NONE)]);
        assert_eq!(
            runs(&[(1, (2, 5)), (3, (0, 9))]),
            vec![(0, 3), (2, 1), (6, 3), (10, NONE)]
        );
        assert_eq!(
            runs(&[(1, (0, 3)), (2, (4, 7))]),
            vec![(0, 1), (4, 2), (8, NONE)]
        );
        assert_eq!(
            runs(&[(0, (3, 3)), (7, (0, u32::MAX))]),
            vec![(0, 7), (3, 0), (4, 7)]
        );
    }
}
