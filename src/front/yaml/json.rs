//! A YAML tree as JSON, for the files around a policy (test cases) whose shape is JSON-like.

use serde_json::{Map, Number, Value};

use super::tree::{Node, NodeKind, PlainType, plain_type};

/// Converts a tree by the YAML 1.2 core schema: plain scalars become null, booleans and
/// numbers where they read as such, everything else a string.
pub(crate) fn to_json(node: &Node<'_>) -> Value {
    match &node.kind {
        NodeKind::Scalar {
            value,
            plain: false,
        } => Value::String(value.to_string()),
        NodeKind::Scalar { value, plain: true } => match plain_type(value) {
            PlainType::Null => Value::Null,
            PlainType::Bool => Value::Bool(value.eq_ignore_ascii_case("true")),
            PlainType::Int => value.parse::<i64>().map_or_else(
                |_| Value::String(value.to_string()),
                |n| Value::Number(n.into()),
            ),
            PlainType::Float => value
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map_or_else(|| Value::String(value.to_string()), Value::Number),
            PlainType::Str => Value::String(value.to_string()),
        },
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let key = match &key.kind {
                    NodeKind::Scalar { value, .. } => value.to_string(),
                    _ => key.describe(),
                };
                map.insert(key, to_json(value));
            }
            Value::Object(map)
        }
    }
}

/// Reports every key given twice in one mapping anywhere in `node`, as [`to_json`] would
/// keep only the last one: what a file says must be read one way only.
pub(crate) fn duplicate_keys(
    node: &Node<'_>,
    place: &'static str,
    diagnostics: &mut Vec<crate::diagnostic::Diagnostic>,
) {
    use crate::diagnostic::{Diagnostic, ErrorKind};
    let mut todo = vec![node];
    while let Some(node) = todo.pop() {
        match &node.kind {
            NodeKind::Scalar { .. } => {}
            NodeKind::Seq(items) => todo.extend(items),
            NodeKind::Map(entries) => {
                let mut seen = std::collections::HashMap::new();
                for (key, value) in entries {
                    if let NodeKind::Scalar { value: name, .. } = &key.kind
                        && let Some(first) = seen.insert(&**name, key.span)
                    {
                        // Point at the first: the later one is where the reader stopped, the
                        // first is often what the author meant to change.
                        seen.insert(&**name, first);
                        diagnostics.push(Diagnostic::new(
                            ErrorKind::DuplicateKey {
                                key: name.to_string(),
                                place,
                                first,
                            },
                            key.span,
                        ));
                    }
                    todo.push(value);
                }
            }
        }
    }
}
