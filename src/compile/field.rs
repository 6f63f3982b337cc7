//! One field (the action, or the resource) of a stage's complex rules: which rules' globs
//! may match a text, and whether one does, in time bounded by the text's length and the
//! policy's size, never by their product.
//!
//! Every glob is a list of [forms](super::segment), each of segments between stars. Distinct
//! segments, and the longest literal run of each (its *anchor*), are stored once for the
//! whole field, however many rules share them (`y` and `z` in `*x1*y*z*`, `*x2*y*z*`, ...).
//! Deciding a text takes three steps:
//!
//! 1. One Aho-Corasick search over the text logs, at each place where anchors end, the
//!    automaton's state, whose longest anchor and its chain of suffixes end there. The
//!    anchors seen, and each one's first and last end, follow from the states reached; a
//!    list of every occurrence of every anchor (overlapping ones included) is made only when
//!    a search needs more. When the keys' bounds (see [`KeyGroup`]) are few and every
//!    segment of their chains has an anchor, those chains are placed first, searching
//!    backwards with `memchr` ([`FieldSet::horizon`]), and the automaton reads the text only
//!    up to the latest bound: after it no key makes a candidate, and no verification asks
//!    for an occurrence there. Keys before a tail that comes first in the text cost nothing.
//! 2. Each form has a *key*: its rarest anchor. A rule is a candidate when the key of one of
//!    its forms occurs, early enough for the chain after the key's segment (see
//!    [`KeyGroup`]), or one of its forms has no anchor at all. The action's candidates
//!    become a bitset. The resource is asked rule by rule, for the rules whose action
//!    matched: the first ones directly, without step 1, each form's segments placed
//!    leftmost by `memchr` within a budget of about two readings of the text
//!    ([`FieldSet::rule_matches_directly`]); past the budget, after step 1, whether a key
//!    occurs ([`FieldSet::may_match`]), then step 3.
//! 3. A candidate's form is checked from its last segment backwards. For the chain of
//!    segments from `i` to the end, let `latest(i)` be the latest start at which that chain
//!    can be placed: the last segment sits at the end, and `latest(i)` is the latest
//!    occurrence of segment `i` ending by `latest(i + 1)`. The form matches when its first
//!    segment matches at the start and ends by `latest(1)`. Taking the latest place is never
//!    wrong: a star before a segment can take anything before it. Chains are stored as a
//!    trie from the end, so forms sharing a tail (`*y*z*`) share its `latest`, computed once
//!    per text. Each `latest` is one binary search in the segment's sorted occurrences.
//!
//! Occurrences of a segment with `?` or classes are its anchor's occurrences that the rest
//! of the segment fits around, computed when first needed; a segment with no literal at all
//! is tried at every byte that can start a character its first item accepts. Everything
//! per text lives in a [`FieldScratch`], reset by
//! stamping rather than clearing, so a decision allocates nothing once the scratch has grown.

use std::collections::HashMap;

use super::anchors::{Anchors, Runs, end_of};
use super::segment::{Form, Segment};
use super::table::FastHash;

const NONE: u32 = u32::MAX;
/// A text is read for presence only (see [`FieldSet::scan`]) when the automaton has at most
/// this many states per byte read: sweeping its states' marks (a power of two of them),
/// eight a step, then costs at most four steps a byte.
const PRESENCE_STATES_PER_BYTE: usize = 16;
/// The most distinct key bounds for which `mark` computes them all first.
const FEW_BOUNDS: usize = 8;
/// No position: the segment or chain has no place in the text.
const NO: usize = usize::MAX;
/// In `FieldSet::simple`: the anchor keys no group (a rule number no rule has).
const SIMPLE_NONE: u64 = NONE as u64;
/// In `FieldSet::simple`: the anchor keys several groups, or a group of several rules.
const SIMPLE_MORE: u64 = u64::MAX;
/// The length of `mark`'s table of bounds: room for [`FEW_BOUNDS`] and the slot of groups
/// without one, rounded up to a power of two so that a masked slot needs no bounds check.
const BY_SLOTS: usize = (FEW_BOUNDS + 1).next_power_of_two();
/// In `mark`'s table of bounds: not looked up yet.
const UNKNOWN: usize = usize::MAX - 1;
/// In `mark`'s table of bounds: no bound, every key is in time.
const IN_TIME: usize = usize::MAX - 2;

#[derive(Debug, Clone)]
struct SegmentInfo {
    segment: Segment,
    /// The anchor's number, or `NONE` for a segment without literal characters.
    anchor: u32,
    /// Characters before the anchor.
    before: usize,
    anchor_len: usize,
    /// The segment is its anchor: its occurrences are the anchor's.
    literal: bool,
    /// The anchor's bytes (empty without one), for the search without the automaton.
    anchor_bytes: Box<[u8]>,
    /// For a segment without an anchor, the bytes its occurrences can start with
    /// ([`Segment::first_bytes`]): it is tried only there.
    first_bytes: [u64; 4],
}

#[derive(Debug, Clone, Copy)]
enum FormRef {
    /// No star: the segment is the whole text.
    Exact(u32),
    /// The first segment at the start, then the chain from the second to the last.
    Starred { head: u32, tail: u32 },
    /// A star first (`*x*`): only the chain from the second segment to the last.
    Floating { tail: u32 },
}

/// A chain of segments to the end of the text: a segment, then the chain after it
/// (`NONE`: the segment is the last, anchored at the end).
#[derive(Debug, Clone, Copy)]
struct Node {
    segment: u32,
    parent: u32,
}

/// Rules with a form keyed by one anchor whose segment is followed by one chain, the
/// *bound*: such a form can match only if its key ends by the chain's latest start (a match
/// places the segment, and so the anchor, before the chain). Checking that once for the
/// group, with the anchor's first end, spares verifying each rule when the key comes too
/// late (`*x1*y*z*`, ..., on `x1x2...yz` are all candidates; on `zyx1x2...`, none).
#[derive(Debug, Clone, Copy)]
struct KeyGroup {
    /// The chain after the key's segment, or `NONE` (the key's segment is the last, or the
    /// only one).
    bound: u32,
    /// The group's rules: `group_rules[start..end]`.
    start: u32,
    end: u32,
    /// The first of them, read without going to `group_rules`.
    first: u32,
    /// The bound's place in `FieldSet::bound_slots` (`FEW_BOUNDS` without a bound), when
    /// that is known.
    slot: u32,
}

/// The complex globs of one field of one stage; rules are numbered from 0 in rule order.
#[derive(Debug, Clone)]
pub(crate) struct FieldSet {
    segments: Vec<SegmentInfo>,
    searcher: Option<Anchors>,
    anchors: usize,
    forms: Vec<FormRef>,
    nodes: Vec<Node>,
    /// Each rule's forms, as a range of `forms`.
    rule_forms: Vec<(u32, u32)>,
    /// Each form's key, or `NONE` for a form without an anchor.
    form_keys: Vec<u32>,
    /// For each anchor, its key groups: `groups[key_groups[a].0..key_groups[a].1]`.
    key_groups: Vec<(u32, u32)>,
    groups: Vec<KeyGroup>,
    /// The rules of the groups, each group's ascending.
    group_rules: Vec<u32>,
    /// Rules with a form that has no anchor: candidates whatever the text.
    unkeyed: Vec<u64>,
    /// The distinct bounds of the key groups, when every group has one and they are few
    /// (at most [`FEW_BOUNDS`]): then a key that ends after the latest of them makes no
    /// candidate, and `mark` stops at the first such in `seen` (which is in the order of
    /// first ends).
    bounds: Option<Vec<u32>>,
    /// Per anchor, when it keys one group of one rule (the usual case: a rule's own literal),
    /// that rule in the low half and its group's `slot` in the high half, or [`SIMPLE_NONE`]
    /// when it keys no group; else [`SIMPLE_MORE`], and `mark` walks its groups.
    simple: Vec<u64>,
    /// The distinct bounds of the key groups that have one, when they are few (at most
    /// [`FEW_BOUNDS`]): then `mark` keeps each one's latest start in a small array, looked
    /// up by the group's `slot`, and reads each seen key's groups without a call.
    bound_slots: Option<Vec<u32>>,
    /// When `bounds` is known and every segment of their chains has an anchor (the last
    /// one aside, compared at the end): what one byte costs, at most, to place those chains
    /// without the search of step 1, a step per byte searched backwards and one per
    /// character compared at each anchor met, summed over their distinct links. Then a
    /// text is searched by the automaton only up to the latest bound's start (see
    /// [`FieldSet::scan`]).
    horizon: Option<u64>,
    /// Rules whose glob matches every text (`*`): never verified.
    any: Vec<u64>,
    /// Whether some key group has a bound: then marking may need each key's first end.
    bounded: bool,
    /// What one byte of text can cost at most (see [`FieldSet::byte_weight`]).
    byte_weight: usize,
}

