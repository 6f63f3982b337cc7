//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Built from saphyr-parser's event stream, which reports a span for every event. Mapping keys
//! keep their order and duplicates, so the lowering can report a duplicate key instead of
//! silently keeping one.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::source::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Node<'t> {
    pub kind: NodeKind<'t>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind<'t> {
    /// A scalar and whether it was quoted (a quoted scalar is always a string). Its text is
    /// borrowed from the document where it is written there as it reads.
    Scalar {
        value: Cow<'t, str>,
        plain: bool,
    },
    Seq(Vec<Node<'t>>),
    Map(Vec<(Node<'t>, Node<'t>)>),
}

impl Node<'_> {
    /// How the node would be described to a person ("a list", "the string `x`").
    pub fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Map(_) => "a mapping".into(),
            NodeKind::Scalar {
                value,
                plain: false,
            } => format!("the string \"{value}\""),
            NodeKind::Scalar { value, plain: true } => match plain_type(value) {
                PlainType::Null => "nothing (null)".into(),
                PlainType::Bool => format!("the boolean `{value}`"),
                PlainType::Int | PlainType::Float => format!("the number `{value}`"),
                PlainType::Str => format!("the string `{value}`"),
            },
        }
    }
}

/// The YAML 1.2 core schema's reading of a plain scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainType {
    Null,
    Bool,
    Int,
    Float,
    Str,
}

pub fn plain_type(value: &str) -> PlainType {
    match value {
        "" | "~" | "null" | "Null" | "NULL" => PlainType::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => PlainType::Bool,
        _ if value.parse::<i64>().is_ok() => PlainType::Int,
        _ if is_float(value) => PlainType::Float,
        _ => PlainType::Str,
    }
}

fn is_float(value: &str) -> bool {
    let body = value.strip_prefix(['-', '+']).unwrap_or(value);
    let numeric = body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'));
    (numeric && value.parse::<f64>().is_ok())
        || matches!(body, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN")
}

fn span_of(s: &YamlSpan) -> Span {
    let line = |m: usize| u32::try_from(m).unwrap_or(u32::MAX);
    Span::new(
        line(s.start.line()),
        line(s.start.col()) + 1,
        line(s.end.line()),
        line(s.end.col()) + 1,
    )
}

/// The deepest nesting of lists and mappings a document may have (as for JSON): a policy
/// needs about eight levels, and every walk of the tree (lowering, dropping it) may then
/// recurse without fear for the stack.
pub const MAX_DEPTH: usize = 128;

/// What aliases may add to a document, beyond one per byte of its text, counting a node as 1
/// and a scalar's text by its bytes. An alias stands for a copy of its anchor's node, so
/// without a bound a few hundred bytes of nested aliases ("billion laughs") would expand to
/// gigabytes.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// A collection being read: its items so far, where it starts, its anchor, and its size
/// (nodes and scalar bytes, itself included).
enum Open<'t> {
    Seq(Vec<Node<'t>>, Span, usize, usize),
    Map(
        Vec<(Node<'t>, Node<'t>)>,
        Option<Node<'t>>,
        Span,
        usize,
        usize,
    ),
}

impl Open<'_> {
    fn add_size(&mut self, nodes: usize) {
        match self {
            Open::Seq(.., size) | Open::Map(.., size) => *size = size.saturating_add(nodes),
        }
    }
}

/// Parses the text into one document tree, or the syntax error with its position. The
/// policy scanner ([`super::fast`]) reads the ordinary policy; saphyr-parser reads whatever
/// it leaves, and so reports every error.
pub fn parse(text: &str) -> Result<Node<'_>, Diagnostic> {
    match super::fast::parse(text) {
        Some(root) => Ok(root),
        None => parse_events(text),
    }
}

