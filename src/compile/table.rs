//! A read-only hash table from byte-string keys to `u32` values, built once per policy.
//!
//! Why not `std::collections::HashMap`: a request's key is made of borrowed parts (an action
//! and a resource), which `HashMap` cannot look up without first gluing them into an owned
//! key, that is, without allocating. Here a key is a list of parts, hashed part by part and
//! compared part by part against one byte arena. Every key also lives in a namespace, so one
//! table serves every level of the index.
//!
//! A small Bloom filter in front answers most misses from a few cache lines, which matters
//! because the index probes once for every distinct prefix length.

/// Separates the parts of a key in the arena; it never occurs in a `&str`.
const SEPARATOR: u8 = 0xFF;
const EMPTY: u32 = u32::MAX;

/// The hash of a key: its namespace and parts, in order.
pub(crate) fn hash(namespace: u32, parts: &[&[u8]]) -> u64 {
    let mut h = start(namespace);
    for part in parts {
        h = absorb(h, part);
    }
    finish(h)
}

#[inline]
fn start(namespace: u32) -> u64 {
    fold(
        u64::from(namespace) ^ 0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7344,
    )
}

/// Mixes in one part: its whole 8-byte words, then the rest with the part's length.
#[inline]
fn absorb(mut h: u64, part: &[u8]) -> u64 {
    let mut chunks = part.chunks_exact(8);
    for chunk in &mut chunks {
        h = word_step(h, chunk);
    }
    tail_step(h, chunks.remainder(), part.len())
}

#[inline]
fn word_step(h: u64, chunk: &[u8]) -> u64 {
    fold(h ^ word(chunk, 0), 0xA409_3822_299F_31D0)
}

#[inline]
fn tail_step(h: u64, tail: &[u8], len: usize) -> u64 {
    fold(h ^ load_short(tail), 0x082E_FA98_EC4E_6C89 ^ len as u64)
}

#[inline]
fn finish(h: u64) -> u64 {
    fold(h, 0x4528_21E6_38D0_1377)
}

/// The hashes of `namespace`-keys `bytes[..len]` for each of `lengths` (ascending), sharing
/// the work on the common words: each is what [`hash`] gives for the one part.
pub(crate) struct Prefixes<'a> {
    bytes: &'a [u8],
    state: u64,
    /// Whole words absorbed into `state`.
    words: usize,
}

impl<'a> Prefixes<'a> {
    #[inline]
    pub(crate) fn new(namespace: u32, bytes: &'a [u8]) -> Prefixes<'a> {
        Prefixes {
            bytes,
            state: start(namespace),
            words: 0,
        }
    }

    /// The hash of the first `len` bytes, or `None` past the end. Lengths must not decrease.
    #[inline]
    pub(crate) fn hash(&mut self, len: usize) -> Option<u64> {
        let prefix = self.bytes.get(..len)?;
        while (self.words + 1) * 8 <= len {
            self.state = word_step(self.state, prefix.get(self.words * 8..self.words * 8 + 8)?);
            self.words += 1;
        }
        Some(finish(tail_step(
            self.state,
            prefix.get(self.words * 8..)?,
            len,
        )))
    }
}

/// Eight bytes at `at` as a little-endian word (0 past the end, which callers avoid).
#[inline]
fn word(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

/// Up to 7 bytes as a word: exactly their little-endian value from 4 bytes on, and a
/// one-to-one mix of them below (the length is hashed beside it).
#[inline]
fn load_short(b: &[u8]) -> u64 {
    let n = b.len();
    let four = |at: usize| {
        b.get(at..at + 4)
            .and_then(|x| <[u8; 4]>::try_from(x).ok())
            .map_or(0, u32::from_le_bytes)
    };
    match n {
        0 => 0,
        1..=3 => {
            let at = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
            at(0) | (at(n / 2) << 8) | (at(n - 1) << 16)
        }
        _ => u64::from(four(0)) | (u64::from(four(n - 4)) << (8 * (n - 4))),
    }
}

/// Byte-string equality without a call into libc, for the short keys of a policy.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return load_short(a) == load_short(b);
    }
    let mut at = 0;
    while at + 8 <= n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// Whether `s` ends with `suffix`, the same way.
#[inline]
pub(crate) fn ends_with(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len()
        && s.get(s.len() - suffix.len()..)
            .is_some_and(|tail| bytes_eq(tail, suffix))
}

/// Whether `s` starts with `prefix`, the same way.
#[inline]
pub(crate) fn starts_with(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| bytes_eq(head, prefix))
}