/// Collects the globs of a field, rule by rule.
#[derive(Debug, Default)]
pub(crate) struct FieldSetBuilder {
    segments: Vec<SegmentInfo>,
    segment_ids: HashMap<Segment, u32, FastHash>,
    anchors: Vec<String>,
    anchor_ids: HashMap<String, u32, FastHash>,
    nodes: Vec<Node>,
    node_ids: HashMap<(u32, u32), u32, FastHash>,
    forms: Vec<FormRef>,
    /// Each form's anchors (for choosing its key), each with the chain that follows its
    /// segment (see [`KeyGroup`]), in the order of the form's segments; and its rule.
    form_anchors: Vec<(Vec<(u32, u32)>, u32)>,
    /// Whether each form has a segment without literal characters.
    form_free: Vec<bool>,
    rule_forms: Vec<(u32, u32)>,
    any: Vec<u32>,
}

impl FieldSetBuilder {
    /// Adds the next rule's glob, as its forms; `any` when the glob is `*`.
    pub(crate) fn add(&mut self, forms: &[Form], any: bool) {
        let rule = self.rule_forms.len() as u32;
        if any {
            self.any.push(rule);
        }
        let start = self.forms.len() as u32;
        for form in forms {
            let ids: Vec<u32> = form.segments.iter().map(|s| self.segment(s)).collect();
            let anchor_of = |b: &Self, id: u32| {
                b.segments
                    .get(id as usize)
                    .map_or(NONE, |s: &SegmentInfo| s.anchor)
            };
            // (anchor, chain after its segment), the last segment first.
            let mut anchors: Vec<(u32, u32)> = Vec::new();
            let form = match ids.as_slice() {
                [] => continue,
                [only] => {
                    anchors.push((anchor_of(self, *only), NONE));
                    FormRef::Exact(*only)
                }
                [head, rest @ ..] => {
                    let mut tail = NONE;
                    for &segment in rest.iter().rev() {
                        anchors.push((anchor_of(self, segment), tail));
                        tail = self.node(segment, tail);
                    }
                    anchors.push((anchor_of(self, *head), tail));
                    match self.segments.get(*head as usize) {
                        Some(s) if s.segment.items.is_empty() => FormRef::Floating { tail },
                        _ => FormRef::Starred { head: *head, tail },
                    }
                }
            };
            anchors.reverse();
            anchors.retain(|&(a, _)| a != NONE);
            let free = ids
                .iter()
                .filter_map(|&id| self.segments.get(id as usize))
                .any(|s| s.anchor == NONE && !s.segment.items.is_empty());
            self.forms.push(form);
            self.form_anchors.push((anchors, rule));
            self.form_free.push(free);
        }
        self.rule_forms.push((start, self.forms.len() as u32));
    }

    fn segment(&mut self, segment: &Segment) -> u32 {
        if let Some(&id) = self.segment_ids.get(segment) {
            return id;
        }
        let mut anchor_bytes: Box<[u8]> = Box::default();
        let (anchor, before, anchor_len) = match segment.anchor() {
            Some(a) => {
                let len = a.text.len();
                anchor_bytes = a.text.as_bytes().into();
                let next = self.anchors.len() as u32;
                let id = *self.anchor_ids.entry(a.text.clone()).or_insert(next);
                if id == next {
                    self.anchors.push(a.text);
                }
                (id, a.before, len)
            }
            None => (NONE, 0, 0),
        };
        let id = self.segments.len() as u32;
        self.segments.push(SegmentInfo {
            literal: anchor != NONE && segment.is_literal(),
            segment: segment.clone(),
            first_bytes: if anchor == NONE {
                segment.first_bytes()
            } else {
                [0; 4]
            },
            anchor,
            before,
            anchor_len,
            anchor_bytes,
        });
        self.segment_ids.insert(segment.clone(), id);
        id
    }

    fn node(&mut self, segment: u32, parent: u32) -> u32 {
        let next = self.nodes.len() as u32;
        let id = *self.node_ids.entry((segment, parent)).or_insert(next);
        if id == next {
            self.nodes.push(Node { segment, parent });
        }
        id
    }

    /// Builds the field, with the rules (ascending) to blame when one byte of text can cost
    /// more than `max_byte_weight` steps: those whose anchors end where the heaviest chain
    /// ends, and those with segments tried at every character.
    pub(crate) fn build(self, max_byte_weight: usize) -> (FieldSet, Vec<u32>) {
        let rules = self.rule_forms.len();
        let words = rules.div_ceil(64);
        // How many forms use each anchor: a form's key is its rarest.
        let mut uses = vec![0usize; self.anchors.len()];
        for (anchors, _) in &self.form_anchors {
            let mut distinct: Vec<u32> = anchors.iter().map(|&(a, _)| a).collect();
            distinct.sort_unstable();
            distinct.dedup();
            for a in distinct {
                if let Some(u) = uses.get_mut(a as usize) {
                    *u += 1;
                }
            }
        }
        // (bound, rule) per key, rules ascending as the forms come.
        let mut keyed: Vec<Vec<(u32, u32)>> = vec![Vec::new(); self.anchors.len()];
        let mut unkeyed = vec![0u64; words];
        let mut form_keys = Vec::with_capacity(self.form_anchors.len());
        for (anchors, rule) in &self.form_anchors {
            let key = anchors
                .iter()
                .map(|&(a, _)| a)
                .min_by_key(|&a| (uses.get(a as usize).copied().unwrap_or(0), a));
            // The key's earliest segment: its bound is the longest chain, the tightest.
            let bound = anchors
                .iter()
                .find(|&&(a, _)| Some(a) == key)
                .map_or(NONE, |&(_, b)| b);
            // A trailing star alone starts at the end: it bounds nothing.
            let bound = match self.nodes.get(bound as usize) {
                Some(n)
                    if n.parent == NONE
                        && self
                            .segments
                            .get(n.segment as usize)
                            .is_some_and(|s| s.segment.items.is_empty()) =>
                {
                    NONE
                }
                _ => bound,
            };
            form_keys.push(key.unwrap_or(NONE));
            match key.and_then(|k| keyed.get_mut(k as usize)) {
                Some(list) => list.push((bound, *rule)),
                None => set(&mut unkeyed, *rule as usize),
            }
        }
        let mut bounds: Vec<u32> = keyed.iter().flatten().map(|&(b, _)| b).collect();
        bounds.sort_unstable();
        bounds.dedup();
        let bound_slots: Option<Vec<u32>> = {
            let some: Vec<u32> = bounds.iter().copied().filter(|&b| b != NONE).collect();
            (some.len() <= FEW_BOUNDS).then_some(some)
        };
        let bounds = (bounds.len() <= FEW_BOUNDS && !bounds.contains(&NONE)).then_some(bounds);
        let horizon = bounds
            .as_ref()
            .and_then(|b| horizon_weight(b, &self.nodes, &self.segments));
        let mut key_groups = Vec::with_capacity(keyed.len());
        let mut groups = Vec::new();
        let mut group_rules = Vec::new();
        for mut list in keyed {
            // Stable: each bound's rules stay ascending.
            list.sort_by_key(|&(bound, _)| bound);
            let first = groups.len() as u32;
            let mut i = 0;
            while let Some(&(bound, _)) = list.get(i) {
                let start = group_rules.len() as u32;
                while let Some(&(b, rule)) = list.get(i) {
                    if b != bound {
                        break;
                    }
                    if group_rules.last() != Some(&rule) || group_rules.len() as u32 == start {
                        group_rules.push(rule);
                    }
                    i += 1;
                }
                let slot = match &bound_slots {
                    Some(slots) if bound != NONE => {
                        slots.iter().position(|&b| b == bound).unwrap_or(FEW_BOUNDS)
                    }
                    _ => FEW_BOUNDS,
                };
                groups.push(KeyGroup {
                    bound,
                    start,
                    end: group_rules.len() as u32,
                    first: group_rules.get(start as usize).copied().unwrap_or(NONE),
                    slot: slot as u32,
                });
            }
            key_groups.push((first, groups.len() as u32));
        }
        let simple = key_groups
            .iter()
            .map(|&(start, end)| {
                match groups.get(start as usize..end as usize).unwrap_or_default() {
                    [] => SIMPLE_NONE,
                    [g] if g.end == g.start + 1 => u64::from(g.first) | u64::from(g.slot) << 32,
                    _ => SIMPLE_MORE,
                }
            })
            .collect();
        let mut any = vec![0u64; words];
        for &rule in &self.any {
            set(&mut any, rule as usize);
        }
        let searcher = (!self.anchors.is_empty()).then(|| Anchors::new(&self.anchors));
        let bounded = groups.iter().any(|g| g.bound != NONE);
        let mut field = FieldSet {
            segments: self.segments,
            anchors: self.anchors.len(),
            searcher,
            forms: self.forms,
            nodes: self.nodes,
            rule_forms: self.rule_forms,
            form_keys,
            key_groups,
            groups,
            group_rules,
            unkeyed,
            bounds,
            simple,
            bound_slots,
            horizon,
            bounded,
            any,
            byte_weight: 0,
        };
        let (weight, chain) = field.compute_byte_weight();
        field.byte_weight = weight;
        let mut blamed = Vec::new();
        if weight > max_byte_weight {
            for ((anchors, rule), &free) in self.form_anchors.iter().zip(&self.form_free) {
                if free || anchors.iter().any(|(a, _)| chain.contains(a)) {
                    blamed.push(*rule);
                }
            }
            blamed.dedup();
        }
        (field, blamed)
    }
}

