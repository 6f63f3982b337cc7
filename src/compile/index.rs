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
//! A bucket holds its entries by resource form: a few are scanned (a comparison each); many
//! are indexed again, by exact resource and by resource prefix, in the same table.
//!
//! Every bucket and every kind of lookup knows the lowest rule it can yield, so a search
//! skips whatever cannot beat the best rule found so far. Lookups stay a handful whatever the
//! number of rules.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::confidence::ClassRange;
use super::pattern::Simple;
use super::table::{FastHash, KeyTable, KeyTableBuilder, Prefixes};

/// No rule.
pub(crate) const NONE: u32 = u32::MAX;

/// Buckets with more entries than this get their own lookups instead of a scan.
const SCAN_LIMIT: usize = 8;

const NS_PAIR: u32 = 0;
const NS_ACTION: u32 = 1;
const NS_ACTION_PREFIX: u32 = 2;
/// Big bucket `k` looks up exact resources in `NS_BUCKETS + 2k` and prefixes in the next.
const NS_BUCKETS: u32 = 3;

#[derive(Debug, Clone, Copy)]
struct Run {
    /// The first class of the run.
    class: u32,
    rule: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    first_rule: u32,
    runs_start: u32,
    runs_len: u32,
}

#[derive(Debug, Clone)]
struct BucketEntry {
    resource: Simple,
    entry: u32,
    first_rule: u32,
}

#[derive(Debug, Clone)]
struct Bucket {
    min_rule: u32,
    /// Sorted by first rule. Scanned when there are few; otherwise only the `""` prefix
    /// entries are kept here and the rest are looked up.
    entries: Vec<BucketEntry>,
    big: Option<BigBucket>,
}

#[derive(Debug, Clone)]
struct BigBucket {
    ns_exact: u32,
    ns_prefix: u32,
    /// Each prefix length, with the lowest rule of the entries of that length.
    prefix_lengths: Vec<(usize, u32)>,
}

/// The searchable index of one stage.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    table: KeyTable,
    entries: Vec<Entry>,
    runs: Vec<Run>,
    buckets: Vec<Bucket>,
    /// The lowest rule each kind of lookup can yield (`NONE` when it has nothing).
    pair_min: u32,
    action_min: u32,
    prefix_min: u32,
    /// Each action prefix length, with the lowest rule of the buckets of that length.
    action_prefix_lengths: Vec<(usize, u32)>,
    any_bucket: Option<u32>,
}

impl Index {
    /// The lowest rule whose forms match and whose band holds `class`, or [`NONE`].
    #[inline]
    pub(crate) fn first_match(&self, action: &[u8], resource: &[u8], class: u32) -> u32 {
        let mut best = NONE;
        if self.pair_min < best
            && let Some(e) = self.table.get(NS_PAIR, &[action, resource])
        {
            best = best.min(self.eval(e, class));
        }
        if self.action_min < best
            && let Some(b) = self.table.get(NS_ACTION, &[action])
        {
            best = self.bucket(b, resource, class, best);
        }
        if self.prefix_min < best {
            let mut hashes = Prefixes::new(NS_ACTION_PREFIX, action);
            for &(len, min_rule) in &self.action_prefix_lengths {
                let Some(h) = hashes.hash(len) else { break };
                if min_rule < best
                    && let Some(b) = self.table.get_hashed(
                        h,
                        NS_ACTION_PREFIX,
                        &[action.get(..len).unwrap_or_default()],
                    )
                {
                    best = self.bucket(b, resource, class, best);
                }
            }
        }
        if let Some(b) = self.any_bucket {
            best = self.bucket(b, resource, class, best);
        }
        best
    }

