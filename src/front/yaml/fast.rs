//! A scanner for the YAML that policies are written in: block mappings and sequences by
//! indentation, one-line flow lists and mappings of scalars, plain and quoted scalars on one
//! line, comments. It builds the same tree as saphyr-parser (same nodes, values, styles and
//! spans) in a fraction of the work, because it knows nothing of the rest of YAML.
//!
//! Whatever it is not sure of (anchors, aliases, tags, block and multi-line scalars, nested
//! flow collections, directives, complex keys, tabs, control characters, any syntax error) it
//! gives up on, and saphyr-parser reads the text as before: every error message and every
//! refusal stays the parser's, word for word.

use std::borrow::Cow;

use super::tree::{Node, NodeKind};
use crate::source::Span;

/// How deep collections may nest here; deeper documents go to saphyr-parser, which enforces
/// [`super::tree::MAX_DEPTH`] with its own error.
const DEPTH: usize = 64;

/// The longest key (in bytes) read here: saphyr-parser refuses implicit keys over 1024
/// characters, so anything near that is left to it.
const MAX_KEY: usize = 1000;

/// The tree of `text`, or `None` when it is outside the subset this scanner reads.
pub(crate) fn parse(text: &str) -> Option<Node<'_>> {
    // saphyr-parser skips a leading byte-order mark without counting it as a column.
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let ascii = body.is_ascii();
    if !readable(body, ascii) {
        return None;
    }
    let mut s = Scanner::new(body, ascii);
    s.advance(true)?;
    if s.starts_with(b"---") {
        // The one document's start marker, alone on its line (a comment may follow).
        let rest = s.skip_spaces(s.start + 3);
        if rest < s.end && (rest == s.start + 3 || s.at(rest) != b'#') {
            return None;
        }
        s.advance(false)?;
    }
    if s.done {
        return None;
    }
    let root = s.block_node(s.start + s.indent, 0, None)?;
    s.done.then_some(root)
}

/// Whether every character is one YAML reads without question: no control character but
/// line breaks (`\r` only before `\n`), no tab, and none of the Unicode characters YAML refuses
/// or treats specially (C1 controls, a byte-order mark, U+2028/9, non-characters).
fn readable(text: &str, ascii: bool) -> bool {
    let bytes = text.as_bytes();
    // Block by block without stopping early, which the compiler turns into vector code: this
    // pass reads every byte of the policy.
    let control = |b: u8| (b < 0x20 && b != b'\n' && b != b'\r') || b == 0x7f;
    if bytes
        .chunks(256)
        .any(|block| block.iter().fold(false, |seen, &b| seen | control(b)))
    {
        return false;
    }
    if memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n')) {
        return false;
    }
    ascii || !text.chars().any(special)
}

/// The characters beyond ASCII that YAML refuses or reads as more than text.
fn special(c: char) -> bool {
    let c = u32::from(c);
    (0x80..=0x9f).contains(&c) || matches!(c, 0x2028 | 0x2029 | 0xfeff | 0xfffe | 0xffff)
}

/// The characters that end a plain scalar in a flow collection, or may not start one.
fn flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

fn blank(b: u8) -> bool {
    b == b' ' || b == b'\n'
}

/// Reads the text line by line, standing on one content line (not blank, not only a comment)
/// at a time.
struct Scanner<'t> {
    src: &'t str,
    text: &'t [u8],
    /// The current line: where it starts, where its text ends (before `\r\n` or `\n`), its
    /// 1-based number, its indentation, and whether it is ASCII (then a column is a byte count).
    start: usize,
    end: usize,
    line: u32,
    indent: usize,
    ascii: bool,
    /// Whether the whole text is ASCII, when no line need be checked.
    all_ascii: bool,
    /// Where the next line starts.
    next: usize,
    /// No content line is left.
    done: bool,
    /// The last column asked for on this line (byte offset, 1-based column), so that columns
    /// on a long non-ASCII line are counted from there rather than from the line's start.
    mark: (usize, u32),
    /// The items and entries of the collections being read, innermost last: each collection
    /// is copied out once, at its exact size, when it ends.
    items: Vec<Node<'t>>,
    entries: Vec<(Node<'t>, Node<'t>)>,
}

