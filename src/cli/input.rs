//! Where the verbs' policies come from: a file named by its path, whose extension says its
//! language, or standard input (`-`), whose first word says it.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::Policy;
use crate::diagnostic::{ErrorKind, PolicyError};
use crate::front::Language;
use crate::source::{Source, Span};

/// The name standard input goes by in diagnostics.
pub(crate) const STDIN_NAME: &str = "<stdin>";

/// Whether a path argument means standard input.
pub(crate) fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The language of a policy file by its extension (see [`Language::of_path`]).
pub(crate) fn language_of(path: &Path) -> Result<Language, ErrorKind> {
    Language::of_path(path)
}

/// The language of text on standard input: a DSL policy starts with `policy` (after comments
/// and blank lines), which no YAML policy can, since a YAML policy is a mapping and its first
/// word would end with `:`.
pub(crate) fn sniff(text: &str) -> Language {
    let first = text
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        Some(line)
            if line
                .strip_prefix("policy")
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t'])) =>
        {
            Language::Dsl
        }
        _ => Language::Yaml,
    }
}

/// A policy's text and language, read from a file or standard input.
pub(crate) struct Text {
    pub source: Source,
    pub language: Language,
}

fn plain_error(origin: &str, kind: ErrorKind) -> PolicyError {
    PolicyError::single(Source::new(origin, ""), kind, Span::at(1, 1, 1))
}

/// Reads a policy's text: unreadable input and unknown extensions are errors of their own, in
/// one plain line, before any parsing.
pub(crate) fn read_text(path: &Path) -> Result<Text, PolicyError> {
    if is_stdin(path) {
        let mut bytes = Vec::new();
        if let Err(e) = std::io::stdin().lock().read_to_end(&mut bytes) {
            return Err(plain_error(
                STDIN_NAME,
                ErrorKind::Io {
                    reason: e.to_string(),
                },
            ));
        }
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(plain_error(
                STDIN_NAME,
                ErrorKind::Io {
                    reason: "it is not UTF-8 text; a policy is YAML or DSL text".into(),
                },
            ));
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        return Ok(Text {
            language: sniff(text),
            source: Source::new(STDIN_NAME, text),
        });
    }
    let source = PolicyError::read_source(path)?;
    let language =
        language_of(path).map_err(|kind| plain_error(&path.display().to_string(), kind))?;
    Ok(Text { source, language })
}

/// Reads, parses and validates a policy from a path or `-`.
pub(crate) fn read_policy(path: &Path) -> Result<Policy, PolicyError> {
    let text = read_text(path)?;
    Policy::from_str_in(text.language, &text.source.text, &text.source.origin)
}

/// Refuses a command line that reads standard input twice: the second reader would get
/// nothing and take it for an empty file.
pub(crate) fn one_stdin<'p>(paths: impl IntoIterator<Item = &'p Path>) -> Result<(), String> {
    if paths.into_iter().filter(|p| is_stdin(p)).count() > 1 {
        Err("`-` (standard input) can be given only once".into())
    } else {
        Ok(())
    }
}

/// The policy files a path stands for: a file (or `-`) for itself, a directory for every
/// `.yaml`, `.yml` and `.rkl` file under it, in name order, without test files and without
/// build and VCS folders.
pub(crate) fn expand(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    walk(path, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                walk(&path, out)?;
            }
        } else if language_of(&path).is_ok() && !name.ends_with(crate::testing::SUFFIX) {
            out.push(path);
        }
    }
    Ok(())
}