    /// The lowest rule of an entry at a class.
    #[inline]
    fn eval(&self, entry: u32, class: u32) -> u32 {
        let Some(e) = self.entries.get(entry as usize) else {
            return NONE;
        };
        let start = e.runs_start as usize;
        let Some(runs) = self.runs.get(start..start + e.runs_len as usize) else {
            return NONE;
        };
        if let [only] = runs {
            return if only.class <= class { only.rule } else { NONE };
        }
        let i = runs.partition_point(|r| r.class <= class);
        i.checked_sub(1)
            .and_then(|i| runs.get(i))
            .map_or(NONE, |r| r.rule)
    }

    fn bucket(&self, b: u32, resource: &[u8], class: u32, mut best: u32) -> u32 {
        let Some(bucket) = self.buckets.get(b as usize) else {
            return best;
        };
        if bucket.min_rule >= best {
            return best;
        }
        for e in &bucket.entries {
            if e.first_rule >= best {
                break;
            }
            if e.resource.matches(resource) {
                best = best.min(self.eval(e.entry, class));
            }
        }
        if let Some(big) = &bucket.big {
            if let Some(e) = self.table.get(big.ns_exact, &[resource]) {
                best = best.min(self.eval(e, class));
            }
            let mut hashes = Prefixes::new(big.ns_prefix, resource);
            for &(len, min_rule) in &big.prefix_lengths {
                let Some(h) = hashes.hash(len) else { break };
                if min_rule < best
                    && let Some(e) = self.table.get_hashed(
                        h,
                        big.ns_prefix,
                        &[resource.get(..len).unwrap_or_default()],
                    )
                {
                    best = best.min(self.eval(e, class));
                }
            }
        }
        best
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let bucket_bytes: usize = self
            .buckets
            .iter()
            .map(|b| {
                b.entries.capacity() * size_of::<BucketEntry>()
                    + b.entries
                        .iter()
                        .map(|e| e.resource.text().len())
                        .sum::<usize>()
                    + b.big.as_ref().map_or(0, |big| {
                        big.prefix_lengths.capacity() * size_of::<(usize, u32)>()
                    })
            })
            .sum();
        self.table.heap_bytes()
            + self.entries.capacity() * size_of::<Entry>()
            + self.runs.capacity() * size_of::<Run>()
            + self.buckets.capacity() * size_of::<Bucket>()
            + bucket_bytes
            + self.action_prefix_lengths.capacity() * size_of::<(usize, u32)>()
    }
}

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
    by_forms: HashMap<(Simple, Simple), u32, FastHash>,
    homes: Vec<(Home, Simple)>,
}

impl IndexBuilder {
    /// Adds rule `rule` for every pair of its forms; rules must come in ascending order.
    pub(crate) fn add(
        &mut self,
        rule: u32,
        actions: &[Simple],
        resources: &[Simple],
        band: ClassRange,
    ) {
        for action in actions {
            for resource in resources {
                let key = (action.clone(), resource.clone());
                let entry = match self.by_forms.get(&key) {
                    Some(&e) => e,
                    None => {
                        let e = self.entries.len() as u32;
                        self.entries.push(Vec::new());
                        let home = match (action, resource) {
                            (Simple::Exact(a), Simple::Exact(_)) => Home::Pair(a.clone()),
                            (Simple::Exact(a), _) => Home::Action(a.clone()),
                            (Simple::Prefix(p), _) if p.is_empty() => Home::AnyAction,
                            (Simple::Prefix(p), _) => Home::ActionPrefix(p.clone()),
                        };
                        self.homes.push((home, resource.clone()));
                        self.by_forms.insert(key.clone(), e);
                        e
                    }
                };
                if let Some(rules) = self.entries.get_mut(entry as usize)
                    && rules.last().is_none_or(|(r, _)| *r != rule)
                {
                    rules.push((rule, band));
                }
            }
        }
    }