impl<'t> Scanner<'t> {
    fn new(src: &'t str, ascii: bool) -> Self {
        Scanner {
            all_ascii: ascii,
            src,
            text: src.as_bytes(),
            start: 0,
            end: 0,
            line: 0,
            indent: 0,
            ascii: true,
            next: 0,
            done: false,
            mark: (0, 1),
            items: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// The byte at `i` on the current line, or `\n` past its end.
    fn at(&self, i: usize) -> u8 {
        if i < self.end { self.text[i] } else { b'\n' }
    }

    fn starts_with(&self, prefix: &[u8]) -> bool {
        self.text[self.start..self.end].starts_with(prefix)
    }

    fn skip_spaces(&self, mut i: usize) -> usize {
        while i < self.end && self.text[i] == b' ' {
            i += 1;
        }
        i
    }

    /// Moves to the next content line, or sets `done`. A document marker (`---`, `...`) is
    /// left to saphyr-parser, but for the first line's `---` when `first`.
    fn advance(&mut self, first: bool) -> Option<()> {
        loop {
            if self.next >= self.text.len() {
                self.done = true;
                return Some(());
            }
            self.start = self.next;
            self.line = self.line.saturating_add(1);
            let rest = &self.text[self.start..];
            let (end, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (self.start + i, self.start + i + 1),
                None => (self.text.len(), self.text.len()),
            };
            self.next = next;
            self.end = if end > self.start && self.text[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            let indent = self.skip_spaces(self.start);
            if indent == self.end || self.text[indent] == b'#' {
                continue;
            }
            self.indent = indent - self.start;
            if self.indent == 0
                && (self.starts_with(b"...") || (self.starts_with(b"---") && !first))
            {
                return None;
            }
            self.ascii = self.all_ascii || self.text[self.start..self.end].is_ascii();
            self.mark = (self.start, 1);
            return Some(());
        }
    }

    /// The 1-based column of byte `i` on the current line, in characters.
    #[inline]
    fn col(&mut self, i: usize) -> u32 {
        let col = if self.ascii {
            i - self.start + 1
        } else {
            let (from, base) = if i >= self.mark.0 {
                self.mark
            } else {
                (self.start, 1)
            };
            let col = base as usize + self.src[from..i].chars().count();
            self.mark = (i, u32::try_from(col).unwrap_or(u32::MAX));
            col
        };
        u32::try_from(col).unwrap_or(u32::MAX)
    }

    fn span(&mut self, from: usize, to: usize) -> Span {
        let (col, end_col) = (self.col(from), self.col(to));
        Span::new(self.line, col, self.line, end_col)
    }

    /// Whether `i` holds a `-` that starts a block sequence entry.
    fn entry_at(&self, i: usize) -> bool {
        self.at(i) == b'-' && blank(self.at(i + 1))
    }

    /// Whether `i` holds the `:` of a block mapping's key.
    fn colon_at(&self, i: usize) -> bool {
        self.at(i) == b':' && blank(self.at(i + 1))
    }

    /// A node in block context starting at `p` on the current line, which the scanner leaves
    /// behind it. `scalar_limit` is the indentation a scalar's next line must not exceed, when
    /// a scalar (or a flow collection) may stand here at all.
    fn block_node(
        &mut self,
        p: usize,
        depth: usize,
        scalar_limit: Option<usize>,
    ) -> Option<Node<'t>> {
        if self.entry_at(p) {
            return self.block_seq(p, depth, false);
        }
        let (node, after) = match self.at(p) {
            b'[' => self.flow_seq(p, depth)?,
            b'{' => self.flow_map(p, depth)?,
            _ => {
                let (key, after) = self.scalar(p, false)?;
                if self.colon_at(after) && after - p <= MAX_KEY {
                    return self.block_map(p, key, after + 1, depth);
                }
                (key, after)
            }
        };
        self.finish(after, scalar_limit?)?;
        Some(node)
    }

    /// After a node that ends on its line: only a comment may follow, and the next content
    /// line may not be indented past `limit` (that would continue the scalar, or be an error).
    fn finish(&mut self, after: usize, limit: usize) -> Option<()> {
        let rest = self.skip_spaces(after);
        if rest < self.end && !(self.text[rest] == b'#' && rest > after) {
            return None;
        }
        self.advance(false)?;
        (self.done || self.indent <= limit).then_some(())
    }

    /// A block mapping whose first key (already read) starts at `p`; its value starts at
    /// `after`, just past the key's `:`.
    fn block_map(
        &mut self,
        p: usize,
        first: Node<'t>,
        after: usize,
        depth: usize,
    ) -> Option<Node<'t>> {
        if depth >= DEPTH {
            return None;
        }
        let n = p - self.start;
        let start = Span::new(
            first.span.line,
            first.span.col,
            first.span.line,
            first.span.col,
        );
        let base = self.entries.len();
        let (mut key, mut after) = (first, after);
        loop {
            let value = self.map_value(n, after, depth + 1)?;
            self.entries.push((key, value));
            if self.done || self.indent < n {
                break;
            }
            if self.indent > n {
                return None;
            }
            let p = self.start + n;
            if matches!(self.at(p), b'-' | b'[' | b'{') {
                return None;
            }
            let (next, end) = self.scalar(p, false)?;
            if !self.colon_at(end) || end - p > MAX_KEY {
                return None;
            }
            (key, after) = (next, end + 1);
        }
        let entries: Vec<_> = self.entries.drain(base..).collect();
        let end = entries.last().map_or(start, |(_, v)| v.span);
        Some(Node {
            kind: NodeKind::Map(entries),
            span: start.to(end),
        })
    }

    /// The value of a key of a mapping indented `n`, starting just past its `:` at `after`.
    fn map_value(&mut self, n: usize, after: usize, depth: usize) -> Option<Node<'t>> {
        let rest = self.skip_spaces(after);
        if rest < self.end && self.text[rest] != b'#' {
            let (node, end) = match self.at(rest) {
                b'[' => self.flow_seq(rest, depth)?,
                b'{' => self.flow_map(rest, depth)?,
                _ => self.scalar(rest, false)?,
            };
            self.finish(end, n)?;
            return Some(node);
        }
        // Nothing follows the `:` on its line: the value is below, or empty, and an empty
        // value is where the `:` is.
        let colon = self.col(after - 1);
        let empty = Node {
            kind: NodeKind::Scalar {
                value: Cow::Borrowed(""),
                plain: true,
            },
            span: Span::new(self.line, colon, self.line, colon),
        };
        self.advance(false)?;
        if self.done || self.indent < n {
            return Some(empty);
        }
        let p = self.start + self.indent;
        if self.indent == n {
            if self.entry_at(p) {
                return self.block_seq(p, depth, true);
            }
            return Some(empty);
        }
        self.block_node(p, depth, None)
    }

