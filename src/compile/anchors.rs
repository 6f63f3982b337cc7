//! The anchors of a field (see [`super::field`]) as one Aho-Corasick DFA over byte classes:
//! a text is read once, one table lookup per byte, and every occurrence of every anchor is
//! reported, overlapping ones included: at each place, the longest anchor ending there, whose
//! chain gives the others.
//!
//! Why not the `aho-corasick` crate: its overlapping search reports a match through a
//! trait object and a state machine per match, some 10 ns each, and a digit string against
//! numbered rules has three matches per byte. Here a state's transitions are a row of a
//! dense table (rows as wide as the anchors' distinct bytes, rounded up to a power of two,
//! states numbered by their row's offset so that a step is one add and one load), the
//! entry's top bit says whether some anchor ends there, and the anchors ending at one place
//! form a chain (the longest, then each shorter one that is a suffix of it), walked without a
//! call.
//!
//! The search loop has no branch that depends on the text: every byte writes the state it
//! reached to the log, and the log's length grows by the entry's top bit. On dense text
//! (anchors ending at every other byte, unpredictably) a branch per byte is mispredicted
//! about half the time; the log is walked afterwards, where the work per place is needed
//! anyway.

use std::collections::{HashMap, VecDeque};

use super::table::FastHash;

const NONE: u32 = u32::MAX;
/// Set in a transition when the state it leads to ends some anchor.
const ENDS: u32 = 1 << 31;

/// A place of the log of [`Anchors::log_ends`]: the end (one past the byte where the
/// anchors end) in the high 32 bits, counted from its run's base (see [`Runs`]); the state in
/// the low ones ([`Anchors::state_of`]).
pub(crate) fn end_of(entry: u64) -> u32 {
    (entry >> 32) as u32
}

/// One run of the log: `log[start..start + len]`, each entry's end to be raised by `base`
/// (already in the entry's end bits, so that adding it to an entry gives the whole text's end).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Run {
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) base: u64,
}

/// Where [`Anchors::log_ends`] left its entries: two runs, the first's ends before the
/// second's. The lanes' entries are read where they were written, not moved together.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Runs(pub(crate) [Run; LANES]);

impl Runs {
    /// How many entries the runs hold.
    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(|r| r.len).sum()
    }

    /// Each run's entries and the base to add to them, in order.
    pub(crate) fn slices<'a>(&self, log: &'a [u64]) -> [(&'a [u64], u64); LANES] {
        self.0.map(|r| {
            (
                log.get(r.start..r.start + r.len).unwrap_or_default(),
                r.base,
            )
        })
    }

    /// Every entry of the runs, in order, with its end counted from the text's start.
    pub(crate) fn entries<'a>(&self, log: &'a [u64]) -> impl DoubleEndedIterator<Item = u64> + 'a {
        let [(a, base_a), (b, base_b)] = self.slices(log);
        let a = a.iter().map(move |&e| e + base_a);
        a.chain(b.iter().map(move |&e| e + base_b))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Anchors {
    /// Each byte's class; bytes no anchor holds share class 0.
    classes: [u8; 256],
    /// log2 of a row's width: a state's number is its row's offset, shifted down by it.
    shift: u32,
    /// `rows[offset + class]`: the next state's row offset, with [`ENDS`] set when an
    /// anchor ends there. Padded with zeros to a power of two, below [`ENDS`] entries, so
    /// that an index masked by `rows.len() - 1` needs no bounds check and the mask also
    /// clears [`ENDS`].
    rows: Vec<u32>,
    /// The longest anchor ending at each state, or `NONE`.
    longest: Vec<u32>,
    /// For each anchor, the next shorter anchor that is a suffix of it, or `NONE`.
    shorter: Vec<u32>,
    lens: Vec<u32>,
    /// The most anchors that end at one place: the longest chain.
    longest_chain: usize,
    /// The longest anchor's length in bytes: the most bytes a state remembers.
    depth: usize,
}

/// How many pieces of a long text are read side by side.
const LANES: usize = 2;
/// The shortest piece worth a lane of its own.
const LANE_MIN: usize = 64;

/// The text cut into [`LANES`] pieces of `part` bytes, and the rest (`part` is at least 1).
fn lanes(text: &[u8], part: usize) -> Option<([&[u8]; LANES], &[u8])> {
    let (a, rest) = text.split_at_checked(part)?;
    let (b, rest) = rest.split_at_checked(part)?;
    Some(([a, b], rest))
}

/// The automaton's tables as the search loop reads them.
#[derive(Clone, Copy)]
struct Dfa<'a> {
    /// `mask + 1` entries: a masked index is always in range, which the compiler sees
    /// when the mask is taken from the slice's length, as a `usize`.
    rows: &'a [u32],
    mask: usize,
    classes: &'a [u8; 256],
}