/// The work per byte of placing the chains `bounds` backwards (see [`FieldSet::horizon`]),
/// or `None` when one of their segments, the last aside, has no anchor to search for.
fn horizon_weight(bounds: &[u32], nodes: &[Node], segments: &[SegmentInfo]) -> Option<u64> {
    let mut links: Vec<u32> = Vec::new();
    for &bound in bounds {
        let mut node = bound;
        while let Some(&Node { segment, parent }) = nodes.get(node as usize) {
            links.push(node);
            let info = segments.get(segment as usize)?;
            if parent != NONE && info.anchor == NONE {
                return None;
            }
            node = parent;
        }
    }
    links.sort_unstable();
    links.dedup();
    links.iter().try_fold(0u64, |sum, &node| {
        let info = segments.get(nodes.get(node as usize)?.segment as usize)?;
        Some(sum + 2 + 2 * info.segment.chars() as u64)
    })
}

fn set(bits: &mut [u64], i: usize) {
    if let Some(w) = bits.get_mut(i / 64) {
        *w |= 1 << (i % 64);
    }
}

fn get(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// The per-text state of a [`FieldSet`]: each entry is valid only when its stamp is the
/// current one, so starting a new text is one increment.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldScratch {
    stamp: u32,
    /// Whether each anchor occurs in this text.
    anchor_stamp: Vec<u32>,
    /// The places where anchors end, in order, each with the automaton's state there (whose
    /// longest anchor gives the others): the `runs` of `log`, at most one entry per byte,
    /// whatever the number of anchors ending inside one another.
    log: Vec<u64>,
    runs: Runs,
    /// Whether the text last scanned was read for which anchors occur only (see
    /// [`FieldSet::scan`]): no log, and each seen anchor's first end left at 0.
    presence: bool,
    /// Per automaton state, while a text is read for presence: whether it was reached
    /// (all zero between texts).
    reached_marks: Vec<u8>,
    /// Per automaton state: whether it was reached at an end in this text, and where last;
    /// `fresh` lists them by first end, each as the log's entry there with its end counted
    /// from the text's start (or, in `fill_lasts`, by last end, backwards).
    states: Vec<u64>,
    /// Per automaton state: the stamp when `fill_lasts` listed it.
    backs: Vec<u32>,
    fresh: Vec<u64>,
    /// How many states `fresh` lists.
    reached: usize,
    /// Each seen anchor's first and last end, the fast paths of a search for its latest
    /// occurrence before a place.
    first_end: Vec<u32>,
    last_end: Vec<u32>,
    last_stamp: Vec<u32>,
    /// The stamp for which `last_end` was filled.
    lasts: u32,
    /// The stamp for which `first`, `count` and `hits` were filled.
    expanded: u32,
    /// Each seen anchor's occurrences: `hits[first[a]..first[a] + count[a]]`, ascending,
    /// filled only when a search needs more than the first and last.
    first: Vec<u32>,
    count: Vec<u32>,
    hits: Vec<usize>,
    /// The anchors found in this text.
    seen: Vec<u32>,
    /// Where `scan` lists them first: a power of two long, at least the number of
    /// anchors, written by masked index (each anchor once), then copied to `seen`.
    seen_buffer: Vec<u32>,
    occurrence_stamp: Vec<u32>,
    /// Where each non-literal segment occurs: (start, end), ascending.
    occurrences: Vec<Vec<(usize, usize)>>,
    head_stamp: Vec<u32>,
    /// Where each segment ends when it matches at the start, or `NO`.
    head: Vec<usize>,
    node_stamp: Vec<u32>,
    /// Each chain's latest start, or `NO`.
    latest: Vec<usize>,
    stack: Vec<u32>,
    /// The work done, in bytes searched, occurrences found, characters compared, binary
    /// search probes and candidate rules marked.
    pub(crate) work: u64,
    /// The places logged by the searches (see [`Anchors::log_ends`]).
    pub(crate) logged: u64,
}

/// What a text did to one state of the anchors' automaton, in `FieldScratch::states`: the
/// text's stamp when it reached the state at an end in the high half, the last end at which
/// it did in the low half (one store per log entry).
fn last_of(mark: u64) -> u32 {
    mark as u32
}

fn grow(v: &mut Vec<u32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0);
    }
}

impl FieldScratch {
    fn begin(&mut self, field: &FieldSet) {
        if self.stamp == u32::MAX {
            // Wrapped: forget everything rather than trust a stale stamp.
            for v in [
                &mut self.anchor_stamp,
                &mut self.last_stamp,
                &mut self.occurrence_stamp,
                &mut self.head_stamp,
                &mut self.node_stamp,
            ] {
                v.iter_mut().for_each(|s| *s = 0);
            }
            self.states.iter_mut().for_each(|m| *m = 0);
            self.backs.iter_mut().for_each(|b| *b = 0);
            self.stamp = 0;
            self.lasts = 0;
            self.expanded = 0;
        }
        self.stamp += 1;
        grow(&mut self.anchor_stamp, field.anchors);
        grow(&mut self.last_stamp, field.anchors);
        grow(&mut self.first_end, field.anchors);
        grow(&mut self.last_end, field.anchors);
        grow(&mut self.occurrence_stamp, field.segments.len());
        grow(&mut self.head_stamp, field.segments.len());
        grow(&mut self.node_stamp, field.nodes.len());
        grow(&mut self.first, field.anchors);
        grow(&mut self.count, field.anchors);
        if self.occurrences.len() < field.segments.len() {
            self.occurrences.resize_with(field.segments.len(), Vec::new);
        }
        if self.head.len() < field.segments.len() {
            self.head.resize(field.segments.len(), NO);
        }
        if self.latest.len() < field.nodes.len() {
            self.latest.resize(field.nodes.len(), NO);
        }
        self.seen.clear();
    }
}

impl FieldScratch {
    /// The starts of anchor `a` in the text last scanned (which must have seen it).
    #[inline]
    fn hits_of(&self, a: usize) -> &[usize] {
        let first = self.first.get(a).copied().unwrap_or(0) as usize;
        let count = self.count.get(a).copied().unwrap_or(0) as usize;
        self.hits.get(first..first + count).unwrap_or_default()
    }
}

/// The search could not run; decide another way.
#[derive(Debug)]
pub(crate) struct SearchFailed;

impl FieldSet {
    /// Rules in the field.
    pub(crate) fn rules(&self) -> usize {
        self.rule_forms.len()
    }

    /// Finds where anchors occur in `text`: step 1. The automaton logs the places where
    /// anchors end; one pass over the log, without a branch on the text, lists the states
    /// reached there in the order of their first end; the set of anchors seen, each with its
    /// first end, follows by walking each such state's chain until an anchor already seen
    /// (whose chain is seen too). `seen` is in the order of first ends.
    ///
    /// When marking needs no first ends (no key group has a bound, or every bound placed
    /// first starts at the end of what is read, or has no place), and the text is long next
    /// to the automaton, the text is read for which anchors occur only, one store a byte
    /// ([`Anchors::mark_reached`]), and the log is made only if a rule is then verified
    /// ([`FieldSet::rule_matches`]): a request that leaves no candidate in both fields, the
    /// costliest kind, is decided without it.
    pub(crate) fn scan(&self, text: &str, sc: &mut FieldScratch) -> Result<(), SearchFailed> {
        if u32::try_from(text.len()).is_err() {
            return Err(SearchFailed);
        }
        self.search(text, sc, true);
        Ok(())
    }

    /// [`FieldSet::scan`] of a text no longer than `u32::MAX` bytes, for presence only when
    /// `presence` allows it and marking needs no more.
    fn search(&self, text: &str, sc: &mut FieldScratch, presence: bool) {
        sc.begin(self);
        sc.runs = Runs::default();
        sc.presence = false;
        let Some(searcher) = &self.searcher else {
            return;
        };
        let stamp = sc.stamp;
        // With the bounds placed first, no anchor ending after the latest of them can
        // matter: no key makes a candidate there, and every other occurrence a verification
        // asks for ends before its chain's bound.
        let searched = match self.horizon {
            Some(_) => self.place_bounds(text, sc),
            None => text.len(),
        };
        let presence = presence
            && searcher.states() <= PRESENCE_STATES_PER_BYTE * searched
            && self.ends_unneeded(searched, sc);
        let text = text.get(..searched).unwrap_or(text);
        if presence {
            self.search_presence(searcher, text, sc);
            return;
        }
        let runs = searcher.log_ends(text.as_bytes(), &mut sc.log);
        sc.runs = runs;
        let n = runs.len();
        let FieldScratch {
            anchor_stamp,
            first_end,
            seen,
            seen_buffer,
            log,
            states,
            fresh,
            ..
        } = sc;
        // Both a power of two long, so that a masked index needs no bounds check: every
        // state number is below `count`, and `k` counts distinct states.
        let count = searcher.states().next_power_of_two();
        if states.len() < count {
            states.resize(count, 0);
        }
        if fresh.len() < count {
            fresh.resize(count, 0);
        }
        let mut k = 0usize;
        if let (Some(marks), Some(list)) = (states.get_mut(..count), fresh.get_mut(..count)) {
            for (run, base) in runs.slices(log) {
                k = first_visits(searcher, run, base, stamp, marks, list, k);
            }
        }
        let list = &fresh[..];
        let buffer_len = self.anchors.next_power_of_two();
        grow(seen_buffer, buffer_len);
        let found = walk_chains(
            searcher,
            list.get(..k).unwrap_or_default(),
            stamp,
            anchor_stamp,
            first_end,
            seen_buffer.get_mut(..buffer_len).unwrap_or_default(),
        );
        seen.extend_from_slice(seen_buffer.get(..found).unwrap_or_default());
        sc.reached = k;
        sc.logged += n as u64;
        sc.work += text.len() as u64 + n as u64 + sc.seen.len() as u64;
    }