    pub(crate) fn build(self) -> Index {
        let mut table = KeyTableBuilder::default();
        let mut entries = Vec::with_capacity(self.entries.len());
        let mut runs = Vec::new();
        for rules in &self.entries {
            let start = runs.len() as u32;
            band_runs(rules, &mut runs);
            entries.push(Entry {
                first_rule: rules.first().map_or(NONE, |(r, _)| *r),
                runs_start: start,
                runs_len: runs.len() as u32 - start,
            });
        }

        let mut pair_min = NONE;
        let mut action_min = NONE;
        let mut prefix_min = NONE;
        // (length, bucket) of each action prefix bucket.
        let mut prefix_buckets = Vec::new();
        let mut bucket_entries: Vec<Vec<BucketEntry>> = Vec::new();
        let mut any_bucket = None;
        let mut bucket_of: HashMap<&Home, u32, FastHash> = HashMap::default();
        for ((home, resource), (e, entry)) in self.homes.iter().zip(entries.iter().enumerate()) {
            let e = e as u32;
            if let Home::Pair(action) = home {
                table.insert(NS_PAIR, &[action.as_bytes(), resource.text().as_bytes()], e);
                pair_min = pair_min.min(entry.first_rule);
                continue;
            }
            let next = bucket_entries.len() as u32;
            let b = *bucket_of.entry(home).or_insert(next);
            if b == next {
                bucket_entries.push(Vec::new());
                match home {
                    Home::Action(a) => table.insert(NS_ACTION, &[a.as_bytes()], b),
                    Home::ActionPrefix(p) => {
                        table.insert(NS_ACTION_PREFIX, &[p.as_bytes()], b);
                        prefix_buckets.push((p.len(), b));
                    }
                    Home::AnyAction => any_bucket = Some(b),
                    Home::Pair(_) => {}
                }
            }
            match home {
                Home::Action(_) => action_min = action_min.min(entry.first_rule),
                Home::ActionPrefix(_) => prefix_min = prefix_min.min(entry.first_rule),
                _ => {}
            }
            if let Some(list) = bucket_entries.get_mut(b as usize) {
                list.push(BucketEntry {
                    resource: resource.clone(),
                    entry: e,
                    first_rule: entry.first_rule,
                });
            }
        }

        let mut next_ns = NS_BUCKETS;
        let buckets: Vec<Bucket> = bucket_entries
            .into_iter()
            .map(|mut list| {
                list.sort_by_key(|e| e.first_rule);
                let min_rule = list.first().map_or(NONE, |e| e.first_rule);
                if list.len() <= SCAN_LIMIT {
                    return Bucket {
                        min_rule,
                        entries: list,
                        big: None,
                    };
                }
                let mut big = BigBucket {
                    ns_exact: next_ns,
                    ns_prefix: next_ns + 1,
                    prefix_lengths: Vec::new(),
                };
                next_ns += 2;
                let mut scanned = Vec::new();
                let mut lengths = Vec::new();
                for e in list {
                    match &e.resource {
                        Simple::Exact(r) => table.insert(big.ns_exact, &[r.as_bytes()], e.entry),
                        Simple::Prefix(p) if p.is_empty() => scanned.push(e),
                        Simple::Prefix(p) => {
                            table.insert(big.ns_prefix, &[p.as_bytes()], e.entry);
                            lengths.push((p.len(), e.first_rule));
                        }
                    }
                }
                big.prefix_lengths = lowest_per_length(lengths);
                Bucket {
                    min_rule,
                    entries: scanned,
                    big: Some(big),
                }
            })
            .collect();
        let action_prefix_lengths = lowest_per_length(
            prefix_buckets
                .into_iter()
                .map(|(len, b)| (len, buckets.get(b as usize).map_or(NONE, |b| b.min_rule)))
                .collect(),
        );

        Index {
            table: table.build(),
            entries,
            runs,
            buckets,
            pair_min,
            action_min,
            prefix_min,
            action_prefix_lengths,
            any_bucket,
        }
    }
}

/// Each distinct length once, ascending, with the lowest rule given for it.
fn lowest_per_length(mut lengths: Vec<(usize, u32)>) -> Vec<(usize, u32)> {
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
