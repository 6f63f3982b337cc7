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

/// Characters in `bytes`: the bytes that do not continue a character (UTF-8).
fn chars(bytes: &[u8]) -> u32 {
    let n = bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count();
    u32::try_from(n).unwrap_or(u32::MAX)
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
    pub fn of(&self, offset: usize) -> Position {
        let b = self.text.as_bytes();
        let offset = offset.min(b.len());
        let (at, line, col) = self.last.get();
        let (line, col) = if offset >= at {
            let stretch = &b[at..offset];
            #[cfg(test)]
            crate::source::scanned::add(stretch.len());
            match memchr::memrchr(b'\n', stretch) {
                None => (line, col.saturating_add(chars(stretch))),
                Some(last) => {
                    let breaks = memchr::memchr_iter(b'\n', stretch).count();
                    let breaks = u32::try_from(breaks).unwrap_or(u32::MAX);
                    (line.saturating_add(breaks), chars(&stretch[last + 1..]))
                }
            }
        } else {
            let stretch = &b[offset..at];
            #[cfg(test)]
            crate::source::scanned::add(stretch.len());
            if memchr::memchr(b'\n', stretch).is_none() {
                (line, col.saturating_sub(chars(stretch)))
            } else {
                let index = self.index.get_or_init(|| LineIndex::new(self.text));
                let (line, col) = index.position(self.text, offset);
                (line - 1, col - 1)
            }
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
                let offset = boundaries[pick % boundaries.len()];
                prop_assert_eq!(positions.of(offset), index.position(&text, offset), "{}", offset);
            }
        }
    }
}