    /// Whether marking the candidates of a text searched up to `searched` needs no key's
    /// first end: no group has a bound, or each bound (all placed first) has no place or
    /// starts at `searched`, after every anchor read ends.
    fn ends_unneeded(&self, searched: usize, sc: &FieldScratch) -> bool {
        if !self.bounded {
            return true;
        }
        let (Some(_), Some(bounds)) = (self.horizon, &self.bounds) else {
            return false;
        };
        bounds.iter().all(|&b| {
            let b = b as usize;
            sc.node_stamp.get(b) == Some(&sc.stamp)
                && sc.latest.get(b).is_some_and(|&l| l == NO || l == searched)
        })
    }

    /// Step 1 for presence only: the states reached, then the anchors of their chains,
    /// each with 0 for its first end. Counts a step per byte, per eight states swept and
    /// per anchor seen.
    fn search_presence(&self, searcher: &Anchors, text: &str, sc: &mut FieldScratch) {
        let len = searcher.states().next_power_of_two().max(8);
        if sc.reached_marks.len() < len {
            sc.reached_marks.resize(len, 0);
        }
        let count = searcher.states().next_power_of_two();
        if sc.fresh.len() < count {
            sc.fresh.resize(count, 0);
        }
        let FieldScratch {
            reached_marks,
            fresh,
            anchor_stamp,
            first_end,
            seen,
            seen_buffer,
            ..
        } = sc;
        let Some(marks) = reached_marks.get_mut(..len) else {
            return;
        };
        searcher.mark_reached(text.as_bytes(), marks);
        // Each reached state where an anchor ends, as a log entry of end 0; every mark is
        // cleared for the next text.
        let mut k = 0;
        for (w, chunk) in marks.chunks_exact_mut(8).enumerate() {
            let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) else {
                continue;
            };
            let mut word = u64::from_le_bytes(bytes);
            if word == 0 {
                continue;
            }
            chunk.fill(0);
            while word != 0 {
                let state = w * 8 + word.trailing_zeros() as usize / 8;
                word &= !(0xFF << (word.trailing_zeros() / 8 * 8));
                if searcher.longest(state as u32) != NONE
                    && let Some(slot) = fresh.get_mut(k)
                {
                    *slot = u64::from(searcher.entry_of(state as u32));
                    k += 1;
                }
            }
        }
        let buffer_len = self.anchors.next_power_of_two();
        grow(seen_buffer, buffer_len);
        let found = walk_chains(
            searcher,
            fresh.get(..k).unwrap_or_default(),
            sc.stamp,
            anchor_stamp,
            first_end,
            seen_buffer.get_mut(..buffer_len).unwrap_or_default(),
        );
        seen.extend_from_slice(seen_buffer.get(..found).unwrap_or_default());
        sc.reached = 0;
        sc.presence = true;
        sc.work += (text.len() + len / 8 + sc.seen.len()) as u64;
    }

    /// Fills each seen anchor's last end, once per text: the latest of the last ends of the
    /// states reached whose chain holds it. Either every reached state's chain is walked
    /// whole, or, when that would cost more than the log, the log read backwards lists the
    /// states by last end, latest first, and each one's chain is walked until an anchor
    /// already given its last (whose chain has its last too).
    fn fill_lasts(&self, sc: &mut FieldScratch) {
        let Some(searcher) = &self.searcher else {
            return;
        };
        let stamp = sc.stamp;
        if sc.lasts == stamp {
            return;
        }
        sc.lasts = stamp;
        let runs = sc.runs;
        let n = runs.len();
        grow(&mut sc.backs, sc.states.len());
        let FieldScratch {
            log,
            states,
            backs,
            fresh,
            reached,
            last_stamp,
            last_end,
            work,
            ..
        } = sc;
        let (marks, list) = (&mut states[..], &mut fresh[..]);
        let (stamps, lasts) = (&mut last_stamp[..], &mut last_end[..]);
        if reached.saturating_mul(searcher.longest_chain()) <= n {
            // Few states reached, short chains: each chain walked whole is cheaper than
            // reading the log again.
            for &entry in list.get(..*reached).unwrap_or_default() {
                let state = searcher.state_of(entry);
                let end = marks.get(state as usize).map_or(0, |&m| last_of(m));
                let mut a = searcher.longest(state);
                while let (Some(s), Some(l)) =
                    (stamps.get_mut(a as usize), lasts.get_mut(a as usize))
                {
                    *l = if *s == stamp { end.max(*l) } else { end };
                    *s = stamp;
                    *work += 1;
                    a = searcher.shorter(a);
                }
            }
            *work += *reached as u64;
            return;
        }
        let mut k = 0usize;
        for entry in runs.entries(log).rev() {
            let state = searcher.state_of(entry);
            let mut new = false;
            if let Some(b) = backs.get_mut(state as usize) {
                new = *b != stamp;
                *b = stamp;
            }
            if let Some(slot) = list.get_mut(k) {
                *slot = entry;
            }
            k += usize::from(new);
        }
        for &entry in list.get(..k).unwrap_or_default() {
            let state = searcher.state_of(entry);
            let end = marks.get(state as usize).map_or(0, |&m| last_of(m));
            let mut a = searcher.longest(state);
            while let (Some(s), Some(l)) = (stamps.get_mut(a as usize), lasts.get_mut(a as usize)) {
                if *s == stamp {
                    break;
                }
                *s = stamp;
                *l = end;
                *work += 1;
                a = searcher.shorter(a);
            }
        }
        *work += n as u64 + k as u64;
    }

    /// Lists every occurrence of every seen anchor, sorted by anchor (a counting sort over
    /// the log's chains), once per text, for the searches the fast paths do not answer.
    fn expand(&self, sc: &mut FieldScratch) {
        let Some(searcher) = &self.searcher else {
            return;
        };
        let stamp = sc.stamp;
        if sc.expanded == stamp {
            return;
        }
        sc.expanded = stamp;
        let FieldScratch {
            count,
            first,
            seen,
            hits,
            log,
            runs,
            ..
        } = sc;
        let (counts, firsts) = (&mut count[..], &mut first[..]);
        for &a in seen.iter() {
            if let Some(c) = counts.get_mut(a as usize) {
                *c = 0;
            }
        }
        let mut total = 0usize;
        for entry in runs.entries(log) {
            let mut a = searcher.longest(searcher.state_of(entry));
            while let Some(c) = counts.get_mut(a as usize) {
                *c += 1;
                total += 1;
                a = searcher.shorter(a);
            }
        }
        let mut next = 0u32;
        for &a in seen.iter() {
            if let (Some(f), Some(&c)) = (firsts.get_mut(a as usize), counts.get(a as usize)) {
                *f = next;
                next += c;
            }
        }
        hits.clear();
        hits.resize(total, 0);
        let places = &mut hits[..];
        // `first` serves as each anchor's cursor, then is moved back.
        for entry in runs.entries(log) {
            let end = end_of(entry);
            let mut a = searcher.longest(searcher.state_of(entry));
            while let Some(f) = firsts.get_mut(a as usize) {
                if let Some(h) = places.get_mut(*f as usize) {
                    *h = end as usize - searcher.len_of(a);
                }
                *f += 1;
                a = searcher.shorter(a);
            }
        }
        for &a in seen.iter() {
            if let (Some(f), Some(&c)) = (firsts.get_mut(a as usize), counts.get(a as usize)) {
                *f -= c;
            }
        }
        sc.work += total as u64;
    }

    /// Sets in `bits` the candidate rules below `limit` of the text last scanned: step 2.
    /// Bits at `limit` and above may be set too. A group of rules whose key occurs only
    /// after its bound's latest start is left out whole (see [`KeyGroup`]).
    pub(crate) fn mark(&self, text: &str, sc: &mut FieldScratch, limit: usize, bits: &mut [u64]) {
        for (b, u) in bits.iter_mut().zip(&self.unkeyed) {
            *b |= u;
        }
        sc.work += bits.len() as u64;
        // No key ending after `last` can make a candidate.
        let last = match &self.bounds {
            Some(bounds) => bounds
                .iter()
                .map(|&b| self.latest(b, text, sc))
                .filter(|&l| l != NO)
                .max(),
            None => Some(NO),
        };
        let Some(last) = last else {
            return;
        };
        if let Some(slots) = &self.bound_slots {
            // Each bound's latest start, found when a group first needs it.
            let mut by = [UNKNOWN; BY_SLOTS];
            by[FEW_BOUNDS] = IN_TIME;
            let mut at = (0, 0);
            let mut work = 0;
            while let Some(slot) = self.mark_seen(sc, &by, limit, last, bits, &mut at, &mut work) {
                let bound = slots.get(slot).copied().unwrap_or(NONE);
                let latest = self.latest(bound, text, sc);
                if let Some(b) = by.get_mut(slot) {
                    *b = latest;
                }
            }
            sc.work += work;
            return;
        }
        // By index: the searches below may expand the occurrences, which reads `seen`.
        for k in 0..sc.seen.len() {
            let Some(&a) = sc.seen.get(k) else {
                break;
            };
            if sc
                .first_end
                .get(a as usize)
                .is_none_or(|&f| f as usize > last)
            {
                break;
            }
            let (start, end) = self.key_groups.get(a as usize).copied().unwrap_or((0, 0));
            for group in self
                .groups
                .get(start as usize..end as usize)
                .unwrap_or_default()
            {
                let rules = self
                    .group_rules
                    .get(group.start as usize..group.end as usize)
                    .unwrap_or_default();
                if rules.first().is_none_or(|&r| r as usize >= limit) {
                    continue;
                }
                sc.work += 1;
                if group.bound != NONE {
                    let b = group.bound as usize;
                    let by = match (sc.node_stamp.get(b), sc.latest.get(b)) {
                        (Some(&s), Some(&l)) if s == sc.stamp => l,
                        _ => self.latest(group.bound, text, sc),
                    };
                    if by == NO
                        || sc
                            .first_end
                            .get(a as usize)
                            .is_none_or(|&f| f as usize > by)
                    {
                        continue;
                    }
                }
                for &rule in rules {
                    if rule as usize >= limit {
                        break;
                    }
                    set(bits, rule as usize);
                    sc.work += 1;
                }
            }
        }
    }

    /// `mark`'s loop over the seen keys from `at` (a place in `seen` and in that key's
    /// groups) with the bounds' latest starts `by`: returns the slot of a bound not yet
    /// known, with `at` where to resume once it is, or `None` when done. Counts as `mark`
    /// always has: a step per group asked, and one per rule marked.
    #[allow(clippy::too_many_arguments)]
    fn mark_seen(
        &self,
        sc: &FieldScratch,
        by: &[usize; BY_SLOTS],
        limit: usize,
        last: usize,
        bits: &mut [u64],
        at: &mut (usize, usize),
        work: &mut u64,
    ) -> Option<usize> {
        let (mut k, mut g) = *at;
        while let Some(&a) = sc.seen.get(k) {
            let Some(f) = sc.first_end.get(a as usize).map(|&f| f as usize) else {
                break;
            };
            if f > last {
                break;
            }
            let simple = self.simple.get(a as usize).copied().unwrap_or(SIMPLE_MORE);
            if simple != SIMPLE_MORE {
                let (rule, slot) = (simple as u32 as usize, (simple >> 32) as usize);
                if rule < limit {
                    // Slots are at most `FEW_BOUNDS`: the mask only spares a bounds check.
                    let b = by[slot & (BY_SLOTS - 1)];
                    if b == UNKNOWN {
                        *at = (k, 0);
                        return Some(slot);
                    }
                    *work += 1;
                    if b != NO && f <= b {
                        set(bits, rule);
                        *work += 1;
                    }
                }
                k += 1;
                continue;
            }
            let (start, end) = self.key_groups.get(a as usize).copied().unwrap_or((0, 0));
            let groups = self
                .groups
                .get(start as usize..end as usize)
                .unwrap_or_default();
            while let Some(group) = groups.get(g) {
                g += 1;
                if group.first as usize >= limit {
                    continue;
                }
                let b = by.get(group.slot as usize).copied().unwrap_or(IN_TIME);
                if b == UNKNOWN {
                    *at = (k, g - 1);
                    return Some(group.slot as usize);
                }
                *work += 1;
                if b == NO || f > b {
                    continue;
                }
                if group.end == group.start + 1 {
                    set(bits, group.first as usize);
                    *work += 1;
                    continue;
                }
                let rules = self
                    .group_rules
                    .get(group.start as usize..group.end as usize)
                    .unwrap_or_default();
                for &rule in rules {
                    if rule as usize >= limit {
                        break;
                    }
                    set(bits, rule as usize);
                    *work += 1;
                }
            }
            k += 1;
            g = 0;
        }
        *at = (k, g);
        None
    }

    /// Whether rule `rule` is a candidate in the text last scanned, by itself: the key of
    /// one of its forms occurs (or a form has none). What `mark` finds for all the rules,
    /// for the field (the resource) where only the few rules that passed the other are
    /// asked, so that a text with many anchors costs nothing per anchor.
    pub(crate) fn may_match(&self, rule: usize, sc: &mut FieldScratch) -> bool {
        if get(&self.any, rule) {
            return true;
        }
        let (start, end) = self.rule_forms.get(rule).copied().unwrap_or((0, 0));
        let keys = self
            .form_keys
            .get(start as usize..end as usize)
            .unwrap_or_default();
        sc.work += keys.len() as u64;
        keys.iter()
            .any(|&k| k == NONE || sc.anchor_stamp.get(k as usize) == Some(&sc.stamp))
    }

    /// Whether rule `rule`'s glob matches the text last scanned: step 3. A text read for
    /// presence only is searched again, with its log, the first time.
    pub(crate) fn rule_matches(&self, rule: usize, text: &str, sc: &mut FieldScratch) -> bool {
        if get(&self.any, rule) {
            return true;
        }
        if sc.presence {
            self.search(text, sc, false);
        }
        let Some(&(start, end)) = self.rule_forms.get(rule) else {
            return false;
        };
        (start..end).any(|f| self.form_matches(f as usize, text, sc))
    }

    fn form_matches(&self, form: usize, text: &str, sc: &mut FieldScratch) -> bool {
        match self.forms.get(form) {
            Some(&FormRef::Exact(segment)) => self.head(segment, text, sc) == text.len(),
            Some(&FormRef::Floating { tail }) => self.latest(tail, text, sc) != NO,
            Some(&FormRef::Starred { head, tail }) => {
                let end = self.head(head, text, sc);
                end != NO && {
                    let latest = self.latest(tail, text, sc);
                    latest != NO && latest >= end
                }
            }
            None => false,
        }
    }

    /// Where segment `id` ends when it matches at the start of the text, or `NO`.
    #[inline]
    fn head(&self, id: u32, text: &str, sc: &mut FieldScratch) -> usize {
        let i = id as usize;
        if sc.head_stamp.get(i) == Some(&sc.stamp) {
            return sc.head.get(i).copied().unwrap_or(NO);
        }
        let end = self
            .segments
            .get(i)
            .and_then(|s| s.segment.match_at(text, 0, &mut sc.work))
            .unwrap_or(NO);
        if let (Some(s), Some(h)) = (sc.head_stamp.get_mut(i), sc.head.get_mut(i)) {
            *s = sc.stamp;
            *h = end;
        }
        end
    }

    /// The latest start of chain `node` in the text, or `NO`.
    fn latest(&self, node: u32, text: &str, sc: &mut FieldScratch) -> usize {
        let stamp = sc.stamp;
        // Fast path: the chain after this segment is known (or there is none).
        if let Some(&Node { segment, parent }) = self.nodes.get(node as usize) {
            if sc.node_stamp.get(node as usize) == Some(&stamp) {
                return sc.latest.get(node as usize).copied().unwrap_or(NO);
            }
            if parent != NONE && sc.node_stamp.get(parent as usize) == Some(&stamp) {
                let value = match sc.latest.get(parent as usize).copied().unwrap_or(NO) {
                    NO => NO,
                    by => self.latest_occurrence(segment, by, text, sc),
                };
                if let (Some(s), Some(l)) = (
                    sc.node_stamp.get_mut(node as usize),
                    sc.latest.get_mut(node as usize),
                ) {
                    *s = stamp;
                    *l = value;
                }
                return value;
            }
        }
        self.settle(node, text, sc, |set, segment, by, text, sc| {
            set.latest_occurrence(segment, by, text, sc)
        });
        sc.latest.get(node as usize).copied().unwrap_or(NO)
    }

    /// Settles `sc.latest` for chain `node` and every link after it that this text has not
    /// settled yet, the last link first: a chain's last link is its segment matched as a
    /// suffix, and an earlier one the latest occurrence, found by `before(segment, by)`, that
    /// ends by the latest start of the chain after it (`NO` when that chain has none).
    fn settle(
        &self,
        node: u32,
        text: &str,
        sc: &mut FieldScratch,
        mut before: impl FnMut(&Self, u32, usize, &str, &mut FieldScratch) -> usize,
    ) {
        let stamp = sc.stamp;
        let mut stack = std::mem::take(&mut sc.stack);
        stack.clear();
        let mut n = node;
        while n != NONE && sc.node_stamp.get(n as usize) != Some(&stamp) {
            stack.push(n);
            n = self.nodes.get(n as usize).map_or(NONE, |x| x.parent);
        }
        while let Some(n) = stack.pop() {
            let Some(&Node { segment, parent }) = self.nodes.get(n as usize) else {
                continue;
            };
            let value = if parent == NONE {
                self.segments
                    .get(segment as usize)
                    .and_then(|s| s.segment.match_suffix(text, &mut sc.work))
                    .unwrap_or(NO)
            } else {
                match sc.latest.get(parent as usize).copied().unwrap_or(NO) {
                    NO => NO,
                    by => before(self, segment, by, text, sc),
                }
            };
            if let (Some(s), Some(l)) = (
                sc.node_stamp.get_mut(n as usize),
                sc.latest.get_mut(n as usize),
            ) {
                *s = stamp;
                *l = value;
            }
        }
        sc.stack = stack;
    }

    /// The latest start of an occurrence of segment `id` that ends by `by`, or `NO`.
    fn latest_occurrence(&self, id: u32, by: usize, text: &str, sc: &mut FieldScratch) -> usize {
        let Some(info) = self.segments.get(id as usize) else {
            return NO;
        };
        if info.literal {
            let a = info.anchor as usize;
            if sc.anchor_stamp.get(a) != Some(&sc.stamp) {
                return NO;
            }
            let Some(limit) = by.checked_sub(info.anchor_len) else {
                return NO;
            };
            // Fast paths: the first occurrence ends too late, or the last is in time.
            sc.work += 1;
            if sc.first_end.get(a).is_none_or(|&f| f as usize > by) {
                return NO;
            }
            self.fill_lasts(sc);
            if let Some(&last) = sc.last_end.get(a)
                && last as usize <= by
            {
                return last as usize - info.anchor_len;
            }
            self.expand(sc);
            let hits = sc.hits_of(a);
            let i = hits.partition_point(|&h| h <= limit);
            let found = i
                .checked_sub(1)
                .and_then(|i| hits.get(i))
                .map_or(NO, |&h| h);
            sc.work += probes(hits.len());
            return found;
        }
        if info.anchor != NONE {
            // Fast paths: the segment ends no earlier than its anchor, so none ends in
            // time when the anchor's first occurrence ends too late; and the latest is
            // found when the segment fits around the anchor's last occurrence, in time.
            let a = info.anchor as usize;
            if sc.anchor_stamp.get(a) != Some(&sc.stamp) {
                return NO;
            }
            sc.work += 1;
            if sc.first_end.get(a).is_none_or(|&f| f as usize > by) {
                return NO;
            }
            self.fill_lasts(sc);
            let last = sc.last_end.get(a).map_or(0, |&e| e as usize);
            if let Some(at) = last
                .checked_sub(info.anchor_len)
                .and_then(|hit| super::segment::back(text, hit, info.before))
                && let Some(end) = info.segment.match_at(text, at, &mut sc.work)
                && end <= by
            {
                return at;
            }
        }
        self.occurrences(id, text, sc);
        let occurrences = sc
            .occurrences
            .get(id as usize)
            .map_or(&[][..], Vec::as_slice);
        sc.work += probes(occurrences.len());
        let i = occurrences.partition_point(|&(_, end)| end <= by);
        i.checked_sub(1)
            .and_then(|i| occurrences.get(i))
            .map_or(NO, |&(start, _)| start)
    }

    /// Fills the occurrences of non-literal segment `id`, once per text.
    fn occurrences(&self, id: u32, text: &str, sc: &mut FieldScratch) {
        let i = id as usize;
        let stamp = sc.stamp;
        let (Some(info), Some(s), Some(list)) = (
            self.segments.get(i),
            sc.occurrence_stamp.get_mut(i),
            sc.occurrences.get_mut(i),
        ) else {
            return;
        };
        if *s == stamp {
            return;
        }
        *s = stamp;
        list.clear();
        let work = &mut sc.work;
        if info.anchor == NONE {
            // One table lookup per byte; the segment is tried only where its first item may
            // accept the character starting there.
            let starts = &info.first_bytes;
            *work += text.len() as u64;
            for (at, &b) in text.as_bytes().iter().enumerate() {
                let hit = starts
                    .get(usize::from(b >> 6))
                    .is_some_and(|w| w & (1 << (b & 63)) != 0);
                if hit && let Some(end) = info.segment.match_at(text, at, work) {
                    list.push((at, end));
                }
            }
            return;
        }
        let a = info.anchor as usize;
        if sc.anchor_stamp.get(a) != Some(&stamp) {
            return;
        }
        self.expand(sc);
        let (Some(list), work) = (sc.occurrences.get_mut(i), &mut sc.work) else {
            return;
        };
        let (first, count) = (
            sc.first.get(a).copied().unwrap_or(0) as usize,
            sc.count.get(a).copied().unwrap_or(0) as usize,
        );
        for &hit in sc.hits.get(first..first + count).unwrap_or_default() {
            *work += 1;
            let Some(at) = super::segment::back(text, hit, info.before) else {
                continue;
            };
            if let Some(end) = info.segment.match_at(text, at, work) {
                list.push((at, end));
            }
        }
    }

    /// The most work one byte of text can cause in steps 1 and 3: the anchors that can end
    /// at one place (each a suffix of the next), each with the segments built around it,
    /// plus the segments without literals, tried at every character.
    /// Also returns the heaviest chain's anchors.
    fn compute_byte_weight(&self) -> (usize, Vec<u32>) {
        let mut around = vec![0usize; self.anchors];
        let mut free = 0;
        for info in &self.segments {
            match around.get_mut(info.anchor as usize) {
                Some(w) if !info.literal => *w += 1 + info.segment.chars(),
                Some(_) => {}
                None => free += info.segment.chars(),
            }
        }
        let Some(searcher) = &self.searcher else {
            return (free, Vec::new());
        };
        let weight = |a: u32| {
            searcher
                .chain(a)
                .map(|b| 1 + around.get(b as usize).copied().unwrap_or(0))
                .sum::<usize>()
        };
        let heaviest = (0..self.anchors as u32).max_by_key(|&a| weight(a));
        match heaviest {
            Some(a) => (weight(a) + free, searcher.chain(a).collect()),
            None => (free, Vec::new()),
        }
    }

    /// The most work one byte of text can cost in placing the bounds first (see
    /// [`FieldSet::horizon`]): 0 when they are not.
    pub(crate) fn horizon_weight(&self) -> u64 {
        self.horizon.unwrap_or(0)
    }

    /// The most work one byte of text can cost (see `compute_byte_weight`).
    pub(crate) fn byte_weight(&self) -> usize {
        self.byte_weight
    }

    /// Forms and chain links: what verifying every rule once can cost, at most.
    pub(crate) fn size(&self) -> usize {
        self.forms.len()
            + self.nodes.len()
            + self
                .segments
                .iter()
                .map(|s| s.segment.chars())
                .sum::<usize>()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.segments.capacity() * size_of::<SegmentInfo>()
            + self
                .segments
                .iter()
                .map(|s| {
                    s.segment.items.capacity() * size_of::<super::segment::Item>()
                        + s.anchor_bytes.len()
                })
                .sum::<usize>()
            + self.searcher.as_ref().map_or(0, Anchors::heap_bytes)
            + self.forms.capacity() * size_of::<FormRef>()
            + self.nodes.capacity() * size_of::<Node>()
            + self.rule_forms.capacity() * 8
            + self.form_keys.capacity() * 4
            + self.key_groups.capacity() * 8
            + self.groups.capacity() * std::mem::size_of::<KeyGroup>()
            + self.group_rules.capacity() * 4
            + self.simple.capacity() * 8
            + (self.unkeyed.capacity() + self.any.capacity()) * 8
            + self.bounds.as_ref().map_or(0, |b| b.capacity() * 4)
            + self.bound_slots.as_ref().map_or(0, |b| b.capacity() * 4)
    }
}