/// The log as the search loop writes it: `mask + 1` entries (a power of two, at least the
/// text's length), so that a masked slot needs no bounds check; no slot is ever past the
/// text's length, since each byte adds at most one entry.
struct LogSlots<'a> {
    slots: &'a mut [u64],
    mask: usize,
}

impl LogSlots<'_> {
    #[inline(always)]
    fn put(&mut self, n: usize, entry: u64) {
        if let Some(slot) = self.slots.get_mut(n & self.mask) {
            *slot = entry;
        }
    }
}

/// One step of the end counter kept in an entry's high bits.
const STEP: u64 = 1 << 32;

impl<'a> Dfa<'a> {
    /// `None` only if the table were shorter than its mask says, which `Anchors::new`
    /// never makes. The caller returns early then: a fallback table here would hide from
    /// the compiler that the masked index is in range.
    #[inline(always)]
    fn of(anchors: &'a Anchors) -> Option<Dfa<'a>> {
        let mask = anchors.rows.len().wrapping_sub(1);
        let rows = anchors.rows.get(..=mask)?;
        Some(Dfa {
            rows,
            mask,
            classes: &anchors.classes,
        })
    }

    /// The entry for byte `b` in state `state` (a row offset, [`ENDS`] set or not: the mask
    /// clears it).
    #[inline(always)]
    fn next(self, state: u32, b: u8) -> u32 {
        let class = usize::from(self.classes[usize::from(b)]);
        // The mask, below 2^31, also clears `ENDS`.
        let at = (state as usize).wrapping_add(class) & self.mask;
        self.rows.get(at).copied().unwrap_or(0)
    }

    /// Reads `text` from `state`, logging from slot `n` with ends counted from `end` (the
    /// entry bits of the end of the byte before the text); the state reached and the log's
    /// new length.
    #[inline(always)]
    fn log(self, text: &[u8], end: u64, state: u32, log: &mut LogSlots, n: usize) -> (u32, usize) {
        let (mut state, mut n, mut end) = (state, n, end);
        for &b in text {
            state = self.next(state, b);
            end += STEP;
            // Written whether or not an anchor ends here: kept only if one does.
            log.put(n, end | u64::from(state));
            n += (state >> 31) as usize;
        }
        (state, n)
    }

    /// Reads the pieces side by side, piece `k` from `states[k]`, logging from slot
    /// `k * part` with ends counted from its own start; `counts[k]` says how many it logged.
    #[inline(always)]
    fn log_lanes(
        self,
        pieces: [&[u8]; LANES],
        part: usize,
        states: &mut [u32; LANES],
        counts: &mut [usize; LANES],
        log: &mut LogSlots,
    ) {
        let [a, b] = pieces;
        let [mut s0, mut s1] = *states;
        let (mut n0, mut n1) = (0, part);
        let mut end = 0u64;
        for (&x0, &x1) in a.iter().zip(b) {
            s0 = self.next(s0, x0);
            s1 = self.next(s1, x1);
            end += STEP;
            log.put(n0, end | u64::from(s0));
            log.put(n1, end | u64::from(s1));
            n0 += (s0 >> 31) as usize;
            n1 += (s1 >> 31) as usize;
        }
        *states = [s0, s1];
        *counts = [n0, n1 - part];
    }
}

impl Anchors {
    /// The automaton of `anchors` (distinct, non-empty), numbered in order.
    pub(crate) fn new(anchors: &[String]) -> Anchors {
        // UTF-8 never uses 13 of the 256 byte values, so the classes fit in a byte.
        let mut classes = [0u8; 256];
        let mut count = 1usize;
        for a in anchors {
            for &b in a.as_bytes() {
                if let Some(c) = classes.get_mut(b as usize)
                    && *c == 0
                {
                    *c = count as u8;
                    count += 1;
                }
            }
        }
        let shift = count.next_power_of_two().trailing_zeros();
        let width = 1usize << shift;

        // The trie: children by class, the anchor ending at each node.
        let mut children: Vec<HashMap<u8, u32, FastHash>> = vec![HashMap::default()];
        let mut ends: Vec<u32> = vec![NONE];
        for (id, a) in anchors.iter().enumerate() {
            let mut node = 0usize;
            for &b in a.as_bytes() {
                let c = classes[b as usize];
                let next = children.len() as u32;
                let child = *children[node].entry(c).or_insert(next);
                if child == next {
                    children.push(HashMap::default());
                    ends.push(NONE);
                }
                node = child as usize;
            }
            if let Some(e) = ends.get_mut(node) {
                *e = id as u32;
            }
        }

        // Breadth first: each node's failure link, its row and its longest anchor.
        let states = children.len();
        let mut rows = vec![0u32; states * width];
        let mut longest = vec![NONE; states];
        let mut shorter = vec![NONE; anchors.len()];
        let mut fail = vec![0u32; states];
        let mut queue = VecDeque::new();
        longest[0] = ends[0];
        for (c, entry) in rows.iter_mut().take(width).enumerate() {
            if let Some(&child) = children[0].get(&(c as u8)) {
                queue.push_back(child);
                *entry = child;
            }
        }
        while let Some(node) = queue.pop_front() {
            let node = node as usize;
            let f = fail[node] as usize;
            // The failure node was done before (it is shallower): its longest is final.
            let inherited = longest[f];
            longest[node] = match ends[node] {
                NONE => inherited,
                own => {
                    shorter[own as usize] = inherited;
                    own
                }
            };
            for c in 0..width {
                let through_fail = rows[f * width + c] & !ENDS;
                match children[node].get(&(c as u8)) {
                    Some(&child) => {
                        fail[child as usize] = if node == 0 { 0 } else { through_fail };
                        rows[node * width + c] = child;
                        queue.push_back(child);
                    }
                    None => rows[node * width + c] = through_fail,
                }
            }
        }
        for entry in &mut rows {
            let state = *entry as usize;
            *entry <<= shift;
            if longest.get(state).is_some_and(|&l| l != NONE) {
                *entry |= ENDS;
            }
        }
        // Chains by anchor, shorter ones first: an anchor's chain is one more than its
        // next shorter one's, and that one is shorter.
        let mut order: Vec<u32> = (0..anchors.len() as u32).collect();
        order.sort_by_key(|&a| anchors.get(a as usize).map_or(0, String::len));
        let mut chain = vec![0usize; anchors.len()];
        for &a in &order {
            let below = shorter
                .get(a as usize)
                .and_then(|&b| chain.get(b as usize))
                .copied()
                .unwrap_or(0);
            if let Some(c) = chain.get_mut(a as usize) {
                *c = below + 1;
            }
        }
        // Padding never read by a real state: each state's row is within `states * width`.
        rows.resize(rows.len().next_power_of_two(), 0);
        assert!(
            u32::try_from(rows.len() - 1).is_ok_and(|m| m < ENDS),
            "an automaton of fewer than 2^31 transitions"
        );
        Anchors {
            classes,
            shift,
            rows,
            longest,
            shorter,
            lens: anchors.iter().map(|a| a.len() as u32).collect(),
            longest_chain: chain.into_iter().max().unwrap_or(0),
            depth: anchors.iter().map(String::len).max().unwrap_or(0),
        }
    }