/// The folded multiply of foldhash and wyhash: the high and low halves of a 128-bit product.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// A fast hasher for the maps used while compiling (keys come from the policy, not from
/// requests; nothing looks them up at decision time).
pub(crate) type FastHash = std::hash::BuildHasherDefault<FoldHasher>;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = absorb(self.0, bytes);
    }

    fn write_u8(&mut self, i: u8) {
        self.0 = fold(self.0 ^ u64::from(i), 0xA409_3822_299F_31D0);
    }

    fn write_usize(&mut self, i: usize) {
        self.0 = fold(self.0 ^ i as u64, 0xA409_3822_299F_31D0);
    }

    fn finish(&self) -> u64 {
        finish(self.0)
    }
}

/// A byte string kept in place when it has at most `N` bytes (most keys of a policy), else
/// in an arena: comparing a key then costs no further cache miss.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inline<const N: usize> {
    len: u32,
    start: u32,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    pub(crate) fn new(text: &[u8], arena: &mut Vec<u8>) -> Inline<N> {
        let mut bytes = [0u8; N];
        let start = if let Some(place) = bytes.get_mut(..text.len()) {
            place.copy_from_slice(text);
            0
        } else {
            arena.extend_from_slice(text);
            (arena.len() - text.len()) as u32
        };
        Inline {
            len: text.len() as u32,
            start,
            bytes,
        }
    }

    #[inline]
    pub(crate) fn get<'a>(&'a self, arena: &'a [u8]) -> &'a [u8] {
        let len = self.len as usize;
        match self.bytes.get(..len) {
            Some(b) => b,
            None => arena
                .get(self.start as usize..self.start as usize + len)
                .unwrap_or_default(),
        }
    }
}

/// One cache line: the hash, the namespace, the value and (mostly) the key itself.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    hash: u64,
    namespace: u32,
    value: u32,
    key: Inline<40>,
}

const VACANT: Slot = Slot {
    hash: 0,
    namespace: 0,
    value: EMPTY,
    key: Inline {
        len: 0,
        start: 0,
        bytes: [0; 40],
    },
};

/// The table; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct KeyTable {
    slots: Vec<Slot>,
    mask: usize,
    arena: Vec<u8>,
    /// A blocked Bloom filter: two bits in one word per key, so a check is one load.
    filter: Vec<u64>,
    filter_mask: usize,
}

/// Collects keys, each once (the index builder only ever adds distinct keys).
#[derive(Debug, Default)]
pub(crate) struct KeyTableBuilder {
    /// (hash, namespace, joined key, value)
    keys: Vec<(u64, u32, Vec<u8>, u32)>,
}

impl KeyTableBuilder {
    pub(crate) fn insert(&mut self, namespace: u32, parts: &[&[u8]], value: u32) {
        let mut joined = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                joined.push(SEPARATOR);
            }
            joined.extend_from_slice(part);
        }
        self.keys
            .push((hash(namespace, parts), namespace, joined, value));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn build(self) -> KeyTable {
        let n = self.keys.len();
        let capacity = (n * 2).max(8).next_power_of_two();
        let words = (n * 16 / 64).max(1).next_power_of_two();
        let mut table = KeyTable {
            slots: vec![VACANT; capacity],
            mask: capacity - 1,
            arena: Vec::new(),
            filter: vec![0; words],
            filter_mask: words - 1,
        };
        for (h, namespace, joined, value) in self.keys {
            let key = Inline::new(&joined, &mut table.arena);
            let (w, bits) = table.filter_word(h);
            if let Some(word) = table.filter.get_mut(w) {
                *word |= bits;
            }
            let mut i = table.home(h);
            while table.slots.get(i).is_some_and(|s| s.value != EMPTY) {
                i = (i + 1) & table.mask;
            }
            if let Some(slot) = table.slots.get_mut(i) {
                *slot = Slot {
                    hash: h,
                    namespace,
                    value,
                    key,
                };
            }
        }
        table
    }
}

impl KeyTable {
    #[inline]
    fn home(&self, h: u64) -> usize {
        (h.rotate_left(24) as usize) & self.mask
    }