    /// A block sequence whose first `-` is at `p`. An indentless one (the value of a key at
    /// the key's own indentation) starts where its first item does, as saphyr-parser says.
    fn block_seq(&mut self, p: usize, depth: usize, indentless: bool) -> Option<Node<'t>> {
        if depth >= DEPTH {
            return None;
        }
        let n = p - self.start;
        let mut start = if indentless {
            None
        } else {
            let col = self.col(p);
            Some(Span::new(self.line, col, self.line, col))
        };
        let base = self.items.len();
        let mut p = p;
        loop {
            let content = self.skip_spaces(p + 1);
            let item = if content >= self.end || self.text[content] == b'#' {
                start?;
                self.advance(false)?;
                if self.done || self.indent <= n {
                    // An empty item.
                    return None;
                }
                self.block_node(self.start + self.indent, depth + 1, None)?
            } else {
                if start.is_none() {
                    let col = self.col(content);
                    start = Some(Span::new(self.line, col, self.line, col));
                }
                self.block_node(content, depth + 1, Some(n))?
            };
            self.items.push(item);
            if self.done || self.indent < n {
                break;
            }
            if self.indent > n {
                return None;
            }
            let q = self.start + n;
            if self.entry_at(q) {
                p = q;
            } else if indentless {
                break;
            } else {
                return None;
            }
        }
        let start = start?;
        let items: Vec<_> = self.items.drain(base..).collect();
        let end = items.last().map_or(start, |n| n.span);
        Some(Node {
            kind: NodeKind::Seq(items),
            span: start.to(end),
        })
    }

    /// A flow list `[a, b]` of scalars, on one line.
    fn flow_seq(&mut self, p: usize, depth: usize) -> Option<(Node<'t>, usize)> {
        if depth >= DEPTH {
            return None;
        }
        let mut i = self.skip_spaces(p + 1);
        let open = self.span(p, i);
        let mut items = Vec::new();
        if self.at(i) != b']' {
            loop {
                let (item, end) = self.scalar(i, true)?;
                items.push(item);
                let r = self.skip_spaces(end);
                match self.at(r) {
                    b',' => {
                        i = self.skip_spaces(r + 1);
                        if self.at(i) == b']' {
                            return None;
                        }
                    }
                    b']' => {
                        i = r;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let end = items.last().map_or(open, |n| n.span);
        let node = Node {
            kind: NodeKind::Seq(items),
            span: open.to(end),
        };
        Some((node, i + 1))
    }

    /// A flow mapping `{k: v, k: v}` of scalars, on one line.
    fn flow_map(&mut self, p: usize, depth: usize) -> Option<(Node<'t>, usize)> {
        if depth >= DEPTH {
            return None;
        }
        // The opening bracket's span runs over the spaces after it, as saphyr-parser has it.
        let mut i = self.skip_spaces(p + 1);
        let open = self.span(p, i);
        let mut entries = Vec::new();
        if self.at(i) != b'}' {
            loop {
                let (key, end) = self.scalar(i, true)?;
                if self.at(end) != b':' || self.at(end + 1) != b' ' {
                    return None;
                }
                let v = self.skip_spaces(end + 1);
                let (value, end) = self.scalar(v, true)?;
                entries.push((key, value));
                let r = self.skip_spaces(end);
                match self.at(r) {
                    b',' => {
                        i = self.skip_spaces(r + 1);
                        if self.at(i) == b'}' {
                            return None;
                        }
                    }
                    b'}' => {
                        i = r;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let end = entries.last().map_or(open, |(_, v)| v.span);
        let node = Node {
            kind: NodeKind::Map(entries),
            span: open.to(end),
        };
        Some((node, i + 1))
    }

    /// A scalar starting at `p`, and where it ends.
    fn scalar(&mut self, p: usize, flow: bool) -> Option<(Node<'t>, usize)> {
        match self.at(p) {
            b'"' => self.double_quoted(p),
            b'\'' => self.single_quoted(p),
            _ => self.plain(p, flow),
        }
    }

    fn plain(&mut self, p: usize, flow: bool) -> Option<(Node<'t>, usize)> {
        let first = self.at(p);
        let indicator = matches!(
            first,
            b',' | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
                | b'?'
                | b':'
                | b'\n'
                | b' '
        );
        let next = self.at(p + 1);
        if indicator || (first == b'-' && (blank(next) || flow_indicator(next))) {
            return None;
        }
        let last = if flow {
            self.flow_plain_end(p)?
        } else {
            self.block_plain_end(p)
        };
        let value = Cow::Borrowed(&self.src[p..last]);
        let span = self.span(p, last);
        let node = Node {
            kind: NodeKind::Scalar { value, plain: true },
            span,
        };
        Some((node, last))
    }

    /// Where a plain scalar starting at `p` in block context ends, trailing spaces left out:
    /// at `: `, at a `:` ending the line, at ` #`, or at the end of the line.
    fn block_plain_end(&self, p: usize) -> usize {
        let mut i = p;
        let stop = loop {
            let Some(k) = memchr::memchr2(b':', b'#', &self.text[i..self.end]) else {
                break self.end;
            };
            let j = i + k;
            let ends = if self.text[j] == b'#' {
                self.text[j - 1] == b' '
            } else {
                blank(self.at(j + 1))
            };
            if ends {
                break j;
            }
            i = j + 1;
        };
        let mut last = stop;
        while last > p && self.text[last - 1] == b' ' {
            last -= 1;
        }
        last
    }

    /// The same in a flow collection, where `,[]{}` end it too; `None` where saphyr-parser
    /// would refuse it.
    fn flow_plain_end(&self, p: usize) -> Option<usize> {
        let (mut i, mut last) = (p, p);
        while i < self.end {
            let b = self.text[i];
            if b == b' ' {
                i += 1;
                // saphyr-parser refuses a word of a flow scalar that starts with `-` and a
                // flow indicator.
                if self.at(i) == b'-' && flow_indicator(self.at(i + 1)) {
                    return None;
                }
                continue;
            }
            let ends = match b {
                b'#' => self.text[i - 1] == b' ',
                b':' => {
                    let next = self.at(i + 1);
                    blank(next) || flow_indicator(next)
                }
                _ => flow_indicator(b),
            };
            if ends {
                break;
            }
            i += 1;
            last = i;
        }
        Some(last)
    }

    fn single_quoted(&mut self, p: usize) -> Option<(Node<'t>, usize)> {
        let close = p + 1 + memchr::memchr(b'\'', &self.text[p + 1..self.end])?;
        if self.at(close + 1) != b'\'' {
            return self.quoted(p, close + 1, Cow::Borrowed(&self.src[p + 1..close]));
        }
        // `''` stands for a quote.
        let mut value = String::new();
        let mut run = p + 1;
        loop {
            let close = run + memchr::memchr(b'\'', &self.text[run..self.end])?;
            value.push_str(&self.src[run..close]);
            if self.at(close + 1) != b'\'' {
                return self.quoted(p, close + 1, Cow::Owned(value));
            }
            value.push('\'');
            run = close + 2;
        }
    }

    fn double_quoted(&mut self, p: usize) -> Option<(Node<'t>, usize)> {
        let first = p + 1 + memchr::memchr2(b'"', b'\\', &self.text[p + 1..self.end])?;
        if self.text[first] == b'"' {
            return self.quoted(p, first + 1, Cow::Borrowed(&self.src[p + 1..first]));
        }
        let mut value = String::new();
        let mut run = p + 1;
        loop {
            let i = run + memchr::memchr2(b'"', b'\\', &self.text[run..self.end])?;
            value.push_str(&self.src[run..i]);
            if self.text[i] == b'"' {
                return self.quoted(p, i + 1, Cow::Owned(value));
            }
            let (c, len) = self.escape(i + 1)?;
            value.push(c);
            run = i + 1 + len;
        }
    }

    /// The character an escape stands for (the part after its `\` starts at `i`), and the
    /// escape's length after the `\`.
    fn escape(&self, i: usize) -> Option<(char, usize)> {
        let c = match self.at(i) {
            b'0' => '\0',
            b'a' => '\u{7}',
            b'b' => '\u{8}',
            b't' => '\t',
            b'n' => '\n',
            b'v' => '\u{b}',
            b'f' => '\u{c}',
            b'r' => '\r',
            b'e' => '\u{1b}',
            b' ' => ' ',
            b'"' => '"',
            b'/' => '/',
            b'\\' => '\\',
            b'N' => '\u{85}',
            b'_' => '\u{a0}',
            b'L' => '\u{2028}',
            b'P' => '\u{2029}',
            b'x' => return self.hex(i + 1, 2),
            b'u' => return self.hex(i + 1, 4),
            b'U' => return self.hex(i + 1, 8),
            _ => return None,
        };
        Some((c, 1))
    }

    fn hex(&self, i: usize, digits: usize) -> Option<(char, usize)> {
        let text = self
            .src
            .get(i..i + digits)
            .filter(|_| i + digits <= self.end)?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let code = u32::from_str_radix(text, 16).ok()?;
        Some((char::from_u32(code)?, 1 + digits))
    }

    /// A quoted scalar from its opening quote at `p` to past its closing one at `end`. As
    /// saphyr-parser has it, the scalar's span runs on over the spaces after it, and over a
    /// comment to the end of the line.
    fn quoted(&mut self, p: usize, end: usize, value: Cow<'t, str>) -> Option<(Node<'t>, usize)> {
        let mut end = end;
        let spaces = self.skip_spaces(end);
        if spaces > end {
            end = if self.at(spaces) == b'#' {
                self.end
            } else {
                spaces
            };
        }
        let span = self.span(p, end);
        let node = Node {
            kind: NodeKind::Scalar {
                value,
                plain: false,
            },
            span,
        };
        Some((node, end))
    }
}