    /// Logs every place where some anchor ends, in two [`Runs`] of `log`, ascending, each
    /// entry read by [`end_of`] (plus its run's base) and [`Anchors::state_of`]. `log` is
    /// grown to at least the text's length (a power of two) and nothing at or past the
    /// text's length is written.
    ///
    /// A long text is read in [`LANES`] pieces at once: each step is a load that depends on
    /// the one before, so one lane waits on memory while two keep the processor busy. A
    /// piece's first state comes from reading the `depth` bytes before it from the start
    /// state: the automaton's state is the longest suffix of the text read that is a prefix
    /// of an anchor, never longer than the longest anchor, so those bytes fix it. Each lane
    /// logs from its piece's first byte, and its entries stay there (its run).
    ///
    /// Never inlined: inlined into the scan, with the scan's values live around it, more of
    /// the lanes' states and counts were spilled to memory, which puts a store and a load
    /// on a lane's chain.
    #[inline(never)]
    pub(crate) fn log_ends(&self, text: &[u8], log: &mut Vec<u64>) -> Runs {
        let len = text.len();
        let slots = len.max(1).next_power_of_two();
        if log.len() < slots {
            log.resize(slots, 0);
        }
        let mask = slots - 1;
        let Some(slots) = log.get_mut(..=mask) else {
            return Runs::default();
        };
        let mut log = LogSlots { slots, mask };
        let Some(dfa) = Dfa::of(self) else {
            return Runs::default();
        };
        let part = len / LANES;
        let split = (part >= LANE_MIN && part >= 4 * self.depth)
            .then(|| lanes(text, part))
            .flatten();
        let Some((pieces, rest)) = split else {
            let (_, n) = dfa.log(text, 0, 0, &mut log, 0);
            let first = Run {
                start: 0,
                len: n,
                base: 0,
            };
            return Runs([first, Run::default()]);
        };
        let mut states = [0u32; LANES];
        for (k, state) in states.iter_mut().enumerate().skip(1) {
            let at = k * part;
            let warm = text
                .get(at.saturating_sub(self.depth)..at)
                .unwrap_or_default();
            *state = warm.iter().fold(0, |s, &b| dfa.next(s, b));
        }
        let mut counts = [0usize; LANES];
        dfa.log_lanes(pieces, part, &mut states, &mut counts, &mut log);
        let last = LANES - 1;
        // The rest continues the last lane's run, its ends counted from that lane's start.
        let (_, more) = dfa.log(
            rest,
            (part as u64) * STEP,
            states[last],
            &mut log,
            last * part + counts[last],
        );
        counts[last] = more - last * part;
        let mut runs = [Run::default(); LANES];
        for (k, (run, &count)) in runs.iter_mut().zip(&counts).enumerate() {
            *run = Run {
                start: k * part,
                len: count,
                base: (k * part) as u64 * STEP,
            };
        }
        Runs(runs)
    }

