//! The product document's JSON rule lists: the bodies of `setHITLPolicy({rules: [...]})` and
//! `setEscalationPolicy({rules: [...]})`, read into one section of a policy.
//!
//! A rule in JSON has exactly the keys (and values) of a rule in a YAML policy, so the JSON is
//! read strictly ([`crate::json`]: duplicate keys refused) and then lowered by the YAML front
//! end's own rules, over a tree built from it: unknown keys, wrong types, malformed globs and
//! the rest are refused with the same messages as in a policy file. Validation then judges the
//! section within the policy it goes into (its groups, its other section).
//!
//! Every problem names the JSON path of the value at fault (`rules[1].minApprovals`) and its
//! line and column in the body. For that, each node of the tree gets a made-up line of its own:
//! its place in the document order of the body's keys and values, past the last line of the
//! policy it goes into, so that a diagnostic's line says which value it is about, and whether
//! it is about the body or the rest of the policy.

use std::borrow::Cow;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::front::yaml::lower::Lowering;
use crate::front::yaml::tree::{Node, NodeKind};
use crate::ir::{Comments, PolicyDoc};
use crate::source::{NodeSpan, Span, Spanned};

/// Which section a rule list replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSection {
    /// `setHITLPolicy`: the `hitl` rules.
    Hitl,
    /// `setEscalationPolicy`: the `escalation` rules.
    Escalation,
}

impl RuleSection {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSection::Hitl => "hitl",
            RuleSection::Escalation => "escalation",
        }
    }
}

/// One problem with a rule list: where it is, and the JSON path of the value at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleListProblem {
    /// The problem; its span is in the body when `in_body`, else in the text of the policy
    /// the section goes into (a finding of validation about the rest of it).
    pub diagnostic: Diagnostic,
    pub in_body: bool,
    /// The path of the value at fault in the body (`rules[0].approvers[1]`); `None` for the
    /// body as a whole, or a problem outside it.
    pub field: Option<String>,
}

/// The policy `base` (written in a text of `base_lines` lines) with `section` replaced by the
/// rules of the JSON `body`, validated; or every problem found. With no base, the policy is
/// the section alone.
pub fn replace_section(
    base: Option<&PolicyDoc>,
    base_lines: u32,
    section: RuleSection,
    body: &str,
    channels: &crate::runtime::Channels,
) -> Result<PolicyDoc, Vec<RuleListProblem>> {
    let value = crate::json::parse(body).map_err(|e| vec![syntax_problem(&e)])?;
    let offset = base_lines.saturating_add(1);
    let mut tree = Tree {
        offset,
        places: Vec::new(),
    };
    let root = tree.node(&value, String::new());
    let positions = positions(body);
    let place = |line: u32| -> Option<(&str, (u32, u32))> {
        let i = usize::try_from(line.checked_sub(offset)?.checked_sub(1)?).ok()?;
        let path = tree.places.get(i)?;
        // The body was read, so it holds one position per key and value; the fallback is
        // for a reader that one day disagrees, and points at the start of the body.
        Some((path.as_str(), positions.get(i).copied().unwrap_or((1, 1))))
    };

    let mut lowering = Lowering::new();
    let mut doc = base.cloned().unwrap_or_else(empty_doc);
    let old_header = match section {
        RuleSection::Hitl => doc.hitl.as_ref().map(|s| s.span.line),
        RuleSection::Escalation => doc.escalation.as_ref().map(|s| s.span.line),
    };
    match section {
        RuleSection::Hitl => doc.hitl = lowering.hitl_section(&root),
        RuleSection::Escalation => doc.escalation = lowering.escalation_section(&root),
    }
    // A comment above the old section's header stays above the new one.
    if let Some(line) = old_header
        && let Some(comments) = doc.comments.by_line.remove(&line)
    {
        doc.comments.by_line.insert(root.span.line, comments);
    }

    let mut found = lowering.diagnostics;
    let tainted = Marks::new(&lowering.tainted, offset, tree.places.len());
    if let Err(more) = crate::check::validate(&doc) {
        // As for a policy file: what validation says inside a rule that already has an
        // error may only echo it.
        found.extend(
            more.into_iter()
                .filter(|d| !(d.kind.may_echo() && tainted.holds(d.span.line))),
        );
    }
    found.extend(super::channels::unconfigured(&doc, channels));
    if found.is_empty() {
        return Ok(doc);
    }
    found.sort_by_key(|d| (d.span.line, d.span.col));
    found.dedup();
    Err(found
        .into_iter()
        .map(|mut d| {
            relocate_firsts(&mut d.kind, &place);
            match place(d.span.line) {
                Some((path, (line, col))) => RuleListProblem {
                    diagnostic: Diagnostic::new(d.kind, Span::at(line, col, 1)),
                    in_body: true,
                    field: (!path.is_empty()).then(|| path.to_owned()),
                },
                None => RuleListProblem {
                    diagnostic: d,
                    in_body: false,
                    field: None,
                },
            }
        })
        .collect())
}

