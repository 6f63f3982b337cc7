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
/// anchors end) in the high 32 bits; the state's number in the low ones
/// ([`Anchors::state_of`]).
pub(crate) fn end_of(entry: u64) -> u32 {
    (entry >> 32) as u32
}

#[derive(Debug, Clone)]
pub(crate) struct Anchors {
    /// Each byte's class; bytes no anchor holds share class 0.
    classes: [u8; 256],
    /// log2 of a row's width: a state's number is its row's offset, shifted down by it.
    shift: u32,
    /// `rows[offset + class]`: the next state's row offset, with [`ENDS`] set when an
    /// anchor ends there.
    rows: Vec<u32>,
    /// The longest anchor ending at each state, or `NONE`.
    longest: Vec<u32>,
    /// For each anchor, the next shorter anchor that is a suffix of it, or `NONE`.
    shorter: Vec<u32>,
    lens: Vec<u32>,
    /// The most anchors that end at one place: the longest chain.
    longest_chain: usize,
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
        Anchors {
            classes,
            shift,
            rows,
            longest,
            shorter,
            lens: anchors.iter().map(|a| a.len() as u32).collect(),
            longest_chain: chain.into_iter().max().unwrap_or(0),
        }
    }

    /// Logs every place where some anchor ends: `log[..n]`, ascending, with `n` returned,
    /// each entry read by [`end_of`] and [`Anchors::state_of`]. `log` is grown to the text's length and its rest is left
    /// as it was.
    #[inline]
    pub(crate) fn log_ends(&self, text: &[u8], log: &mut Vec<u64>) -> usize {
        if log.len() < text.len() {
            log.resize(text.len(), 0);
        }
        let (rows, classes, shift) = (&self.rows[..], &self.classes, self.shift);
        let slots = &mut log[..];
        let mut n = 0usize;
        let mut state = 0u32;
        for (i, &b) in text.iter().enumerate() {
            let class = u32::from(classes[b as usize]);
            let entry = rows.get((state + class) as usize).copied().unwrap_or(0);
            state = entry & !ENDS;
            // Written whether or not an anchor ends here: kept only if one does.
            if let Some(slot) = slots.get_mut(n) {
                *slot = ((i as u64 + 1) << 32) | u64::from(state >> shift);
            }
            n += (entry >> 31) as usize;
        }
        n
    }

    /// How many states the automaton has: the numbers [`Anchors::state_of`] gives are below it.
    pub(crate) fn states(&self) -> usize {
        self.longest.len()
    }

    /// The longest anchor ending at state number `state`, or `u32::MAX`.
    #[inline]
    pub(crate) fn longest(&self, state: u32) -> u32 {
        self.longest.get(state as usize).copied().unwrap_or(NONE)
    }

    /// The state number of a log entry.
    #[inline]
    pub(crate) fn state_of(&self, entry: u64) -> u32 {
        entry as u32
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
        let n = anchors.log_ends(text.as_bytes(), &mut log);
        for &entry in &log[..n] {
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
