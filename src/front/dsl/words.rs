//! The local syntax of the DSL's tokens once the grammar has their extent: unquoting, and
//! reading globs, principals, numbers, durations and words into the IR, with the diagnostic
//! for each that is wrong. Both parsers (the pest tree walk and the hand-written one) read
//! tokens through these, so they report alike.

use std::borrow::Cow;

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::glob::Glob;
use crate::ir::{ADAPT_SETTINGS, Approver, Duration, Outcome, Priority};
use crate::source::{Span, Spanned};
use crate::suggest;

/// The text of a token: a `string`'s contents with `\"` and `\\` unescaped (any other
/// backslash is kept, so a glob's `\*` can be written as is), or a bare token as written.
/// Borrowed unless there was an escape, since most tokens are read into values that own
/// their text already.
pub(super) fn unquote(raw: &str) -> Cow<'_, str> {
    let Some(inner) = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| raw.len() >= 2)
    else {
        return Cow::Borrowed(raw);
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether the header's `version N` is the one this build reads.
pub(super) fn version(raw: &str, span: Span) -> Result<Spanned<u64>, Diagnostic> {
    match raw.parse::<u64>() {
        Ok(1) => Ok(Spanned::new(1, span)),
        _ => Err(Diagnostic::new(
            ErrorKind::UnsupportedVersion {
                found: raw.to_owned(),
            },
            span,
        )),
    }
}

/// The `N` of `N of [...]`.
pub(super) fn min_approvals(raw: &str, span: Span) -> Result<Spanned<i64>, Diagnostic> {
    raw.parse::<i64>()
        .map(|n| Spanned::new(n, span))
        .map_err(|_| {
            Diagnostic::new(
                ErrorKind::WrongType {
                    key: "minApprovals".into(),
                    expected: "a whole number",
                    found: raw.to_owned(),
                },
                span,
            )
        })
}

/// A step's name, with the complaint when it is blank.
pub(super) fn step_name(raw: &str, span: Span) -> (Spanned<String>, Option<Diagnostic>) {
    let name = Spanned::new(unquote(raw).into_owned(), span);
    let blank = name
        .node
        .trim()
        .is_empty()
        .then(|| Diagnostic::new(ErrorKind::Empty { key: "step" }, span));
    (name, blank)
}

/// `require approval` with nothing after it: accepted by the grammar so that the message can
/// say what is missing.
pub(super) fn bare_require(span: Span) -> Diagnostic {
    Diagnostic::new(
        ErrorKind::Syntax {
            reason: "`require approval` names no approvers".into(),
            hint: Some(
                "write `require approval from [user:NAME]` or `require 2 of [user:A, user:B, user:C]`"
                    .into(),
            ),
        },
        span,
    )
}

/// One of the five outcome names (the grammar admits no other).
pub(super) fn outcome(raw: &str, span: Span) -> Option<Spanned<Outcome>> {
    raw.parse::<Outcome>().ok().map(|o| Spanned::new(o, span))
}

/// A band's bound.
pub(super) fn number(raw: &str, span: Span) -> Option<Spanned<f64>> {
    raw.parse::<f64>().ok().map(|v| Spanned::new(v, span))
}

pub(super) fn priority(raw: &str, span: Span) -> Result<Spanned<Priority>, Diagnostic> {
    raw.parse::<Priority>()
        .map(|p| Spanned::new(p, span))
        .map_err(|()| {
            Diagnostic::new(
                ErrorKind::UnknownWord {
                    what: "priority",
                    found: raw.to_owned(),
                    allowed: &Priority::NAMES,
                    suggestion: suggest::closest(raw, Priority::NAMES),
                },
                span,
            )
        })
}

pub(super) fn duration(raw: &str, span: Span) -> Result<Spanned<Duration>, Diagnostic> {
    Duration::parse(raw)
        .map(|d| Spanned::new(d, span))
        .map_err(|reason| {
            Diagnostic::new(
                ErrorKind::MalformedDuration {
                    text: raw.to_owned(),
                    reason,
                },
                span,
            )
        })
}

/// A glob, quoted or bare, as written at `span`.
pub(super) fn glob(raw: &str, span: Span) -> Result<Spanned<Glob>, Diagnostic> {
    let text = unquote(raw);
    match Glob::new(&text) {
        Ok(g) => Ok(Spanned::new(g, span)),
        Err(e) => {
            let quoted = raw.starts_with('"');
            // Columns inside a quoted glob shift by one per escape before the problem;
            // point at the glob's start when there are escapes.
            let col = if raw.contains("\\\\") || raw.contains("\\\"") {
                span.col
            } else {
                span.col + u32::from(quoted) + u32::try_from(e.offset).unwrap_or(0)
            };
            Err(Diagnostic::new(
                ErrorKind::MalformedGlob {
                    glob: text.into_owned(),
                    reason: e.reason,
                },
                Span::at(span.line, col, 1),
            ))
        }
    }
}

/// One member of an approver list, quoted or bare.
pub(super) fn approver(raw: &str, span: Span) -> Result<Spanned<Approver>, Diagnostic> {
    let text = unquote(raw);
    match Approver::parse(&text) {
        Some(a) => Ok(Spanned::new(a, span)),
        None => Err(Diagnostic::new(
            ErrorKind::BadPrincipal {
                text: text.into_owned(),
            },
            span,
        )),
    }
}

/// A second value for an option a rule (or step) already has: refused, as YAML refuses a
/// key written twice, rather than silently keeping the last.
pub(super) fn once<T>(slot: &Option<Spanned<T>>, key: &str, again: Span) -> Option<Diagnostic> {
    slot.as_ref().map(|first| {
        Diagnostic::new(
            ErrorKind::DuplicateKey {
                key: key.to_owned(),
                place: "the rule's options",
                first: first.span,
            },
            again,
        )
    })
}

/// A `priority` on a chain step, which has none (the rule's priority is the request's).
pub(super) fn priority_on_step(span: Span) -> Diagnostic {
    const STEP_OPTIONS: &[&str] = &["notify", "timeout", "on timeout", "remind every"];
    Diagnostic::new(
        ErrorKind::UnknownKey {
            key: "priority".to_owned(),
            place: "a chain step",
            suggestion: None,
            allowed: STEP_OPTIONS,
        },
        span,
    )
}

/// A second `adapt` block on one rule.
pub(super) fn duplicate_adapt(first: Span, again: Span) -> Diagnostic {
    Diagnostic::new(
        ErrorKind::DuplicateKey {
            key: "adapt".to_owned(),
            place: "an escalation rule",
            first,
        },
        again,
    )
}

/// An `adapt { ... }` block read one item at a time, by either parser.
pub(super) struct AdaptReader {
    settings: crate::learn::Settings,
    approvers: Option<Spanned<Vec<Spanned<Approver>>>>,
    written: Vec<Spanned<&'static str>>,
}

impl AdaptReader {
    pub(super) fn new() -> AdaptReader {
        AdaptReader {
            settings: crate::learn::Settings::default(),
            approvers: None,
            written: Vec::new(),
        }
    }

    /// One `KEY VALUE` item; `key` is the DSL's name of one of [`ADAPT_SETTINGS`] (the
    /// grammar admits no other).
    pub(super) fn setting(&mut self, key: &str, value: &str, span: Span) -> Option<Diagnostic> {
        let Some(&(name, _)) = ADAPT_SETTINGS.iter().find(|(_, word)| *word == key) else {
            return Some(Diagnostic::new(
                ErrorKind::AdaptSetting {
                    key: "adapt",
                    message: format!("has no setting `{key}`"),
                },
                span,
            ));
        };
        if let Some(first) = self.written.iter().find(|w| w.node == name) {
            return Some(Diagnostic::new(
                ErrorKind::DuplicateKey {
                    key: key.to_owned(),
                    place: "`adapt`",
                    first: first.span,
                },
                span,
            ));
        }
        let s = &mut self.settings;
        let bad = |message: String| {
            Some(Diagnostic::new(
                ErrorKind::AdaptSetting { key: name, message },
                span,
            ))
        };
        match name {
            "minLabels" | "window" => match value.parse::<u64>() {
                Ok(n) if name == "window" => s.window = n,
                Ok(n) => s.min_labels = n,
                Err(_) => return bad(format!("must be a count of labels, not {value}")),
            },
            "perAgent" => match value {
                "true" => s.per_agent = true,
                "false" => s.per_agent = false,
                _ => return bad(format!("must be true or false, not `{value}`")),
            },
            "mode" => match crate::learn::Mode::parse(value) {
                Some(m) => s.mode = m,
                None => {
                    const MODES: &[&str] = &["propose", "auto"];
                    return Some(Diagnostic::new(
                        ErrorKind::UnknownWord {
                            what: "mode",
                            suggestion: suggest::closest(value, MODES.iter().copied()),
                            found: value.to_owned(),
                            allowed: MODES,
                        },
                        span,
                    ));
                }
            },
            _ => {
                let Some(v) = number(value, span) else {
                    return bad(format!("must be a number, not `{value}`"));
                };
                let slot = match name {
                    "alpha" => &mut s.alpha,
                    "delta" => &mut s.delta,
                    "floor" => &mut s.floor,
                    "ceiling" => &mut s.ceiling,
                    "step" => &mut s.step,
                    _ => &mut s.audit_rate,
                };
                *slot = v.node;
            }
        }
        self.written.push(Spanned::new(name, span));
        None
    }

    pub(super) fn approvers(&mut self, list: Spanned<Vec<Spanned<Approver>>>) {
        self.approvers = Some(list);
    }

    /// The block, its settings in the canonical order (as YAML's lowering gives them), so
    /// that the same settings make the same IR in either language and in any order.
    pub(super) fn finish(mut self, span: Span) -> crate::ir::Adapt {
        self.written
            .sort_by_key(|w| ADAPT_SETTINGS.iter().position(|(name, _)| *name == w.node));
        crate::ir::Adapt {
            settings: self.settings,
            approvers: self.approvers,
            written: self.written,
            span: span.into(),
        }
    }
}