/// [`parse`] by saphyr-parser's events alone.
pub fn parse_events(text: &str) -> Result<Node<'_>, Diagnostic> {
    let mut stack: Vec<Open> = Vec::new();
    // Each anchored node with its size.
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut alias_budget = MAX_ALIAS_NODES.saturating_add(text.len());
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, yspan) = item.map_err(|e| {
            let m = e.marker();
            let line = u32::try_from(m.line()).unwrap_or(u32::MAX);
            let col = u32::try_from(m.col()).unwrap_or(u32::MAX) + 1;
            // YAML refuses tabs for indentation, and the parser's words for it ("tabs
            // disallowed within this context") do not say what to type instead.
            let hint = if e.info().contains("tab") {
                "indent with spaces: YAML does not allow tabs in indentation"
            } else {
                "check the indentation and that every `[`, `{` and quote is closed"
            };
            Diagnostic::new(
                ErrorKind::Syntax {
                    reason: e.info().to_owned(),
                    hint: Some(hint.into()),
                },
                Span::at(line, col, 1),
            )
        })?;
        let span = span_of(&yspan);
        let finished = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(Diagnostic::new(ErrorKind::SeveralDocuments, span));
                }
                None
            }
            Event::Scalar(value, style, anchor, _tag) => {
                let size = 1 + value.len();
                Some((
                    Node {
                        kind: NodeKind::Scalar {
                            value,
                            plain: style == ScalarStyle::Plain,
                        },
                        span,
                    },
                    anchor,
                    size,
                ))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((_, size)) if *size > alias_budget => {
                    return Err(Diagnostic::new(
                        ErrorKind::Syntax {
                            reason: format!(
                                "aliases expand this document past {} nodes and bytes",
                                MAX_ALIAS_NODES.saturating_add(text.len())
                            ),
                            hint: Some(
                                "write the repeated part out, or name the principals once in `groups:`"
                                    .into(),
                            ),
                        },
                        span,
                    ));
                }
                Some((node, size)) => {
                    alias_budget -= size;
                    Some((
                        Node {
                            kind: node.kind.clone(),
                            span,
                        },
                        0,
                        *size,
                    ))
                }
                None => {
                    return Err(Diagnostic::new(
                        ErrorKind::Syntax {
                            reason: "alias to an unknown anchor".into(),
                            hint: None,
                        },
                        span,
                    ));
                }
            },
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                return Err(Diagnostic::new(
                    ErrorKind::Syntax {
                        reason: format!("lists and mappings are nested more than {MAX_DEPTH} deep"),
                        hint: Some("a policy needs only a few levels; flatten the document".into()),
                    },
                    span,
                ));
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(Vec::new(), span, anchor, 1));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(Vec::new(), None, span, anchor, 1));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(items, start, anchor, size)) => {
                    let end = items.last().map_or(start, |n| n.span);
                    Some((
                        Node {
                            kind: NodeKind::Seq(items),
                            span: start.to(end),
                        },
                        anchor,
                        size,
                    ))
                }
                Some(Open::Map(entries, _, start, anchor, size)) => {
                    let end = entries.last().map_or(start, |(_, v)| v.span);
                    Some((
                        Node {
                            kind: NodeKind::Map(entries),
                            span: start.to(end),
                        },
                        anchor,
                        size,
                    ))
                }
                None => None,
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor, size)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), size));
        }
        if let Some(open) = stack.last_mut() {
            open.add_size(size);
        }
        match stack.last_mut() {
            Some(Open::Seq(items, ..)) => items.push(node),
            Some(Open::Map(entries, pending, ..)) => match pending.take() {
                Some(key) => entries.push((key, node)),
                None => *pending = Some(node),
            },
            None => root = Some(node),
        }
    }
    root.ok_or_else(|| Diagnostic::new(ErrorKind::EmptyDocument, Span::at(1, 1, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes plus scalar bytes, as the alias budget counts them.
    fn size(node: &Node<'_>) -> usize {
        let mut total = 0;
        let mut todo = vec![node];
        while let Some(n) = todo.pop() {
            match &n.kind {
                NodeKind::Scalar { value, .. } => total += 1 + value.len(),
                NodeKind::Seq(items) => {
                    total += 1;
                    todo.extend(items);
                }
                NodeKind::Map(entries) => {
                    total += 1;
                    todo.extend(entries.iter().flat_map(|(k, v)| [k, v]));
                }
            }
        }
        total
    }

    /// `levels` anchors, each a list of `width` aliases of the one before.
    fn laughs(levels: usize, width: usize) -> String {
        let mut text = String::from("a0: &a0 [x]\n");
        for i in 1..=levels {
            let refs = vec![format!("*a{}", i - 1); width].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        text
    }

    #[test]
    fn aliases_expand_within_the_budget_or_are_refused() {
        for levels in 0..8 {
            for width in 1..12 {
                let text = laughs(levels, width);
                match parse(&text) {
                    Ok(tree) => assert!(
                        size(&tree) <= 2 * text.len() + MAX_ALIAS_NODES,
                        "{levels}x{width}: {} for {} bytes",
                        size(&tree),
                        text.len()
                    ),
                    Err(d) => assert!(
                        d.kind.to_string().contains("aliases expand"),
                        "{levels}x{width}: {d:?}"
                    ),
                }
            }
        }
        assert!(parse(&laughs(9, 10)).is_err(), "a billion laughs");
        let fine = parse("a: &sre [user:x, user:y]\nb: *sre\nc: *sre\n").unwrap();
        assert_eq!(size(&fine), 1 + 3 * 2 + 3 * (1 + 2 * (1 + 6)));
    }

    #[test]
    fn nesting_is_bounded_in_block_and_flow_style() {
        let block = |depth: usize| {
            (0..depth)
                .map(|i| format!("{}k:\n", "  ".repeat(i)))
                .collect::<String>()
                + &"  ".repeat(depth)
                + "v\n"
        };
        assert!(parse(&block(MAX_DEPTH - 1)).is_ok());
        let err = parse(&block(20_000)).unwrap_err();
        assert!(err.kind.to_string().contains("nested more than 128 deep"));
        let flow = "[".repeat(20_000) + &"]".repeat(20_000);
        assert!(parse(&flow).is_err());
        let seqs = (0..20_000)
            .map(|i| format!("{}- \n", "  ".repeat(i)))
            .collect::<String>();
        assert!(parse(&seqs).is_err());
    }
}
