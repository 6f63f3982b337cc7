//! Where things are in a policy file: spans, and the file text they point into.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// A region of a source file. Lines and columns are 1-based and count Unicode scalar values,
/// which is what an editor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

impl Span {
    pub fn new(line: u32, col: u32, end_line: u32, end_col: u32) -> Self {
        Span {
            line,
            col,
            end_line,
            end_col,
        }
    }

    /// A span of `len` characters starting at `line:col`.
    pub fn at(line: u32, col: u32, len: u32) -> Self {
        Span::new(line, col, line, col + len.max(1))
    }

    /// The span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        let (line, col) = (self.line, self.col).min((other.line, other.col));
        let (end_line, end_col) =
            (self.end_line, self.end_col).max((other.end_line, other.end_col));
        Span::new(line, col, end_line, end_col)
    }

    /// Whether `inner` starts within this span.
    pub fn contains(&self, inner: Span) -> bool {
        let start = (inner.line, inner.col);
        (self.line, self.col) <= start && start <= (self.end_line, self.end_col)
    }

    /// Number of columns to underline on the first line (at least one).
    pub fn width_on_first_line(&self) -> u32 {
        if self.end_line == self.line && self.end_col > self.col {
            self.end_col - self.col
        } else {
            1
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A policy file's name (as the user gave it) and its text, shared by every diagnostic about it.
#[derive(Debug, Clone)]
pub struct Source {
    pub origin: Arc<str>,
    pub text: Arc<str>,
    /// Built on first use and shared by the clones, so that rendering many diagnostics finds
    /// each line without reading the text from its start again.
    index: Arc<OnceLock<LineIndex>>,
}

impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        self.origin == other.origin && self.text == other.text
    }
}

impl Eq for Source {}

impl Source {
    pub fn new(origin: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        Source {
            origin: origin.into(),
            text: text.into(),
            index: Arc::default(),
        }
    }

    /// The index of the text's lines, built once.
    pub fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::new(&self.text))
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: u32) -> Option<&str> {
        self.index().line(&self.text, line)
    }
}

/// Where lines start in a text, and how many characters precede regularly spaced byte offsets,
/// so that a position (line, column in characters) costs a binary search and a scan of at most
/// [`LineIndex::STRIDE`] bytes, however long the file or its lines. Built in one pass.
#[derive(Debug, Default)]
pub struct LineIndex {
    /// Byte offset of the start of each line; the first is 0.
    line_starts: Vec<usize>,
    /// Checkpoints on character boundaries, at least every `STRIDE` bytes: (byte offset, 0-based
    /// line, 0-based column in characters).
    marks: Vec<(usize, u32, u32)>,
    /// Whether each line is ASCII only: there a column is a byte count, with nothing to scan.
    ascii: Vec<bool>,
    /// The 0-based line of the last lookup: a parser asks in order, so the next is most often
    /// on the same line or the next one, found without a search.
    last_line: AtomicUsize,
}

impl Clone for LineIndex {
    fn clone(&self) -> Self {
        LineIndex {
            line_starts: self.line_starts.clone(),
            marks: self.marks.clone(),
            ascii: self.ascii.clone(),
            last_line: AtomicUsize::new(self.last_line.load(Ordering::Relaxed)),
        }
    }
}

impl LineIndex {
    /// The most bytes a lookup reads past its checkpoint (plus one character).
    pub const STRIDE: usize = 64;

    pub fn new(text: &str) -> Self {
        let mut index = LineIndex {
            line_starts: vec![0],
            marks: vec![(0, 0, 0)],
            ascii: vec![true],
            last_line: AtomicUsize::new(0),
        };
        let (mut line, mut col) = (0u32, 0u32);
        let mut next_mark = Self::STRIDE;
        for (at, c) in text.char_indices() {
            if at >= next_mark {
                index.marks.push((at, line, col));
                next_mark = at + Self::STRIDE;
            }
            if c == '\n' {
                line = line.saturating_add(1);
                col = 0;
                index.line_starts.push(at + 1);
                index.ascii.push(true);
            } else {
                col = col.saturating_add(1);
                if !c.is_ascii()
                    && let Some(ascii) = index.ascii.last_mut()
                {
                    *ascii = false;
                }
            }
        }
        index
    }

