//! Where things are in a policy file: spans, and the file text they point into.

use std::fmt;
use std::sync::Arc;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub origin: Arc<str>,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(origin: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> Self {
        Source {
            origin: origin.into(),
            text: text.into(),
        }
    }

    /// The text of a 1-based line, without its line break.
    pub fn line(&self, line: u32) -> Option<&str> {
        let idx = usize::try_from(line).ok()?.checked_sub(1)?;
        self.text
            .split('\n')
            .nth(idx)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
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
