//! The policy scanner against saphyr-parser, on the same texts: whenever the scanner returns a
//! tree it is saphyr-parser's tree (every node's kind, value, quoting and span), and it does
//! return one for everything the printer writes. Texts are printed from random policies,
//! written from random trees in every layout the scanner reads (indentation widths, compact
//! and indentless lists, flow lists and mappings, the three scalar styles, comments, blank
//! lines, trailing spaces, CRLF, a byte-order mark, `---`), and then mutated byte by byte and
//! line by line.

use proptest::prelude::*;
use rekall_policy::front::yaml::both_trees;
use rekall_policy::print;

use crate::rng::Rng;

/// Checks that the scanner agrees with saphyr-parser on `text`; true when it read the text.
fn agrees(text: &str) -> Result<bool, TestCaseError> {
    let (fast, events) = both_trees(text);
    let Some(fast) = fast else {
        return Ok(false);
    };
    match events {
        Ok(events) => prop_assert_eq!(fast, events, "text {:?}", text),
        Err(e) => prop_assert!(false, "scanner read {:?} but saphyr refuses: {}", text, e),
    }
    Ok(true)
}

/// A YAML tree to write out.
#[derive(Debug, Clone)]
enum Tree {
    Scalar(&'static str),
    Seq(Vec<Tree>),
    Map(Vec<(&'static str, Tree)>),
}

const KEYS: &[&str] = &[
    "version",
    "rules",
    "action",
    "resource",
    "approvers",
    "a b",
    "é日",
    "user:x",
    "1",
    "true",
    "it's",
    "x: y",
    "a#b",
    "",
    "#k",
    "-k",
];

const SCALARS: &[&str] = &[
    "delete",
    "db/*",
    "user:adam",
    "group:sre",
    "a b",
    "  lead",
    "trail  ",
    "é日 x",
    "1",
    "-1",
    "0.5",
    "true",
    "~",
    "null",
    "",
    "-x",
    "a#b",
    "a #b",
    "x: y",
    "x:y",
    "it's",
    "say \"hi\"",
    "back\\slash",
    "*",
    "*.prod",
    "[a]",
    "a,b",
    "{x}",
    "&a",
    "!t",
    "|",
    "? q",
    "%p",
    "@a",
    "`b",
    "tab\there",
    "new\nline",
    "nul\u{0}",
    "\u{85}next",
    "bom\u{feff}",
];

fn tree(rng: &mut Rng, depth: usize) -> Tree {
    let leaf = depth >= 4 || rng.below(3) == 0;
    if leaf {
        return Tree::Scalar(rng.pick(SCALARS));
    }
    let len = rng.below(4);
    if rng.below(2) == 0 {
        Tree::Seq((0..len).map(|_| tree(rng, depth + 1)).collect())
    } else {
        Tree::Map(
            (0..len)
                .map(|_| (rng.pick(KEYS), tree(rng, depth + 1)))
                .collect(),
        )
    }
}

/// Whether `text` reads back as itself written plain (conservatively: the writer quotes the
/// rest), in a flow collection when `flow`.
fn plain_ok(text: &str, flow: bool) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.'))
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.contains(['\t', '\n', '\0', '\u{85}', '\u{feff}'])
        && (!flow || !text.contains([',', '[', ']', '{', '}']))
}

/// Writes a scalar in a style the rng picks among those that keep its text.
fn scalar(rng: &mut Rng, text: &str, flow: bool) -> String {
    let plain = plain_ok(text, flow);
    let raw_ok = !text.contains(['\t', '\n', '\0', '\u{85}', '\u{feff}']);
    match rng.below(3) {
        0 if plain => text.to_owned(),
        1 if raw_ok => format!("'{}'", text.replace('\'', "''")),
        _ => {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\0' => out.push_str("\\0"),
                    c if !c.is_ascii() && rng.below(2) == 0 => {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    }
                    c if c.is_alphanumeric() && rng.below(8) == 0 => {
                        out.push_str(&format!("\\x{:02X}", c as u32 % 0x80));
                        if c as u32 >= 0x80 {
                            out.push(c);
                        }
                    }
                    '/' if rng.below(2) == 0 => out.push_str("\\/"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

/// How a tree is laid out.
struct Layout {
    width: usize,
    indentless: bool,
    flow: bool,
    gap: usize,
}

/// A flow form of `tree` if it has one: a list or mapping of scalars.
fn flow(rng: &mut Rng, tree: &Tree) -> Option<String> {
    let spaced = |rng: &mut Rng| if rng.below(4) == 0 { " " } else { "" };
    match tree {
        Tree::Scalar(_) => None,
        Tree::Seq(items) => {
            let mut parts = Vec::new();
            for item in items {
                let Tree::Scalar(s) = item else { return None };
                parts.push(scalar(rng, s, true));
            }
            let (a, b) = (spaced(rng), spaced(rng));
            let sep = if rng.below(4) == 0 { "," } else { ", " };
            Some(format!("[{a}{}{b}]", parts.join(sep)))
        }
        Tree::Map(entries) => {
            let mut parts = Vec::new();
            for (k, v) in entries {
                let Tree::Scalar(s) = v else { return None };
                parts.push(format!(
                    "{}: {}",
                    scalar(rng, k, true),
                    scalar(rng, s, true)
                ));
            }
            Some(format!("{{{}}}", parts.join(", ")))
        }
    }
}

fn write(rng: &mut Rng, tree: &Tree, col: usize, inline: bool, layout: &Layout, out: &mut String) {
    let pad = |out: &mut String, first: bool| {
        if !(first && inline) {
            out.push_str(&" ".repeat(col));
        }
    };
    match tree {
        Tree::Scalar(s) => {
            pad(out, true);
            let text = scalar(rng, s, false);
            out.push_str(&text);
            out.push('\n');
        }
        Tree::Seq(items) if items.is_empty() => {
            pad(out, true);
            out.push_str("[]\n");
        }
        Tree::Map(entries) if entries.is_empty() => {
            pad(out, true);
            out.push_str("{}\n");
        }
        Tree::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                pad(out, i == 0);
                out.push('-');
                let gap = 1 + rng.below(layout.gap);
                out.push_str(&" ".repeat(gap));
                if let Some(text) = flow(rng, item).filter(|_| layout.flow) {
                    out.push_str(&text);
                    out.push('\n');
                } else {
                    write(rng, item, col + 1 + gap, true, layout, out);
                }
            }
        }
        Tree::Map(entries) => {
            for (i, (key, value)) in entries.iter().enumerate() {
                pad(out, i == 0);
                let key = scalar(rng, key, false);
                out.push_str(&key);
                out.push(':');
                match value {
                    Tree::Scalar(_) => {
                        out.push(' ');
                        write(rng, value, 0, true, layout, out);
                    }
                    _ if layout.flow && rng.below(2) == 0 && flow(rng, value).is_some() => {
                        let text = flow(rng, value).unwrap_or_default();
                        out.push(' ');
                        out.push_str(&text);
                        out.push('\n');
                    }
                    Tree::Seq(items) if !items.is_empty() => {
                        out.push('\n');
                        let inner = if layout.indentless {
                            col
                        } else {
                            col + layout.width
                        };
                        write(rng, value, inner, false, layout, out);
                    }
                    Tree::Map(entries) if !entries.is_empty() => {
                        out.push('\n');
                        write(rng, value, col + layout.width, false, layout, out);
                    }
                    _ => {
                        out.push(' ');
                        write(rng, value, 0, true, layout, out);
                    }
                }
            }
        }
    }
}

/// Adds what changes no node: comments, blank lines, trailing spaces, line endings, a start.
fn decorate(rng: &mut Rng, text: &str) -> String {
    let mut out = String::new();
    match rng.below(6) {
        0 => out.push('\u{feff}'),
        1 => out.push_str("---\n"),
        2 => out.push_str("# top\n--- # start\n"),
        _ => {}
    }
    for line in text.lines() {
        match rng.below(10) {
            0 => out.push('\n'),
            1 => out.push_str(&format!("{}# note: é #x\n", " ".repeat(rng.below(6)))),
            _ => {}
        }
        out.push_str(line);
        match rng.below(8) {
            0 => out.push_str("  "),
            1 => out.push_str(" # why: it's \"so\""),
            _ => {}
        }
        out.push('\n');
    }
    if rng.below(4) == 0 {
        out = out.replace('\n', "\r\n");
    }
    if rng.below(4) == 0 {
        out.pop();
    }
    out
}

const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "#",
    " #",
    "'",
    "\"",
    "''",
    "[",
    "]",
    "{",
    "}",
    ",",
    ", ",
    "&a ",
    "*a",
    "!t ",
    "!!str ",
    "|",
    "|\n  x",
    ">-",
    "\t",
    "\r",
    "\n",
    "\n  ",
    "---\n",
    "--- ",
    "...\n",
    "%YAML 1.2\n",
    "\\",
    "\\u00e9",
    "\\x4",
    "\\q",
    "?",
    "? ",
    "é",
    "日",
    "  ",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "\0",
    "~",
    "@",
    "`",
    "%",
    ">",
];

/// Applies one to three random edits: a token inserted, a run of bytes deleted, a line
/// duplicated, removed or re-indented.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut text = text.to_owned();
    for _ in 0..=rng.below(3) {
        let boundaries: Vec<usize> = (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        let at = boundaries[rng.below(boundaries.len())];
        match rng.below(5) {
            0 | 1 => text.insert_str(at, rng.pick(TOKENS)),
            2 => {
                let to = boundaries[rng.below(boundaries.len())];
                let (a, b) = (at.min(to), at.max(to));
                let b = boundaries
                    .iter()
                    .copied()
                    .find(|&i| i >= b && i <= a + 8)
                    .unwrap_or(a);
                text.replace_range(a..b, "");
            }
            _ => {
                let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
                let i = rng.below(lines.len());
                match rng.below(4) {
                    0 => {
                        let line = lines[i].clone();
                        lines.insert(i, line);
                    }
                    1 => {
                        lines.remove(i);
                    }
                    2 => lines[i].insert_str(0, &" ".repeat(1 + rng.below(2))),
                    _ => {
                        let trimmed = lines[i].strip_prefix(' ').unwrap_or(&lines[i]);
                        lines[i] = trimmed.to_owned();
                    }
                }
                text = lines.join("\n");
            }
        }
    }
    text
}

fn layout(rng: &mut Rng) -> Layout {
    Layout {
        width: 1 + rng.below(4),
        indentless: rng.below(2) == 0,
        flow: rng.below(2) == 0,
        gap: 1 + rng.below(3),
    }
}

/// A text written from a random tree.
fn written(seed: u64) -> String {
    let mut rng = Rng(seed);
    let root = match tree(&mut rng, 0) {
        Tree::Scalar(s) => Tree::Map(vec![("k", Tree::Scalar(s))]),
        t => t,
    };
    let layout = layout(&mut rng);
    let mut out = String::new();
    write(&mut rng, &root, 0, false, &layout, &mut out);
    decorate(&mut rng, &out)
}

fn policy_files() -> Vec<String> {
    let mut paths: Vec<_> = std::fs::read_dir("policies")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[test]
fn the_scanner_reads_every_policy_file_as_saphyr_does() {
    let files = policy_files();
    assert!(files.len() >= 8, "policies/ has {} YAML files", files.len());
    for text in files {
        let (fast, events) = both_trees(&text);
        assert_eq!(fast.as_ref(), Some(&events.unwrap()), "{text}");
    }
}

#[test]
fn the_scanner_reads_the_benchmark_policies() {
    use rekall_policy::bench::generate::{Stages, first_match_policy_yaml};
    for stages in [Stages::Hitl, Stages::Both] {
        let text = first_match_policy_yaml(200, stages);
        let (fast, events) = both_trees(&text);
        assert_eq!(fast.as_ref(), Some(&events.unwrap()));
    }
}

#[test]
fn what_the_scanner_leaves_gets_saphyrs_errors_and_refusals() {
    // Each is outside the subset, so the tree (or error) is saphyr-parser's own.
    for text in [
        "a: &x [1]\nb: *x\n",
        "a:\tb\n",
        "a: |\n  text\n",
        "a: b\n  c\n",
        "a: \"open\n",
        "--- a\n",
        "a: 1\n---\nb: 2\n",
        "%YAML 1.2\n---\na: 1\n",
        "? a\n: b\n",
        "a: [[1]]\n",
        "a: b: c\n",
        "# only a comment\n",
        "",
    ] {
        let (fast, _) = both_trees(text);
        assert_eq!(fast, None, "{text:?}");
    }
}

#[test]
fn spans_follow_saphyrs_quirks() {
    // Found by the properties below: a quoted scalar's span runs over the spaces after it and
    // a comment to the end of the line; a flow collection starts with the spaces after its
    // bracket; a flow scalar's word may not start with `-` and a flow indicator.
    for text in [
        "a: \"x\"  \nb: 'y' # c\nc: ['z'  , \"w\"]\n",
        "\"k\"  : v\n",
        "a: [ ]\nb: {  }\nc: [  x]\n",
        "a: {k: v , l: 'w'  }\n",
    ] {
        let (fast, events) = both_trees(text);
        assert_eq!(fast.as_ref(), Some(&events.unwrap()), "{text:?}");
    }
    let (fast, events) = both_trees("a: [x -, y]\n");
    assert_eq!(fast, None);
    assert!(events.is_err());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_printers_output_takes_the_scanner_and_agrees(doc in crate::dsl_roundtrip::policy()) {
        let text = print::to_yaml(&doc);
        prop_assert!(agrees(&text)?, "the scanner left printed YAML to saphyr:\n{}", text);
        let crlf = text.replace('\n', "\r\n");
        prop_assert!(agrees(&crlf)?, "the scanner left CRLF YAML to saphyr:\n{}", crlf);
    }

    #[test]
    fn printed_policies_mutated_agree(doc in crate::dsl_roundtrip::policy(), seed in any::<u64>()) {
        let text = print::to_yaml(&doc);
        let mut rng = Rng(seed);
        agrees(&mutate(&mut rng, &text))?;
    }

    #[test]
    fn policy_files_mutated_agree(file in 0usize..8, seed in any::<u64>()) {
        let files = policy_files();
        let mut rng = Rng(seed);
        agrees(&mutate(&mut rng, &files[file % files.len()]))?;
    }

    #[test]
    fn written_trees_agree(seed in any::<u64>()) {
        let text = written(seed);
        agrees(&text)?;
        let mut rng = Rng(seed ^ 0x5eed);
        agrees(&mutate(&mut rng, &text))?;
    }
}

/// Many written trees, counted: the scanner must read most of them, or the agreement above
/// would say little.
#[test]
fn the_scanner_reads_most_written_trees() {
    let mut read = 0;
    let total = 2000;
    for seed in 0..total {
        let text = written(seed);
        let (fast, events) = both_trees(&text);
        if let Some(fast) = fast {
            assert_eq!(Ok(&fast), events.as_ref(), "{text:?}");
            read += 1;
        }
    }
    assert!(
        read * 2 > total,
        "the scanner read {read} of {total} written trees"
    );
}
