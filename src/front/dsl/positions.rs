//! Lines and columns of the offsets a parser asks for as it reads. A parser that takes a
//! node's start position when it reaches the node asks in reading order, so each position is
//! counted on from the last one and the text is read once in all, with no index of its lines
//! to build first. A position asked for before the last one on the same line is counted back;
//! one on an earlier line is looked up in a [`LineIndex`], built the first time one is.

use std::cell::{Cell, OnceCell};

use crate::source::LineIndex;

/// A 1-based line and column (in characters).
pub(super) type Position = (u32, u32);

pub(super) struct Positions<'t> {
    text: &'t str,
    /// The last offset asked for, with its 0-based line and column.
    last: Cell<(usize, u32, u32)>,
    index: OnceCell<LineIndex>,
}

/// Counts `bytes` on from a 0-based line and column: a line break starts the next line, and
/// every other byte that does not continue a character (UTF-8) is a column.
fn advance(bytes: &[u8], mut line: u32, mut col: u32) -> (u32, u32) {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const BREAKS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_ne_bytes(word.try_into().unwrap_or_default());
        let x = w ^ BREAKS;
        // Eight ASCII bytes, none a line break (no byte of `x` zero): eight columns.
        if (w | (x.wrapping_sub(ONES) & !x)) & HIGH == 0 {
            col = col.saturating_add(8);
        } else {
            (line, col) = advance_bytes(word, line, col);
        }
    }
    advance_bytes(words.remainder(), line, col)
}

fn advance_bytes(bytes: &[u8], mut line: u32, mut col: u32) -> (u32, u32) {
    for &b in bytes {
        if b == b'\n' {
            line = line.saturating_add(1);
            col = 0;
        } else if b & 0xC0 != 0x80 {
            col = col.saturating_add(1);
        }
    }
    (line, col)
}

/// Characters in `bytes`, which hold no line break.
fn chars(bytes: &[u8]) -> u32 {
    advance(bytes, 0, 0).1
}

impl<'t> Positions<'t> {
    pub fn new(text: &'t str) -> Self {
        Positions {
            text,
            last: Cell::new((0, 0, 0)),
            index: OnceCell::new(),
        }
    }

    /// The position of a byte offset on a character boundary (one past the end is the
    /// position after the last character).
    #[inline]
    pub fn of(&self, offset: usize) -> Position {
        let (at, line, col) = self.last.get();
        // Forward, the usual case, is counted here; anything else out of line.
        let Some(stretch) = self.text.as_bytes().get(at..offset) else {
            return self.back(offset);
        };
        #[cfg(test)]
        crate::source::scanned::add(stretch.len());
        // Most stretches are a token or the gap before one: shorter than a word of eight.
        let (line, col) = if stretch.len() < 8 {
            advance_bytes(stretch, line, col)
        } else {
            advance(stretch, line, col)
        };
        self.last.set((offset, line, col));
        (line.saturating_add(1), col.saturating_add(1))
    }

    /// A position before the last one asked for, or past the end.
    #[cold]
    fn back(&self, offset: usize) -> Position {
        let b = self.text.as_bytes();
        let offset = offset.min(b.len());
        let (at, line, col) = self.last.get();
        if offset >= at {
            return self.of(offset);
        }
        let stretch = &b[offset..at];
        #[cfg(test)]
        crate::source::scanned::add(stretch.len());
        let (line, col) = if memchr::memchr(b'\n', stretch).is_none() {
            (line, col.saturating_sub(chars(stretch)))
        } else {
            let index = self.index.get_or_init(|| LineIndex::new(self.text));
            let (line, col) = index.position(self.text, offset);
            (line - 1, col - 1)
        };
        self.last.set((offset, line, col));
        (line.saturating_add(1), col.saturating_add(1))
    }

    /// Whether a position had to be looked up on an earlier line than the last one asked.
    #[cfg(test)]
    pub fn went_back_a_line(&self) -> bool {
        self.index.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn positions_in_any_order_are_the_line_index_s(
            text in "[a-c\n\r\t é日]{0,40}",
            picks in prop::collection::vec(0usize..64, 0..20),
        ) {
            let index = LineIndex::new(&text);
            let positions = Positions::new(&text);
            let boundaries: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .collect();
            for pick in picks {
                // A few past the end, which is the position after the last character.
                let offset = match pick {
                    60.. => text.len() + pick,
                    _ => boundaries[pick % boundaries.len()],
                };
                prop_assert_eq!(positions.of(offset), index.position(&text, offset), "{}", offset);
            }
        }
    }
}
