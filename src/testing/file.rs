//! Reading a test file, with every problem located like a policy error.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diagnostic::{Diagnostic, ErrorKind, PolicyError};
use crate::front::yaml::{duplicate_keys, to_json, tree};
use crate::source::Span;
use crate::suggest;

const FILE_KEYS: &[&str] = &["policy", "cases"];
const CASE_KEYS: &[&str] = &["name", "request", "expect"];
/// The decision fields a case may expect, by their JSON names.
pub const EXPECT_KEYS: &[&str] = &[
    "outcome",
    "approved",
    "approvers",
    "hitlRule",
    "escalationRule",
    "hitlRuleId",
    "escalationRuleId",
    "minApprovals",
    "chain",
    "notifyVia",
    "timeout",
    "onTimeout",
    "escalateTo",
    "remindEvery",
    "priority",
    "decidedBy",
    "hitlOutcome",
    "escalationOutcome",
];

/// One case: a request (as JSON, so that a bad request is the case's failure, not the file's)
/// and the expected fields in file order.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub line: u32,
    pub request: Value,
    pub expect: Vec<(String, Value)>,
}

#[derive(Debug, Clone)]
pub struct TestFile {
    pub path: PathBuf,
    pub policy: PathBuf,
    pub cases: Vec<Case>,
}

impl TestFile {
    /// Reads and checks a test file.
    pub fn load(path: &Path) -> Result<TestFile, PolicyError> {
        let source = PolicyError::read_source(path)?;
        let text = source.text.clone();
        let root = tree::parse(&text).map_err(|d| PolicyError::new(source.clone(), vec![d]))?;
        let mut diags = Vec::new();
        let file = read(path, &root, &mut diags);
        match file {
            Some(file) if diags.is_empty() => Ok(file),
            _ => Err(PolicyError::new(source, diags)),
        }
    }
}

/// The policy a test file belongs to when it does not say: `x.test.yaml` -> `x.yaml`.
pub fn default_policy(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let stem = name.strip_suffix(super::SUFFIX).unwrap_or(name);
    path.with_file_name(format!("{stem}.yaml"))
}

fn entries<'n>(
    node: &'n tree::Node<'n>,
    place: &'static str,
    allowed: &'static [&'static str],
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<(&'n str, &'n tree::Node<'n>)>> {
    let tree::NodeKind::Map(map) = &node.kind else {
        diags.push(Diagnostic::new(
            ErrorKind::WrongType {
                key: place.into(),
                expected: "a mapping",
                found: node.describe(),
            },
            node.span,
        ));
        return None;
    };
    let mut out = Vec::new();
    for (key, value) in map {
        let tree::NodeKind::Scalar { value: name, .. } = &key.kind else {
            continue;
        };
        match allowed.iter().find(|k| *k == name) {
            Some(k) if out.iter().any(|(seen, _)| seen == k) => {
                let first = out
                    .iter()
                    .find(|(seen, _): &&(&str, &tree::Node)| seen == k)
                    .map_or(key.span, |(_, v)| v.span);
                diags.push(Diagnostic::new(
                    ErrorKind::DuplicateKey {
                        key: name.to_string(),
                        place,
                        first,
                    },
                    key.span,
                ));
            }
            Some(k) => out.push((*k, value)),
            None => diags.push(Diagnostic::new(
                ErrorKind::UnknownKey {
                    key: name.to_string(),
                    place,
                    suggestion: suggest::closest(name, allowed.iter().copied()),
                    allowed,
                },
                key.span,
            )),
        }
    }
    Some(out)
}

fn read(path: &Path, root: &tree::Node, diags: &mut Vec<Diagnostic>) -> Option<TestFile> {
    let fields = entries(root, "a test file", FILE_KEYS, diags)?;
    let get = |k: &str| fields.iter().find(|(name, _)| *name == k).map(|(_, n)| *n);
    let policy = match get("policy") {
        Some(node) => match to_json(node) {
            Value::String(p) => path.parent().unwrap_or(Path::new("")).join(p),
            _ => {
                diags.push(Diagnostic::new(
                    ErrorKind::WrongType {
                        key: "policy".into(),
                        expected: "a path",
                        found: node.describe(),
                    },
                    node.span,
                ));
                return None;
            }
        },
        None => default_policy(path),
    };
    let Some(cases_node) = get("cases") else {
        diags.push(Diagnostic::new(
            ErrorKind::MissingKey {
                key: "cases",
                place: "a test file",
            },
            root.span,
        ));
        return None;
    };
    let tree::NodeKind::Seq(items) = &cases_node.kind else {
        diags.push(Diagnostic::new(
            ErrorKind::WrongType {
                key: "cases".into(),
                expected: "a list of cases",
                found: cases_node.describe(),
            },
            cases_node.span,
        ));
        return None;
    };
    let cases = items.iter().filter_map(|item| case(item, diags)).collect();
    Some(TestFile {
        path: path.to_path_buf(),
        policy,
        cases,
    })
}

fn case(node: &tree::Node, diags: &mut Vec<Diagnostic>) -> Option<Case> {
    let fields = entries(node, "a test case", CASE_KEYS, diags)?;
    let get = |k: &str| fields.iter().find(|(name, _)| *name == k).map(|(_, n)| *n);
    let mut missing = |key: &'static str| {
        diags.push(Diagnostic::new(
            ErrorKind::MissingKey {
                key,
                place: "a test case",
            },
            Span::at(node.span.line, node.span.col, 1),
        ));
    };
    let (Some(name), Some(request), Some(expect)) = (get("name"), get("request"), get("expect"))
    else {
        for key in CASE_KEYS {
            if get(key).is_none() {
                missing(key);
            }
        }
        return None;
    };
    let name = match to_json(name) {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let expected = entries(expect, "`expect`", EXPECT_KEYS, diags)?;
    let before = diags.len();
    duplicate_keys(request, "a test case's `request`", diags);
    if diags.len() > before {
        return None;
    }
    Some(Case {
        name,
        line: node.span.line,
        request: to_json(request),
        expect: expected
            .into_iter()
            .map(|(k, v)| (k.to_owned(), to_json(v)))
            .collect(),
    })
}
