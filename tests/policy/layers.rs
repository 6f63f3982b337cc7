//! The crate's import graph: every `crate::` and `super::` path between top-level modules
//! points down the declared layers, so no circle can come back unnoticed, and the store
//! stands on the model alone (a PostgreSQL store or a server must not need the runtime's
//! internals).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules, lowest layer first. A module may import only from layers below
/// its own; modules of one layer do not import each other. The pipeline reads upwards:
/// text (`front`) becomes the IR, is checked, gets its verdicts (`decision`) and becomes a
/// `Policy`, which the evaluators (`eval`, `compile`) and `lint` read; the runtime's records
/// (`model`) sit below the store that keeps them and the services (`runtime`) that drive
/// them; `cli` is on top.
const LAYERS: &[&[&str]] = &[
    &["source"],
    &["glob", "learn"],
    &["ir"],
    &["suggest", "diagnostic", "json"],
    &["request"],
    &["json_lines"],
    &["front"],
    &["print", "check"],
    &["decision"],
    &["policy"],
    &["eval", "compile"],
    &["lint", "testing", "bench", "simulate"],
    &["model"],
    &["store"],
    &["runtime"],
    &["demo"],
    &["server"],
    &["cli"],
];

/// What the store may import from the crate: the records, nothing of the services.
const STORE_MAY_IMPORT: &[&str] = &["model"];

/// One reference from a module to another, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    at: String,
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = crate_edges(&src).unwrap_or_else(|e| panic!("{e}"));
    let problems = layer_violations(LAYERS, &top_level_modules(&src), &edges);
    assert!(
        problems.is_empty(),
        "the import graph leaves the declared layers:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_store_imports_only_the_model() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = crate_edges(&src).unwrap_or_else(|e| panic!("{e}"));
    let wrong: Vec<String> = edges
        .iter()
        .filter(|e| e.from == "store" && !STORE_MAY_IMPORT.contains(&e.to.as_str()))
        .map(|e| format!("{}: store imports {}", e.at, e.to))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_circle_is_reported_with_where_it_is_written() {
    let layers: &[&[&str]] = &[&["store"], &["runtime"]];
    let modules: BTreeSet<String> = ["store", "runtime"].map(String::from).into();
    let edges = vec![
        edge("runtime", "store", "src/runtime/mod.rs:3"),
        edge("store", "runtime", "src/store/mod.rs:7"),
    ];
    let problems = layer_violations(layers, &modules, &edges);
    assert_eq!(
        problems,
        ["src/store/mod.rs:7: store imports runtime, which is not in a layer below it"]
    );
}

#[test]
fn a_module_outside_the_layers_is_reported() {
    let layers: &[&[&str]] = &[&["ir"]];
    let modules: BTreeSet<String> = ["ir", "server"].map(String::from).into();
    let problems = layer_violations(layers, &modules, &[]);
    assert_eq!(
        problems,
        ["src/server is in no layer: add it to LAYERS where it belongs"]
    );
}

#[test]
fn paths_resolve_through_super_groups_and_the_root_reexports() {
    let reexports: BTreeMap<String, String> = [("Policy".into(), "policy".into())].into();
    let text = "use super::super::glob::Glob;\nuse crate::{Policy, ir::Rule};\n\
                // crate::store in a comment\nlet s = \"crate::runtime\";\n\
                use super::{clock, Runtime};\n";
    let module = ["lint", "nfa"].map(String::from);
    let tops = references(text, &module, &reexports).expect("resolvable");
    assert_eq!(
        tops,
        [
            ("glob".to_owned(), 1),
            ("policy".to_owned(), 2),
            ("ir".to_owned(), 2),
            ("lint".to_owned(), 5),
            ("lint".to_owned(), 5),
        ]
    );
    let inline = "struct Tainted;\nmod tests {\n    use super::Tainted;\n}\nuse super::x;\n";
    let policy = ["policy".to_owned()];
    assert_eq!(
        references(
            inline,
            &["compile".to_owned(), "live".to_owned()],
            &reexports
        ),
        Ok(vec![("compile".to_owned(), 3), ("compile".to_owned(), 5)])
    );
    assert_eq!(
        references(inline, &policy, &reexports),
        Ok(vec![("policy".to_owned(), 3), ("x".to_owned(), 5)]),
        "`super::` of a top-level file is the crate root"
    );
    let unknown = references("use crate::Nowhere;", &module, &reexports);
    assert!(unknown.unwrap_err().contains("Nowhere"));
}

fn edge(from: &str, to: &str, at: &str) -> Edge {
    Edge {
        from: from.into(),
        to: to.into(),
        at: at.into(),
    }
}

/// Each edge that does not point to a lower layer, and each module in no layer.
fn layer_violations(layers: &[&[&str]], modules: &BTreeSet<String>, edges: &[Edge]) -> Vec<String> {
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (*m, i)))
        .collect();
    let mut problems: Vec<String> = modules
        .iter()
        .filter(|m| !layer_of.contains_key(m.as_str()))
        .map(|m| format!("src/{m} is in no layer: add it to LAYERS where it belongs"))
        .collect();
    for e in edges {
        let (Some(from), Some(to)) = (layer_of.get(e.from.as_str()), layer_of.get(e.to.as_str()))
        else {
            continue;
        };
        if to >= from {
            problems.push(format!(
                "{}: {} imports {}, which is not in a layer below it",
                e.at, e.from, e.to
            ));
        }
    }
    problems
}

