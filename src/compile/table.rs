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

use std::collections::HashMap;

/// Separates the parts of a key in the arena; it never occurs in a `&str`.
const SEPARATOR: u8 = 0xFF;
const EMPTY: u32 = u32::MAX;

/// The hash of a key: its namespace and parts, in order.
pub(crate) fn hash(namespace: u32, parts: &[&[u8]]) -> u64 {
    let mut h = fold(
        u64::from(namespace) ^ 0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7344,
    );
    for part in parts {
        let mut chunks = part.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            h = fold(h ^ u64::from_le_bytes(word), 0xA409_3822_299F_31D0);
        }
        let tail = chunks.remainder();
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        h = fold(
            h ^ u64::from_le_bytes(word),
            0x082E_FA98_EC4E_6C89 ^ part.len() as u64,
        );
    }
    fold(h, 0x4528_21E6_38D0_1377)
}

/// The folded multiply of foldhash and wyhash: the high and low halves of a 128-bit product.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    namespace: u32,
    key_start: u32,
    key_len: u32,
    value: u32,
}

/// The table; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct KeyTable {
    slots: Vec<Slot>,
    mask: usize,
    arena: Vec<u8>,
    filter: Vec<u64>,
    filter_mask: u64,
}

/// Collects keys; later values for a key already present are ignored (the first wins).
#[derive(Debug, Default)]
pub(crate) struct KeyTableBuilder {
    keys: HashMap<(u32, Vec<u8>), u32>,
    order: Vec<(u32, Vec<u8>)>,
}

impl KeyTableBuilder {
    /// The value of a key, inserting `make()` when absent.
    pub(crate) fn get_or_insert(
        &mut self,
        namespace: u32,
        parts: &[&[u8]],
        make: impl FnOnce() -> u32,
    ) -> u32 {
        let joined = join(parts);
        if let Some(&v) = self.keys.get(&(namespace, joined.clone())) {
            return v;
        }
        let value = make();
        self.order.push((namespace, joined.clone()));
        self.keys.insert((namespace, joined), value);
        value
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn build(self) -> KeyTable {
        let n = self.order.len();
        let capacity = (n * 2).max(8).next_power_of_two();
        let filter_bits = (n * 16).max(64).next_power_of_two();
        let mut table = KeyTable {
            slots: vec![
                Slot {
                    hash: 0,
                    namespace: 0,
                    key_start: 0,
                    key_len: 0,
                    value: EMPTY,
                };
                capacity
            ],
            mask: capacity - 1,
            arena: Vec::with_capacity(self.order.iter().map(|(_, k)| k.len()).sum()),
            filter: vec![0; filter_bits / 64],
            filter_mask: (filter_bits - 1) as u64,
        };
        for (namespace, joined) in self.order {
            let value = self
                .keys
                .get(&(namespace, joined.clone()))
                .copied()
                .unwrap_or(EMPTY);
            let parts: Vec<&[u8]> = joined.split(|b| *b == SEPARATOR).collect();
            let h = hash(namespace, &parts);
            let (b1, b2) = table.filter_bits(h);
            table.filter[b1 / 64] |= 1 << (b1 % 64);
            table.filter[b2 / 64] |= 1 << (b2 % 64);
            let mut i = table.home(h);
            while table.slots[i].value != EMPTY {
                i = (i + 1) & table.mask;
            }
            table.slots[i] = Slot {
                hash: h,
                namespace,
                key_start: table.arena.len() as u32,
                key_len: joined.len() as u32,
                value,
            };
            table.arena.extend_from_slice(&joined);
        }
        table
    }
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut joined = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            joined.push(SEPARATOR);
        }
        joined.extend_from_slice(part);
    }
    joined
}

impl KeyTable {
    #[inline]
    fn home(&self, h: u64) -> usize {
        (h.rotate_left(24) as usize) & self.mask
    }

    #[inline]
    fn filter_bits(&self, h: u64) -> (usize, usize) {
        (
            (h & self.filter_mask) as usize,
            ((h >> 32) & self.filter_mask) as usize,
        )
    }

    /// The value of a key, if present. `parts` must not contain the separator byte, which
    /// holds for every part cut from a `&str`.
    #[inline]
    pub(crate) fn get(&self, namespace: u32, parts: &[&[u8]]) -> Option<u32> {
        let h = hash(namespace, parts);
        let (b1, b2) = self.filter_bits(h);
        let word = |b: usize| {
            self.filter
                .get(b / 64)
                .is_some_and(|w| w & (1 << (b % 64)) != 0)
        };
        if !(word(b1) && word(b2)) {
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

    fn key_is(&self, slot: &Slot, parts: &[&[u8]]) -> bool {
        let start = slot.key_start as usize;
        let Some(mut key) = self.arena.get(start..start + slot.key_len as usize) else {
            return false;
        };
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                match key.split_first() {
                    Some((&SEPARATOR, rest)) => key = rest,
                    _ => return false,
                }
            }
            match key.strip_prefix(*part) {
                Some(rest) => key = rest,
                None => return false,
            }
        }
        key.is_empty()
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
        assert_eq!(b.get_or_insert(0, &[b"deploy", b"prod"], || 7), 7);
        assert_eq!(b.get_or_insert(0, &[b"deploy", b"prod"], || 9), 7);
        assert_eq!(b.get_or_insert(1, &[b"deploy"], || 3), 3);
        assert_eq!(b.get_or_insert(0, &[b"", b""], || 4), 4);
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
    fn an_empty_table_finds_nothing() {
        let t = KeyTableBuilder::default().build();
        assert_eq!(t.get(0, &[b"x"]), None);
    }
}