    /// The 1-based line and column (in characters) of a byte offset into `text`, the text the
    /// index was built from. An offset inside a character counts as that character; one past
    /// the end is the position after the last character.
    pub fn position(&self, text: &str, offset: usize) -> (u32, u32) {
        let offset = offset.min(text.len());
        let holds = |line0: usize| {
            self.line_starts.get(line0).is_some_and(|&s| s <= offset)
                && self
                    .line_starts
                    .get(line0 + 1)
                    .is_none_or(|&next| offset < next)
        };
        let last = self.last_line.load(Ordering::Relaxed);
        let line0 = if holds(last) {
            last
        } else if holds(last + 1) {
            last + 1
        } else {
            self.line_starts
                .partition_point(|&start| start <= offset)
                .saturating_sub(1)
        };
        self.last_line.store(line0, Ordering::Relaxed);
        if self.ascii.get(line0) == Some(&true)
            && let Some(&start) = self.line_starts.get(line0)
        {
            let number = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
            return (number(line0), number(offset - start));
        }
        let i = self
            .marks
            .partition_point(|m| m.0 <= offset)
            .saturating_sub(1);
        let (from, mut line, mut col) = self.marks.get(i).copied().unwrap_or((0, 0, 0));
        #[cfg(test)]
        scanned::add(offset - from);
        // A byte offset inside a character: the position is the character's own, so count
        // only the characters that start before the character holding the offset.
        let mut end = offset;
        while end > from && !text.is_char_boundary(end) {
            end -= 1;
        }
        // Bytes, not chars: a line break is one byte, and a character is a byte that does not
        // continue one (UTF-8), so the stretch is counted without decoding it.
        let stretch = text.as_bytes().get(from..end).unwrap_or_default();
        let after_break = match stretch.iter().rposition(|&b| b == b'\n') {
            Some(at) => {
                let breaks = stretch.iter().filter(|&&b| b == b'\n').count();
                line = line.saturating_add(u32::try_from(breaks).unwrap_or(u32::MAX));
                col = 0;
                stretch.get(at + 1..).unwrap_or_default()
            }
            None => stretch,
        };
        let chars = after_break.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        col = col.saturating_add(u32::try_from(chars).unwrap_or(u32::MAX));
        (line.saturating_add(1), col.saturating_add(1))
    }

    /// The byte offset of a 1-based line and column (in characters) in `text`, or `None` when
    /// the line does not exist; a column past the line's end gives the line's end.
    pub fn offset(&self, text: &str, line: u32, col: u32) -> Option<usize> {
        self.line(text, line)?;
        let line0 = line - 1;
        let col0 = col.saturating_sub(1);
        let i = self
            .marks
            .partition_point(|m| (m.1, m.2) <= (line0, col0))
            .saturating_sub(1);
        let (mut at, mut from_col) = match self.marks.get(i) {
            Some(&(at, l0, c0)) if l0 == line0 => (at, c0),
            _ => (self.line_starts[line0 as usize], 0),
        };
        // The line's end before its `\n` (a `\r` is a character of the line here).
        let end = self
            .line_starts
            .get(line0 as usize + 1)
            .map_or(text.len(), |next| next - 1);
        #[cfg(test)]
        let start = at;
        while from_col < col0 && at < end {
            let c = text.get(at..)?.chars().next()?;
            at += c.len_utf8();
            from_col += 1;
        }
        #[cfg(test)]
        scanned::add(at - start);
        Some(at)
    }

    /// The text of a 1-based line, without its line break (`\n` or `\r\n`).
    pub fn line<'t>(&self, text: &'t str, line: u32) -> Option<&'t str> {
        let idx = usize::try_from(line).ok()?.checked_sub(1)?;
        let start = *self.line_starts.get(idx)?;
        let end = self
            .line_starts
            .get(idx + 1)
            .map_or(text.len(), |next| next - 1);
        let l = text.get(start..end)?;
        Some(l.strip_suffix('\r').unwrap_or(l))
    }

    /// The number of lines (a text without a line break has one).
    pub fn lines(&self) -> usize {
        self.line_starts.len()
    }
}