/// What [`FieldSet::rule_matches_directly`] may still spend, in steps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget(pub(crate) u64);

impl Budget {
    /// Takes `steps` from the budget, counting them as work; false when they were not there.
    #[inline]
    fn spend(&mut self, steps: u64, work: &mut u64) -> bool {
        *work += steps;
        match self.0.checked_sub(steps) {
            Some(left) => {
                self.0 = left;
                true
            }
            None => {
                self.0 = 0;
                false
            }
        }
    }
}

impl FieldSet {
    /// Whether rule `rule`'s glob matches `text`, found without the search of step 1: each
    /// form's last segment is compared at the end, then its segments are placed leftmost,
    /// one after the other, each found by `memchr`'s search for its anchor (or, without
    /// one, by the bytes that can start it). For the few rules a decision asks about in the
    /// resource this reads a fraction of the text, at memory speed, where the automaton
    /// would read all of it a byte at a time. `None` when `budget` runs out first: then
    /// nothing is decided, and the caller searches the usual way.
    pub(crate) fn rule_matches_directly(
        &self,
        rule: usize,
        text: &str,
        sc: &mut FieldScratch,
        budget: &mut Budget,
    ) -> Option<bool> {
        if get(&self.any, rule) {
            return Some(true);
        }
        let (start, end) = self.rule_forms.get(rule).copied()?;
        for form in start..end {
            if self.form_matches_directly(form as usize, text, &mut sc.work, budget)? {
                return Some(true);
            }
        }
        Some(false)
    }