    #[inline]
    fn filter_word(&self, h: u64) -> (usize, u64) {
        let w = (h >> 12) as usize & self.filter_mask;
        (w, (1 << (h & 63)) | (1 << ((h >> 6) & 63)))
    }

    /// The value of a key, if present. `parts` must not contain the separator byte, which
    /// holds for every part cut from a `&str`.
    #[inline]
    pub(crate) fn get(&self, namespace: u32, parts: &[&[u8]]) -> Option<u32> {
        self.get_hashed(hash(namespace, parts), namespace, parts)
    }

    /// [`KeyTable::get`] with the key's hash already known.
    #[inline]
    pub(crate) fn get_hashed(&self, h: u64, namespace: u32, parts: &[&[u8]]) -> Option<u32> {
        let (w, bits) = self.filter_word(h);
        if self.filter.get(w).is_none_or(|word| word & bits != bits) {
            return None;
        }
        let mut i = self.home(h);
        loop {
            let slot = self.slots.get(i)?;
            if slot.value == EMPTY {
                return None;
            }
            if slot.hash == h && slot.namespace == namespace && self.key_is(slot, parts) {
                return Some(slot.value);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn key_is(&self, slot: &Slot, parts: &[&[u8]]) -> bool {
        let key = slot.key.get(&self.arena);
        match parts {
            [one] => bytes_eq(key, one),
            [first, second] => {
                key.len() == first.len() + 1 + second.len()
                    && starts_with(key, first)
                    && key.get(first.len()) == Some(&SEPARATOR)
                    && key
                        .get(first.len() + 1..)
                        .is_some_and(|rest| bytes_eq(rest, second))
            }
            _ => {
                let mut rest = key;
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        match rest.split_first() {
                            Some((&SEPARATOR, tail)) => rest = tail,
                            _ => return false,
                        }
                    }
                    if !starts_with(rest, part) {
                        return false;
                    }
                    rest = rest.get(part.len()..).unwrap_or_default();
                }
                rest.is_empty()
            }
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
            + self.filter.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_their_parts_and_namespace() {
        let mut b = KeyTableBuilder::default();
        b.insert(0, &[b"deploy", b"prod"], 7);
        b.insert(1, &[b"deploy"], 3);
        b.insert(0, &[b"", b""], 4);
        assert_eq!(b.len(), 3);
        let t = b.build();
        assert_eq!(t.get(0, &[b"deploy", b"prod"]), Some(7));
        assert_eq!(t.get(1, &[b"deploy"]), Some(3));
        assert_eq!(t.get(0, &[b"", b""]), Some(4));
        assert_eq!(t.get(2, &[b"deploy"]), None);
        assert_eq!(t.get(0, &[b"deploy", b"pro"]), None);
        assert_eq!(t.get(0, &[b"deplo", b"yprod"]), None);
        assert_eq!(t.get(0, &[b"deploy"]), None);
        assert_eq!(t.get(1, &[b"deploy", b""]), None);
    }

    #[test]
    fn prefix_hashes_are_the_hashes_of_the_prefixes() {
        let text = "svc_4242.scale/env_prod-eu-west-1é".as_bytes();
        let mut prefixes = Prefixes::new(2, text);
        for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 30, text.len()] {
            assert_eq!(prefixes.hash(len), Some(hash(2, &[&text[..len]])), "{len}");
        }
        assert_eq!(prefixes.hash(text.len() + 1), None);
    }

    #[test]
    fn short_loads_and_comparisons_tell_strings_apart() {
        let words: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"b",
            b"ab",
            b"ba",
            b"aa",
            b"abc",
            b"abd",
            b"abcd",
            b"abce",
            b"abcdefg",
            b"abcdefh",
            b"abcdefgh",
            b"abcdefgi",
            b"xbcdefgh",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnopr",
        ];
        for a in &words {
            for b in &words {
                assert_eq!(bytes_eq(a, b), a == b, "{a:?} {b:?}");
                assert_eq!(starts_with(a, b), a.starts_with(b), "{a:?} {b:?}");
                if a.len() == b.len() && a.len() < 8 {
                    assert_eq!(load_short(a) == load_short(b), a == b);
                }
            }
        }
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let t = KeyTableBuilder::default().build();
        assert_eq!(t.get(0, &[b"x"]), None);
    }
}