/// Bytes read by position lookups on this thread, so tests can check that the work stays
/// proportional to the text rather than to its square.
#[cfg(test)]
pub(crate) mod scanned {
    use std::cell::Cell;

    thread_local! {
        static BYTES: Cell<usize> = const { Cell::new(0) };
    }

    pub(crate) fn add(n: usize) {
        BYTES.with(|b| b.set(b.get() + n));
    }

    /// Resets the count and returns what it was.
    pub(crate) fn take() -> usize {
        BYTES.with(|b| b.replace(0))
    }
}

/// A value together with where it was written. Equality ignores the span, so two policies
/// written differently (YAML and DSL, or reformatted) compare equal when they mean the same.
#[derive(Debug, Clone, Copy)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Spanned { node, span }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Spanned<U> {
        Spanned::new(f(self.node), self.span)
    }
}

impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

impl<T: Eq> Eq for Spanned<T> {}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.node
    }
}

/// Where a whole node of a policy (the document, a section, a rule, a step) was written. Like
/// the span inside [`Spanned`], it takes no part in equality.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeSpan(pub Span);

impl PartialEq for NodeSpan {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::ops::Deref for NodeSpan {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.0
    }
}

impl From<Span> for NodeSpan {
    fn from(span: Span) -> Self {
        NodeSpan(span)
    }
}

/// Something written that carries no meaning (how a band's bracket was closed), kept for tools
/// that comment on style. It takes no part in equality.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cosmetic<T>(pub T);

impl<T> PartialEq for Cosmetic<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Line and column by reading from the start, the plain definition.
    fn naive(text: &str, offset: usize) -> (u32, u32) {
        let (mut line, mut col) = (1, 1);
        for (at, c) in text.char_indices() {
            if at + c.len_utf8() > offset {
                break;
            }
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        }
        (line, col)
    }

    fn text_of(pieces: &[u8]) -> String {
        pieces
            .iter()
            .map(|p| match p % 6 {
                0 => "\n",
                1 => "é",
                2 => "\r\n",
                3 => "€𝄞",
                4 => "\t",
                _ => "abc",
            })
            .collect()
    }

    proptest! {
        #[test]
        fn positions_agree_with_reading_from_the_start(
            pieces in prop::collection::vec(any::<u8>(), 0..400),
            picks in prop::collection::vec(any::<prop::sample::Index>(), 1..20),
        ) {
            let text = text_of(&pieces);
            let index = LineIndex::new(&text);
            for pick in picks {
                let offset = pick.index(text.len() + 1);
                prop_assert_eq!(index.position(&text, offset), naive(&text, offset), "offset {}", offset);
                let (line, col) = naive(&text, offset);
                // Back from a position to the offset of its character's start.
                let back = index.offset(&text, line, col).unwrap();
                prop_assert_eq!(naive(&text, back), (line, col));
                prop_assert!(back <= offset && text.is_char_boundary(back));
            }
            let split: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
            prop_assert_eq!(index.lines(), split.len());
            for (i, l) in split.iter().enumerate() {
                prop_assert_eq!(index.line(&text, i as u32 + 1), Some(*l));
            }
            prop_assert_eq!(index.line(&text, split.len() as u32 + 1), None);
            prop_assert_eq!(index.line(&text, 0), None);
        }
    }

    #[test]
    fn a_lookup_reads_at_most_a_stride_whatever_the_line_length() {
        let text = "x".repeat(1_000_000);
        let index = LineIndex::new(&text);
        scanned::take();
        for offset in (0..text.len()).step_by(997) {
            assert_eq!(index.position(&text, offset), (1, offset as u32 + 1));
        }
        let lookups = text.len().div_ceil(997);
        assert!(scanned::take() <= lookups * LineIndex::STRIDE);
    }
}