    /// Sets `reached[state]` to 1 for every state the text reaches, the start state and
    /// states where no anchor ends included (the caller keeps those where one does): what a
    /// search that needs only which anchors occur, not where, costs, one store per byte
    /// instead of a log entry and a pass over it. `reached` is a power of two long, at least
    /// [`Anchors::states`]: a masked state number is in range, which the compiler sees.
    /// Long texts are read in [`LANES`] pieces, as by [`Anchors::log_ends`].
    #[inline(never)]
    pub(crate) fn mark_reached(&self, text: &[u8], reached: &mut [u8]) {
        let Some(dfa) = Dfa::of(self) else {
            return;
        };
        let marks_mask = reached.len().wrapping_sub(1);
        let Some(reached) = reached.get_mut(..=marks_mask) else {
            return;
        };
        let shift = self.shift;
        let next = |state: u32, b: u8| dfa.next(state, b);
        let part = text.len() / LANES;
        let split = (part >= LANE_MIN && part >= 4 * self.depth)
            .then(|| lanes(text, part))
            .flatten();
        let (mut last, rest) = match split {
            Some(([a, b], rest)) => {
                let warm = text
                    .get(part.saturating_sub(self.depth)..part)
                    .unwrap_or_default();
                let (mut s0, mut s1) = (0u32, warm.iter().fold(0, |s, &x| next(s, x)));
                for (&x0, &x1) in a.iter().zip(b) {
                    s0 = next(s0, x0);
                    s1 = next(s1, x1);
                    if let Some(m) = reached.get_mut((s0 >> shift) as usize & marks_mask) {
                        *m = 1;
                    }
                    if let Some(m) = reached.get_mut((s1 >> shift) as usize & marks_mask) {
                        *m = 1;
                    }
                }
                (s1, rest)
            }
            None => (0, text),
        };
        for &x in rest {
            last = next(last, x);
            if let Some(m) = reached.get_mut((last >> shift) as usize & marks_mask) {
                *m = 1;
            }
        }
    }

    /// How many states the automaton has: the numbers [`Anchors::state_of`] gives are below it.
    pub(crate) fn states(&self) -> usize {
        self.longest.len()
    }

    /// A log entry of end 0 at state number `state` (what [`Anchors::state_of`] reads).
    #[inline]
    pub(crate) fn entry_of(&self, state: u32) -> u32 {
        state << self.shift
    }

    /// The longest anchor ending at state number `state`, or `u32::MAX`.
    #[inline]
    pub(crate) fn longest(&self, state: u32) -> u32 {
        self.longest.get(state as usize).copied().unwrap_or(NONE)
    }

    /// The state number of a log entry (which holds its row's offset: the search loop
    /// then needs no shift, whose count would take a register there).
    #[inline]
    pub(crate) fn state_of(&self, entry: u64) -> u32 {
        (entry as u32 & !ENDS) >> self.shift
    }

    /// [`Anchors::state_of`] for the hot loops: the state number masked by `mask`, one less
    /// than a power of two no smaller than the number of states. The mask also clears
    /// [`ENDS`]: with `2^shift` entries a row in a table of at most 2^31, there are at most
    /// `2^(31 - shift)` states, so the mask is below the bit [`ENDS`] is shifted to.
    #[inline(always)]
    pub(crate) fn state_masked(&self, entry: u64, mask: usize) -> usize {
        ((entry as u32) >> self.shift) as usize & mask
    }

    /// The next shorter anchor that is a suffix of `anchor`, or `u32::MAX`.
    #[inline]
    pub(crate) fn shorter(&self, anchor: u32) -> u32 {
        self.shorter.get(anchor as usize).copied().unwrap_or(NONE)
    }

