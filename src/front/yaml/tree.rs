//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Built from saphyr-parser's event stream, which reports a span for every event. Mapping keys
//! keep their order and duplicates, so the lowering can report a duplicate key instead of
//! silently keeping one.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::source::Span;

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar and whether it was quoted (a quoted scalar is always a string).
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
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

enum Open {
    Seq(Vec<Node>, Span, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Span, usize),
}

/// Parses the text into one document tree, or the syntax error with its position.
pub fn parse(text: &str) -> Result<Node, Diagnostic> {
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, yspan) = item.map_err(|e| {
            let m = e.marker();
            let line = u32::try_from(m.line()).unwrap_or(u32::MAX);
            let col = u32::try_from(m.col()).unwrap_or(u32::MAX) + 1;
            Diagnostic::new(
                ErrorKind::Syntax {
                    reason: e.info().to_owned(),
                    hint: Some(
                        "check the indentation and that every `[`, `{` and quote is closed".into(),
                    ),
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
            Event::Scalar(value, style, anchor, _tag) => Some((
                Node {
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    span,
                },
                anchor,
            )),
            Event::Alias(id) => match anchors.get(&id) {
                Some(node) => Some((
                    Node {
                        kind: node.kind.clone(),
                        span,
                    },
                    0,
                )),
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
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(Vec::new(), span, anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(Vec::new(), None, span, anchor));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq(items, start, anchor)) => {
                    let end = items.last().map_or(start, |n| n.span);
                    Some((
                        Node {
                            kind: NodeKind::Seq(items),
                            span: start.to(end),
                        },
                        anchor,
                    ))
                }
                Some(Open::Map(entries, _, start, anchor)) => {
                    let end = entries.last().map_or(start, |(_, v)| v.span);
                    Some((
                        Node {
                            kind: NodeKind::Map(entries),
                            span: start.to(end),
                        },
                        anchor,
                    ))
                }
                None => None,
            },
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
        };
        let Some((node, anchor)) = finished else {
            continue;
        };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
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