    fn form_matches_directly(
        &self,
        form: usize,
        text: &str,
        work: &mut u64,
        budget: &mut Budget,
    ) -> Option<bool> {
        let segment = |id: u32| self.segments.get(id as usize);
        let (mut at, tail) = match *self.forms.get(form)? {
            FormRef::Exact(id) => {
                let info = segment(id)?;
                let steps = info.segment.chars() as u64;
                if !budget.spend(steps, work) {
                    return None;
                }
                return Some(info.segment.match_at(text, 0, work) == Some(text.len()));
            }
            FormRef::Starred { head, tail } => {
                let info = segment(head)?;
                if !budget.spend(info.segment.chars() as u64, work) {
                    return None;
                }
                match info.segment.match_at(text, 0, work) {
                    Some(end) => (end, tail),
                    None => return Some(false),
                }
            }
            FormRef::Floating { tail } => (0, tail),
        };
        // The last segment first: one comparison at the end, which most texts fail.
        let mut last = tail;
        let mut links = 0u64;
        while let Some(&Node { parent, .. }) = self.nodes.get(last as usize) {
            if parent == NONE {
                break;
            }
            last = parent;
            links += 1;
        }
        let info = segment(self.nodes.get(last as usize)?.segment)?;
        if !budget.spend(links + info.segment.chars() as u64, work) {
            return None;
        }
        let Some(suffix) = info.segment.match_suffix(text, work) else {
            return Some(false);
        };
        let mut node = tail;
        while node != last {
            let &Node {
                segment: id,
                parent,
            } = self.nodes.get(node as usize)?;
            match leftmost(segment(id)?, text, at, work, budget)? {
                Some(end) => at = end,
                None => return Some(false),
            }
            node = parent;
        }
        Some(suffix >= at)
    }
}