/// A body that is not strict JSON.
fn syntax_problem(e: &crate::json::JsonError) -> RuleListProblem {
    let field = e.duplicate_key().map(|key| {
        let mut path = String::new();
        for step in e.duplicate_within() {
            match step.parse::<usize>() {
                Ok(i) => path.push_str(&format!("[{i}]")),
                Err(_) => push_key(&mut path, step),
            }
        }
        push_key(&mut path, key);
        path
    });
    let (line, col) = (e.line().max(1), e.column().max(1));
    let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    RuleListProblem {
        diagnostic: Diagnostic::new(
            ErrorKind::Syntax {
                reason: format!("the body is not valid JSON: {e}"),
                hint: Some("send one JSON object, {\"rules\": [...]}, with each key once".into()),
            },
            Span::at(at(line), at(col), 1),
        ),
        in_body: true,
        field,
    }
}

/// Appends a key to a path: `.key`, or `["key"]` when it is not a plain word.
fn push_key(path: &mut String, key: &str) {
    let word = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if word {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push_str(&format!("[{}]", Value::String(key.to_owned())));
    }
}

/// The hints that name where something was first written point into the body too.
fn relocate_firsts<'p>(
    kind: &mut ErrorKind,
    place: &impl Fn(u32) -> Option<(&'p str, (u32, u32))>,
) {
    let first = match kind {
        ErrorKind::DuplicateKey { first, .. }
        | ErrorKind::DuplicateGroup { first, .. }
        | ErrorKind::DuplicateRuleId { first, .. } => first,
        _ => return,
    };
    if let Some((_, (line, col))) = place(first.line) {
        *first = Span::at(line, col, 1);
    }
}

fn empty_doc() -> PolicyDoc {
    PolicyDoc {
        version: Spanned::new(1, Span::default()),
        name: None,
        groups: Vec::new(),
        defaults: None,
        hitl: None,
        escalation: None,
        span: NodeSpan::from(Span::default()),
        comments: Comments::default(),
    }
}

/// Builds the tree the YAML lowering reads, giving each key and value its made-up line.
struct Tree {
    offset: u32,
    /// The JSON path of each key and value, in document order.
    places: Vec<String>,
}

impl Tree {
    fn next_line(&mut self, path: String) -> u32 {
        self.places.push(path);
        self.offset
            .saturating_add(u32::try_from(self.places.len()).unwrap_or(u32::MAX))
    }

    fn last_line(&self) -> u32 {
        self.offset
            .saturating_add(u32::try_from(self.places.len()).unwrap_or(u32::MAX))
    }

    /// A scalar reads as the YAML one it would be written as: a string always quoted (so it is
    /// always a string), numbers, booleans and null plain.
    fn node(&mut self, value: &Value, path: String) -> Node<'static> {
        let line = self.next_line(path.clone());
        let scalar = |text: String, plain: bool| NodeKind::Scalar {
            value: Cow::Owned(text),
            plain,
        };
        let kind = match value {
            Value::Null => scalar("null".into(), true),
            Value::Bool(b) => scalar(b.to_string(), true),
            Value::Number(n) => scalar(n.to_string(), true),
            Value::String(s) => scalar(s.clone(), false),
            Value::Array(items) => NodeKind::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, format!("{path}[{i}]")))
                    .collect(),
            ),
            Value::Object(map) => NodeKind::Map(
                map.iter()
                    .map(|(k, v)| {
                        let mut at = path.clone();
                        push_key(&mut at, k);
                        let key_line = self.next_line(at.clone());
                        let key = Node {
                            kind: scalar(k.clone(), false),
                            span: Span::new(key_line, 1, key_line, 2),
                        };
                        (key, self.node(v, at))
                    })
                    .collect(),
            ),
        };
        // A node spans its descendants' lines, so that "inside this rule" means what it says.
        Node {
            kind,
            span: Span::new(line, 1, self.last_line(), 2),
        }
    }
}