/// The modules declared at the crate root: `src/NAME.rs` and `src/NAME/mod.rs`.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(src).expect("src is readable").flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let module_dir = path.is_dir() && path.join("mod.rs").exists();
        let module_file =
            path.extension().is_some_and(|e| e == "rs") && !["lib", "main"].contains(&name);
        if module_dir || module_file {
            out.insert(name.to_owned());
        }
    }
    out
}

/// Every reference between distinct top-level modules, one per place it is written.
fn crate_edges(src: &Path) -> Result<Vec<Edge>, String> {
    let lib = fs::read_to_string(src.join("lib.rs")).map_err(|e| format!("src/lib.rs: {e}"))?;
    let reexports = root_reexports(&lib);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap_or(&file);
        let module = module_path(rel);
        let Some(top) = module.first() else {
            continue; // lib.rs and main.rs: the facade and the binary
        };
        let text = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let shown = format!("src/{}", rel.display());
        let found = references(&text, &module, &reexports).map_err(|e| format!("{shown}: {e}"))?;
        for (to, line) in found {
            if &to != top {
                edges.push(edge(top, &to, &format!("{shown}:{line}")));
            }
        }
    }
    edges.sort();
    Ok(edges)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `check/lint/mod.rs` -> `[check, lint]`; `lib.rs` and `main.rs` -> `[]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] || parts == ["main"] {
        parts.pop();
    }
    parts
}

/// `pub use decision::{Decision, Stage};` in lib.rs: each name -> the module it comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let code = blank_comments_and_strings(lib);
    for stmt in code.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        for name in names
            .trim_matches(|c| c == '{' || c == '}' || char::is_whitespace(c))
            .split(',')
        {
            let name = name.trim().rsplit(' ').next().unwrap_or_default();
            if !name.is_empty() {
                out.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    out
}

/// The top-level module of each `crate::` and `super::` path in `text`, with its line.
/// `module` is the file's module path; inline modules (`mod tests { .. }`) extend it where
/// they are open; comments and string literals are not code.
fn references(
    text: &str,
    module: &[String],
    reexports: &BTreeMap<String, String>,
) -> Result<Vec<(String, usize)>, String> {
    let code = blank_comments_and_strings(text);
    let opens = inline_module_openings(&code);
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                depth += 1;
                if let Some(name) = opens.get(&i) {
                    inline.push((name.clone(), depth));
                }
            }
            b'}' => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        let boundary = i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != b'$';
        let (ups, start) = if boundary && code[i..].starts_with("crate::") {
            (None, i + "crate::".len())
        } else if boundary && code[i..].starts_with("super::") {
            let mut j = i;
            let mut k = 0;
            while code[j..].starts_with("super::") {
                j += "super::".len();
                k += 1;
            }
            (Some(k), j)
        } else {
            i += 1;
            continue;
        };
        let line = code[..i].matches('\n').count() + 1;
        let here: Vec<String> = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        let base: &[String] = match ups {
            None => &[],
            Some(k) if k <= here.len() => &here[..here.len() - k],
            Some(_) => return Err(format!("line {line}: `super::` above the crate root")),
        };
        for first in first_segments(&code[start..]) {
            let top = match base.first() {
                Some(top) => top.clone(),
                None => match reexports.get(&first) {
                    Some(m) => m.clone(),
                    None if first.chars().next().is_some_and(char::is_lowercase) => first,
                    None => {
                        return Err(format!(
                            "line {line}: `crate::{first}` is neither a module nor re-exported by lib.rs"
                        ));
                    }
                },
            };
            out.push((top, line));
        }
        i = start;
    }
    Ok(out)
}

/// The offsets of the `{` that open inline modules (`mod tests {`), with their names.
fn inline_module_openings(code: &str) -> BTreeMap<usize, String> {
    let bytes = code.as_bytes();
    let mut out = BTreeMap::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("mod ").map(|p| p + from) {
        from = at + 4;
        if at > 0 && is_ident(bytes[at - 1]) {
            continue;
        }
        let rest = &code[from..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = rest.trim_start()[name.len()..].trim_start();
        if !name.is_empty() && after.starts_with('{') {
            let brace = code.len() - after.len();
            out.insert(brace, name);
        }
    }
    out
}

/// The first segment of a path (`store` of `store::Store`), or of each item of a group
/// (`{Policy, ir::Rule}`).
fn first_segments(rest: &str) -> Vec<String> {
    let ident = |s: &str| {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return Some(ident(rest))
            .filter(|i| !i.is_empty())
            .into_iter()
            .collect();
    };
    let mut depth = 0;
    let mut items = vec![String::new()];
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => items.push(String::new()),
            _ => {}
        }
        if depth == 0
            && c != ','
            && let Some(last) = items.last_mut()
        {
            last.push(c);
        }
    }
    items
        .iter()
        .map(|i| ident(i))
        .filter(|i| !i.is_empty() && i != "self")
        .collect()
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The text with comments and the contents of string and character literals replaced by
/// spaces, newlines kept, so that offsets and lines stay where they were.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '_')
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let body_start = j + 1;
            let mut k = body_start;
            while k < chars.len() && !chars[k..].starts_with(&close.chars().collect::<Vec<_>>()) {
                k += 1;
            }
            let end = (k + close.chars().count()).min(chars.len());
            for &ch in &chars[i..end] {
                out.push(blank(ch));
            }
            i = end;
        } else if c == '"' {
            i = blank_quoted(&chars, i, '"', &mut out);
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal (a lifetime has no closing quote two places on).
            i = blank_quoted(&chars, i, '\'', &mut out);
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// A character of a comment or literal as blanked: lines are kept, so that positions stay.
fn blank(c: char) -> char {
    if c == '\n' { '\n' } else { ' ' }
}

/// Blanks the quoted literal opening at `chars[start]` (escapes included) up to its closing
/// `quote`, and gives the index after it.
fn blank_quoted(chars: &[char], start: usize, quote: char, out: &mut String) -> usize {
    out.push(' ');
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' {
            out.push(' ');
            i += 1;
        }
        if i < chars.len() {
            out.push(blank(chars[i]));
            i += 1;
        }
    }
    out.push(' ');
    i + 1
}
