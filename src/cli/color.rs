//! Colour in the verbs' text output: on a terminal, never in a pipe or a file, never when
//! `NO_COLOR` is set (unless `--color always` says otherwise, as the convention allows).
//!
//! The library renders plain text; colour is laid over it here, line by line, so that what a
//! tool or a test reads is the same text a person sees, less the escape codes.

use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::OnceLock;

/// When to colour, from `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum When {
    /// Colour when the output is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour, even in a pipe.
    Always,
    /// Never colour.
    Never,
}

/// (standard output, standard error): whether each gets colour.
static ENABLED: OnceLock<(bool, bool)> = OnceLock::new();

/// Settles the choice once, at start-up.
pub(crate) fn init(when: When) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let decide = |terminal: bool| match when {
        When::Always => true,
        When::Never => false,
        When::Auto => terminal && !no_color,
    };
    let _ = ENABLED.set((
        decide(std::io::stdout().is_terminal()),
        decide(std::io::stderr().is_terminal()),
    ));
}

fn enabled(stderr: bool) -> bool {
    ENABLED
        .get()
        .is_some_and(|(out, err)| if stderr { *err } else { *out })
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const GREEN: &str = "\x1b[32m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Rendered diagnostics for standard output, coloured when it is enabled.
pub(crate) fn diagnostics(text: &str) -> Cow<'_, str> {
    paint(text, enabled(false))
}

/// Rendered diagnostics for standard error, coloured when it is enabled.
pub(crate) fn diagnostics_err(text: &str) -> Cow<'_, str> {
    paint(text, enabled(true))
}

/// A test report for standard output: `ok` green, `FAILED` red.
pub(crate) fn report(text: &str) -> Cow<'_, str> {
    if !enabled(false) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, end) = split_end(line);
        if let Some(head) = body.strip_suffix(" ... ok") {
            out.push_str(&format!("{head} ... {GREEN}ok{RESET}{end}"));
        } else if let Some(head) = body.strip_suffix(" ... FAILED") {
            out.push_str(&format!("{head} ... {RED}FAILED{RESET}{end}"));
        } else {
            out.push_str(line);
        }
    }
    Cow::Owned(out)
}

fn split_end(line: &str) -> (&str, &str) {
    match line.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (line, ""),
    }
}

/// Colours the label of each `FILE:LINE:COL: error: ...` line, the carets and the notes.
fn paint(text: &str, on: bool) -> Cow<'_, str> {
    if !on {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, end) = split_end(line);
        let label = [(": error", RED), (": warning", YELLOW)]
            .into_iter()
            .find_map(|(label, colour)| body.find(label).map(|at| (at, colour)));
        let trimmed = body.trim_start();
        if let Some((at, colour)) = label
            && !body.starts_with(' ')
        {
            // The label runs to the next `:` (`warning[shadowed-rule]:`).
            let start = at + 2;
            let stop = body[start..].find(':').map_or(body.len(), |i| start + i);
            out.push_str(&format!(
                "{BOLD}{}{RESET}{colour}{}{RESET}{BOLD}{}{RESET}{end}",
                &body[..start],
                &body[start..stop],
                &body[stop..]
            ));
        } else if trimmed.starts_with("= ") {
            out.push_str(&format!("{CYAN}{body}{RESET}{end}"));
        } else if let Some((gutter, carets)) = body.split_once(" | ")
            && carets.trim_start().starts_with('^')
        {
            out.push_str(&format!("{gutter} | {RED}{carets}{RESET}{end}"));
        } else {
            out.push_str(line);
        }
    }
    Cow::Owned(out)
}