    /// The most anchors that end at one place.
    pub(crate) fn longest_chain(&self) -> usize {
        self.longest_chain
    }

    /// The length of `anchor` in bytes.
    #[inline]
    pub(crate) fn len_of(&self, anchor: u32) -> usize {
        self.lens.get(anchor as usize).copied().unwrap_or(0) as usize
    }

    /// For each anchor, the anchors ending where it ends (itself, then each shorter suffix).
    pub(crate) fn chain(&self, anchor: u32) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(Some(anchor), |&a| {
            self.shorter.get(a as usize).copied().filter(|&n| n != NONE)
        })
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        (self.rows.capacity()
            + self.longest.capacity()
            + self.shorter.capacity()
            + self.lens.capacity())
            * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn occurrences(anchors: &[&str], text: &str) -> Vec<(u32, usize)> {
        let owned: Vec<String> = anchors.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let anchors = Anchors::new(&owned);
        let mut log = Vec::new();
        let runs = anchors.log_ends(text.as_bytes(), &mut log);
        for entry in runs.entries(&log) {
            let end = end_of(entry) as usize;
            for a in anchors.chain(anchors.longest(anchors.state_of(entry))) {
                out.push((a, end - anchors.len_of(a)));
            }
        }
        out.sort_unstable();
        out
    }

    fn naive(anchors: &[&str], text: &str) -> Vec<(u32, usize)> {
        let mut out = Vec::new();
        for (a, p) in anchors.iter().enumerate() {
            for at in 0..text.len() {
                if text.as_bytes()[at..].starts_with(p.as_bytes()) {
                    out.push((a as u32, at));
                }
            }
        }
        out.sort_unstable();
        out
    }

    #[test]
    fn every_occurrence_is_found_overlapping_ones_too() {
        let cases: [(&[&str], &str); 5] = [
            (&["1", "21", "321", "x"], "43213214321x21"),
            (&["aa", "a", "aaa"], "aaaaa"),
            (&["he", "she", "his", "hers"], "ushershishe"),
            (&["é", "日本", "本"], "日本é本日"),
            (&["ab", "b", "bab"], "abababzbab"),
        ];
        for (anchors, text) in cases {
            assert_eq!(
                occurrences(anchors, text),
                naive(anchors, text),
                "{anchors:?} in {text}"
            );
        }
    }

    #[test]
    fn long_texts_read_in_lanes_find_what_one_lane_finds() {
        // Texts long enough for lanes, with anchors crossing the lanes' borders, and an
        // anchor longer than a quarter of some texts (those are read in one lane), whose
        // runs a lane's start must remember.
        let anchors: [&str; 6] = ["ab", "b", "bab", "aab", "é", "ba".repeat(10).leak()];
        let owned: Vec<String> = anchors.iter().map(|s| s.to_string()).collect();
        let automaton = Anchors::new(&owned);
        let mut seed = 7u64;
        for len in [79, 255, 256, 257, 259, 300, 321, 330, 640, 1023, 1025, 4096] {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut text = String::new();
            let mut x = seed;
            while text.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 7 {
                    6 => text.push_str(&"ba".repeat(8 + (x >> 8) as usize % 6)),
                    k => text.push(['a', 'b', 'b', 'é', 'z', 'a'][k as usize]),
                }
            }
            assert_eq!(
                occurrences(&anchors, &text),
                naive(&anchors, &text),
                "length {len}"
            );
            // A log longer than the text keeps its rest.
            let mut log = vec![u64::MAX; text.len().next_power_of_two() + 3];
            let runs = automaton.log_ends(text.as_bytes(), &mut log);
            assert!(runs.len() <= text.len());
            assert!(log[text.len()..].iter().all(|&e| e == u64::MAX));
            let ends: Vec<u32> = runs.entries(&log).map(end_of).collect();
            assert!(ends.windows(2).all(|w| w[0] < w[1]));
            assert!(ends.iter().all(|&e| e as usize <= text.len()));
        }
    }

    #[test]
    fn chains_list_the_suffixes_that_are_anchors() {
        let owned: Vec<String> = ["1", "21", "321", "x21"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let anchors = Anchors::new(&owned);
        assert_eq!(anchors.chain(2).collect::<Vec<_>>(), vec![2, 1, 0]);
        assert_eq!(anchors.chain(3).collect::<Vec<_>>(), vec![3, 1, 0]);
        assert_eq!(anchors.chain(0).collect::<Vec<_>>(), vec![0]);
        assert_eq!(anchors.longest_chain(), 3);
    }
}