impl FieldSet {
    /// Places every link of the bounds' chains (see [`FieldSet::horizon`]) without the log,
    /// each searched backwards from the latest start of the chain after it; returns the
    /// latest start of a bound (0 when none has a place): the prefix that is searched.
    fn place_bounds(&self, text: &str, sc: &mut FieldScratch) -> usize {
        let mut horizon = 0;
        for &bound in self.bounds.as_deref().unwrap_or_default() {
            self.settle(bound, text, sc, |set, segment, by, text, sc| {
                set.segments
                    .get(segment as usize)
                    .map_or(NO, |info| latest_backwards(info, text, by, &mut sc.work))
            });
            match sc.latest.get(bound as usize).copied() {
                Some(at) if at != NO => horizon = horizon.max(at),
                _ => {}
            }
        }
        horizon
    }
}

/// The latest start of an occurrence of segment `info` (which has an anchor) ending by
/// byte `by`, or `NO`: its anchor searched backwards, the segment tried around each
/// occurrence, latest first.
fn latest_backwards(info: &SegmentInfo, text: &str, by: usize, work: &mut u64) -> usize {
    let bytes = text.as_bytes();
    let needle = info.anchor_bytes.as_ref();
    let finder = memchr::memmem::FinderRev::new(needle);
    // The anchor ends by `limit`: the segment ends no earlier than its anchor.
    let mut limit = by.min(bytes.len());
    loop {
        let hay = bytes.get(..limit).unwrap_or_default();
        let found = match needle {
            [] => None,
            [b] => memchr::memrchr(*b, hay),
            _ => finder.rfind(hay),
        };
        *work += (limit - found.unwrap_or(0)) as u64;
        let Some(hit) = found else {
            return NO;
        };
        if info.literal {
            return hit;
        }
        *work += 1;
        if let Some(at) = super::segment::back(text, hit, info.before)
            && info
                .segment
                .match_at(text, at, work)
                .is_some_and(|end| end <= by)
        {
            return at;
        }
        // Next, the occurrences that start before this one.
        limit = hit + needle.len() - 1;
    }
}

/// Where the leftmost occurrence of a segment starting at byte `from` or later ends:
/// `Some(None)` when there is none, `None` when the budget runs out before that is known.
fn leftmost(
    info: &SegmentInfo,
    text: &str,
    from: usize,
    work: &mut u64,
    budget: &mut Budget,
) -> Option<Option<usize>> {
    let bytes = text.as_bytes();
    let chars = info.segment.chars() as u64;
    let mut from_byte = from;
    loop {
        // No more of the text than the budget pays for.
        let stop = from_byte
            .saturating_add(usize::try_from(budget.0).unwrap_or(usize::MAX))
            .min(bytes.len());
        let hay = bytes.get(from_byte..stop).unwrap_or_default();
        let found = match info.anchor_bytes.as_ref() {
            [] => {
                let starts = &info.first_bytes;
                hay.iter().position(|&b| {
                    starts
                        .get(usize::from(b >> 6))
                        .is_some_and(|w| w & (1 << (b & 63)) != 0)
                })
            }
            [b] => memchr::memchr(*b, hay),
            needle => memchr::memmem::find(hay, needle),
        };
        let read = found.map_or(hay.len(), |i| i + info.anchor_len.max(1));
        if !budget.spend(read as u64, work) {
            return None;
        }
        let Some(i) = found else {
            return if stop < bytes.len() { None } else { Some(None) };
        };
        let hit = from_byte + i;
        if !budget.spend(chars, work) {
            return None;
        }
        if let Some(start) = super::segment::back(text, hit, info.before)
            && start >= from
            && let Some(end) = info.segment.match_at(text, start, work)
        {
            return Some(Some(end));
        }
        from_byte = hit + 1;
    }
}

impl FieldScratch {
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        (self.anchor_stamp.capacity()
            + self.occurrence_stamp.capacity()
            + self.head_stamp.capacity()
            + self.node_stamp.capacity()
            + self.seen.capacity()
            + self.seen_buffer.capacity()
            + self.stack.capacity())
            * 4
            + (self.head.capacity() + self.latest.capacity()) * size_of::<usize>()
            + (self.first.capacity()
                + self.count.capacity()
                + self.log.capacity() * 2
                + self.states.capacity() * 2
                + self.backs.capacity()
                + self.fresh.capacity() * 2
                + self.first_end.capacity()
                + self.last_end.capacity()
                + self.last_stamp.capacity())
                * 4
            + self.hits.capacity() * size_of::<usize>()
            + self
                .occurrences
                .iter()
                .map(|o| 24 + o.capacity() * 16)
                .sum::<usize>()
    }
}

/// Marks the states of `run` (entries to be raised by `base`) as reached, each with its
/// last end, and lists from `list[k]` the entries where states are first reached; the new
/// length of the list. `marks` and `list` are a power of two long and hold every state.
/// Nothing here branches on whether a state is new: only the list's length depends on it.
#[inline(always)]
fn first_visits(
    searcher: &Anchors,
    run: &[u64],
    base: u64,
    stamp: u32,
    marks: &mut [u64],
    list: &mut [u64],
    k: usize,
) -> usize {
    let mut k = k;
    let (marks_mask, list_mask) = (marks.len().wrapping_sub(1), list.len().wrapping_sub(1));
    // Slices of `mask + 1` entries: the compiler then sees every masked index in range.
    let (Some(marks), Some(list)) = (marks.get_mut(..=marks_mask), list.get_mut(..=list_mask))
    else {
        return k;
    };
    let stamp_high = u64::from(stamp) << 32;
    for &entry in run {
        let entry = entry + base;
        let mut new = false;
        if let Some(m) = marks.get_mut(searcher.state_masked(entry, marks_mask)) {
            new = (*m >> 32) as u32 != stamp;
            *m = stamp_high | (entry >> 32);
        }
        if let Some(slot) = list.get_mut(k & list_mask) {
            *slot = entry;
        }
        k += usize::from(new);
    }
    k
}

/// Lists in `out` the anchors of the chains of the states first reached at `entries` (in
/// order), each with its first end, walking each chain until an anchor already seen (whose
/// own chain is then seen too); returns how many. `out` is a power of two long, at least the
/// number of anchors: a masked index is in range, and no anchor is listed twice. Never
/// inlined: inside the scan, with its values live around it, this loop's were spilled.
#[inline(never)]
fn walk_chains(
    searcher: &Anchors,
    entries: &[u64],
    stamp: u32,
    stamps: &mut [u32],
    firsts: &mut [u32],
    out: &mut [u32],
) -> usize {
    let mask = out.len().wrapping_sub(1);
    let Some(out) = out.get_mut(..=mask) else {
        return 0;
    };
    let mut n = 0;
    for &entry in entries {
        let end = end_of(entry);
        let mut a = searcher.longest(searcher.state_of(entry));
        while let (Some(s), Some(f)) = (stamps.get_mut(a as usize), firsts.get_mut(a as usize)) {
            if *s == stamp {
                break;
            }
            *s = stamp;
            *f = end;
            if let Some(slot) = out.get_mut(n & mask) {
                *slot = a;
            }
            n += 1;
            a = searcher.shorter(a);
        }
    }
    n
}