/// Which made-up lines are inside a rule that had an error.
struct Marks {
    offset: u32,
    marked: Vec<bool>,
}

impl Marks {
    fn new(spans: &[Span], offset: u32, len: usize) -> Marks {
        // A difference array: +1 where a span starts, -1 after it ends; linear in the body.
        let mut delta = vec![0i32; len + 1];
        let index = |line: u32| {
            line.checked_sub(offset)
                .and_then(|l| l.checked_sub(1))
                .and_then(|l| usize::try_from(l).ok())
        };
        for s in spans {
            if let (Some(a), Some(b)) = (index(s.line), index(s.end_line))
                && a <= b
                && b < len
            {
                delta[a] += 1;
                delta[b + 1] -= 1;
            }
        }
        let mut depth = 0;
        let marked = delta[..len]
            .iter()
            .map(|d| {
                depth += d;
                depth > 0
            })
            .collect();
        Marks { offset, marked }
    }

    fn holds(&self, line: u32) -> bool {
        line.checked_sub(self.offset)
            .and_then(|l| l.checked_sub(1))
            .and_then(|l| usize::try_from(l).ok())
            .and_then(|i| self.marked.get(i).copied())
            .unwrap_or(false)
    }
}

/// The 1-based line and column where each key and value of a JSON text starts, in document
/// order (the order [`Tree`] numbers them in). Only for a text [`crate::json::parse`] has
/// read: it does not check the syntax again.
fn positions(text: &str) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let (mut line, mut col) = (1u32, 1u32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let here = (line, col);
        let mut advance = |c: char| {
            if c == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
        };
        advance(c);
        match c {
            // Keys and values alike start where a string, an object or a list opens.
            '{' | '[' => out.push(here),
            '}' | ']' | ',' | ':' => {}
            '"' => {
                out.push(here);
                let mut escaped = false;
                for c in chars.by_ref() {
                    advance(c);
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => break,
                        _ => {}
                    }
                }
            }
            c if c.is_whitespace() => {}
            _ => {
                // A number, true, false or null: one value, up to the next delimiter.
                out.push(here);
                while let Some(&n) = chars.peek() {
                    if matches!(n, ',' | ']' | '}') || n.is_whitespace() {
                        break;
                    }
                    advance(n);
                    chars.next();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_the_document_order_of_keys_and_values() {
        let text = "{\"rules\": [\n  {\"a\": \"x,\\\"y\", \"b\": [1, true]},\n  null\n]}";
        assert_eq!(
            positions(text),
            vec![
                (1, 1),  // the object
                (1, 2),  // "rules"
                (1, 11), // the list
                (2, 3),  // the rule
                (2, 4),  // "a"
                (2, 9),  // its value, with a comma and an escaped quote inside
                (2, 18), // "b"
                (2, 23), // [1, true]
                (2, 24),
                (2, 27),
                (3, 3), // null
            ]
        );
        let mut tree = Tree {
            offset: 0,
            places: Vec::new(),
        };
        tree.node(&crate::json::parse(text).unwrap(), String::new());
        assert_eq!(
            tree.places,
            [
                "",
                "rules",
                "rules",
                "rules[0]",
                "rules[0].a",
                "rules[0].a",
                "rules[0].b",
                "rules[0].b",
                "rules[0].b[0]",
                "rules[0].b[1]",
                "rules[1]"
            ]
        );
    }

    #[test]
    fn keys_that_are_not_words_are_quoted_in_paths() {
        let mut path = "rules[0]".to_owned();
        push_key(&mut path, "odd key.\"x\"");
        assert_eq!(path, r#"rules[0]["odd key.\"x\""]"#);
    }
}