/// Probes of a binary search over `n` entries.
#[inline]
fn probes(n: usize) -> u64 {
    u64::from(usize::BITS - n.leading_zeros()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::segment::forms;
    use crate::glob::Glob;

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    const PIECES: [&str; 12] = [
        "*", "*", "a", "b", "ab", "ba", "é", "?", "[ab]", "[!a]", "{a,bé}", "[a-c]?",
    ];
    const LETTERS: [&str; 5] = ["a", "b", "b", "é", "c"];

    fn random(rng: &mut Rng, from: &[&str], most: usize) -> String {
        (0..rng.below(most + 1))
            .map(|_| from[rng.below(from.len())])
            .collect()
    }

    /// Matching a rule without the search agrees with matching its forms the plain way,
    /// whatever the budget: either the same answer, or none when the budget runs out.
    #[test]
    fn direct_matching_agrees_with_the_forms() {
        let mut rng = Rng(99);
        let mut ran_out = 0;
        let mut decided = 0;
        for _ in 0..300 {
            let globs: Vec<Glob> = (0..6)
                .map(|_| Glob::new(&random(&mut rng, &PIECES, 6)).expect("valid glob"))
                .collect();
            let rule_forms: Vec<Vec<Form>> = globs
                .iter()
                .map(|g| forms(g, 64).expect("few forms"))
                .collect();
            let mut builder = FieldSetBuilder::default();
            for (g, f) in globs.iter().zip(&rule_forms) {
                builder.add(f, g.is_any());
            }
            let (field, _) = builder.build(usize::MAX);
            let mut sc = FieldScratch::default();
            for _ in 0..20 {
                let text = random(&mut rng, &LETTERS, 12);
                for (rule, f) in rule_forms.iter().enumerate() {
                    let want = f.iter().any(|form| form.is_match(&text));
                    let mut budget = Budget(u64::MAX);
                    let got = field.rule_matches_directly(rule, &text, &mut sc, &mut budget);
                    assert_eq!(got, Some(want), "{} on {text:?}", globs[rule]);
                    let mut budget = Budget(rng.below(text.len() + 4) as u64);
                    match field.rule_matches_directly(rule, &text, &mut sc, &mut budget) {
                        Some(got) => {
                            assert_eq!(got, want, "{} on {text:?}", globs[rule]);
                            decided += 1;
                        }
                        None => ran_out += 1,
                    }
                }
            }
        }
        // Both ways out of a small budget were taken.
        assert!(ran_out > 100 && decided > 100, "{ran_out} {decided}");
    }

    /// With the bounds placed first and the text searched only up to them, the candidates
    /// and their verification still give every rule's answer.
    #[test]
    fn searching_up_to_the_bounds_decides_as_the_forms() {
        let tails = ["y*z*", "y*[!a]z*", "y?*z*", "z?y*", "y*z", "?y*z*"];
        let keys = ["a", "b", "é", "c", "ab", "?a"];
        let letters = ["a", "b", "c", "y", "z", "é", "y", "z"];
        let mut rng = Rng(5);
        let mut placed = 0;
        for _ in 0..200 {
            let globs: Vec<Glob> = (0..8)
                .map(|_| {
                    let key = random(&mut rng, &keys, 2);
                    let glob = format!(
                        "*{key}{}*{}",
                        keys[rng.below(4)],
                        tails[rng.below(3) * 2 + rng.below(2)]
                    );
                    Glob::new(&glob).expect("valid glob")
                })
                .collect();
            let rule_forms: Vec<Vec<Form>> = globs
                .iter()
                .map(|g| forms(g, 64).expect("few forms"))
                .collect();
            let mut builder = FieldSetBuilder::default();
            for (g, f) in globs.iter().zip(&rule_forms) {
                builder.add(f, g.is_any());
            }
            let (field, _) = builder.build(usize::MAX);
            placed += usize::from(field.horizon.is_some());
            let mut sc = FieldScratch::default();
            for _ in 0..30 {
                let text = random(&mut rng, &letters, 14);
                field.scan(&text, &mut sc).expect("short text");
                let mut bits = vec![0u64; 1];
                field.mark(&text, &mut sc, globs.len(), &mut bits);
                for (rule, f) in rule_forms.iter().enumerate() {
                    let want = f.iter().any(|form| form.is_match(&text));
                    let got = get(&bits, rule) && field.rule_matches(rule, &text, &mut sc);
                    assert_eq!(got, want, "{} on {text:?}", globs[rule]);
                }
            }
        }
        assert!(placed > 100, "{placed}");
    }
    /// A text read only for which anchors occur marks the candidates a read with its log
    /// marks, and the rules verified after it (searched again, with the log) get the forms'
    /// answers; such reads are taken for fields without bounds and for a bound placed at the
    /// end of what is read, and they log nothing.
    #[test]
    fn reading_for_presence_only_marks_and_decides_as_the_log() {
        let tails = ["y*z*", "y*z*", "*", "z*", "y?*z*", "*v*z*"];
        let keys = ["a", "b", "é", "1", "12", "?a", "[ab]"];
        let letters = ["a", "b", "1", "2", "y", "z", "é", "v", "12"];
        let mut rng = Rng(23);
        let (mut presence, mut logged) = (0, 0);
        for round in 0..300 {
            // Rules without bounds, rules of one bound, and rules of several.
            let regime = round % 3;
            let globs: Vec<Glob> = (0..10)
                .map(|_| {
                    let key = random(&mut rng, &keys, 2);
                    let tail = match regime {
                        0 => "*",
                        1 => "y*z*",
                        _ => tails[rng.below(tails.len())],
                    };
                    Glob::new(&format!("*{key}{}*{tail}", keys[rng.below(4)])).expect("valid glob")
                })
                .collect();
            let rule_forms: Vec<Vec<Form>> = globs
                .iter()
                .map(|g| forms(g, 64).expect("few forms"))
                .collect();
            let mut builder = FieldSetBuilder::default();
            for (g, f) in globs.iter().zip(&rule_forms) {
                builder.add(f, g.is_any());
            }
            let (field, _) = builder.build(usize::MAX);
            let (mut sc, mut sc_log) = (FieldScratch::default(), FieldScratch::default());
            for _ in 0..20 {
                let text = random(&mut rng, &letters, 40);
                field.scan(&text, &mut sc).expect("short text");
                field.search(&text, &mut sc_log, false);
                assert!(!sc_log.presence);
                let before = sc.logged;
                if sc.presence {
                    presence += 1;
                    assert_eq!(sc.runs.len(), 0);
                }
                let (mut bits, mut bits_log) = (vec![0u64; 1], vec![0u64; 1]);
                field.mark(&text, &mut sc, globs.len(), &mut bits);
                field.mark(&text, &mut sc_log, globs.len(), &mut bits_log);
                assert_eq!(bits, bits_log, "{globs:?} on {text:?}");
                for (rule, f) in rule_forms.iter().enumerate() {
                    let want = f.iter().any(|form| form.is_match(&text));
                    let got = get(&bits, rule) && field.rule_matches(rule, &text, &mut sc);
                    assert_eq!(got, want, "{} on {text:?}", globs[rule]);
                }
                logged += usize::from(sc.logged > before);
            }
        }
        assert!(presence > 2000 && logged > 100, "{presence} {logged}");
    }

    /// `mark`'s table of the few bounds and its path for keys of one rule give the bits and
    /// the work of the walk over every group with each bound looked up as it comes.
    #[test]
    fn marking_through_the_bound_table_agrees_with_walking_every_group() {
        let tails = ["y*z*", "y*[!a]z*", "*", "", "z?y*", "y*z", "?*"];
        let keys = ["a", "b", "é", "c", "ab", "?a", "{a,b}"];
        let letters = ["a", "b", "c", "y", "z", "é", "y", "z"];
        // Rules of their own literals before shared tails, as the adversarial families:
        // each key one group of one rule, the bounds few and placed first.
        let numbered = ["y*z*", "y*[!a]z*", "z?y*"];
        let digits = ["x", "1", "2", "3", "y", "z", "a", "x1", "2y"];
        let mut rng = Rng(11);
        let (mut tabled, mut simple, mut placed) = (0, 0, 0);
        for round in 0..300 {
            let family = round % 2 == 0;
            let globs: Vec<Glob> = (0..10)
                .map(|i| {
                    let glob = if family {
                        let tail = numbered[rng.below(numbered.len())];
                        format!("*x{}*{tail}", i + 1 + 10 * rng.below(3))
                    } else {
                        let key = random(&mut rng, &keys, 2);
                        let tail = tails[rng.below(tails.len())];
                        format!("*{key}{}*{tail}", keys[rng.below(keys.len())])
                    };
                    Glob::new(&glob).expect("valid glob")
                })
                .collect();
            let mut builder = FieldSetBuilder::default();
            for g in &globs {
                builder.add(&forms(g, 64).expect("few forms"), g.is_any());
            }
            let (field, _) = builder.build(usize::MAX);
            tabled += usize::from(field.bound_slots.is_some());
            placed += usize::from(field.horizon.is_some());
            simple += field.simple.iter().filter(|&&s| s != SIMPLE_MORE).count();
            let mut general = field.clone();
            general.bound_slots = None;
            general.simple.iter_mut().for_each(|s| *s = SIMPLE_MORE);
            let (mut sc, mut sc_general) = (FieldScratch::default(), FieldScratch::default());
            for _ in 0..30 {
                let text = match family {
                    true => random(&mut rng, &digits, 16),
                    false => random(&mut rng, &letters, 14),
                };
                let limit = 1 + rng.below(globs.len());
                field.scan(&text, &mut sc).expect("short text");
                general.scan(&text, &mut sc_general).expect("short text");
                let (before, before_general) = (sc.work, sc_general.work);
                let (mut bits, mut bits_general) = (vec![0u64; 1], vec![0u64; 1]);
                field.mark(&text, &mut sc, limit, &mut bits);
                general.mark(&text, &mut sc_general, limit, &mut bits_general);
                let below = (1u64 << limit) - 1;
                assert_eq!(
                    bits[0] & below,
                    bits_general[0] & below,
                    "{globs:?} on {text:?}"
                );
                assert_eq!(
                    sc.work - before,
                    sc_general.work - before_general,
                    "{globs:?} on {text:?}"
                );
            }
        }
        assert!(
            tabled > 150 && simple > 600 && placed > 100,
            "{tabled} {simple} {placed}"
        );
    }
}
