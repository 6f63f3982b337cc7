//! `rekall-policy lint FILE... [--format text|json] [--deny warnings]`

use std::path::PathBuf;

use serde_json::json;

use super::{Format, exit};
use crate::Policy;
use crate::diagnostic::render_one;
use crate::lint::{self, Warning};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy files (YAML or DSL), or `-` for standard input.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// `--deny warnings`: exit 1 when there is any warning.
    #[arg(long, value_enum)]
    deny: Option<Deny>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Deny {
    Warnings,
}

fn render(policy: &Policy, warnings: &[Warning]) -> String {
    let mut out = String::new();
    for w in warnings {
        let label = format!("warning[{}]", w.code);
        let notes: Vec<String> = w
            .related
            .iter()
            .map(|r| format!("{} is at line {}", r.label, r.line))
            .collect();
        let mut all: Vec<(&str, &str)> = notes.iter().map(|n| ("note", n.as_str())).collect();
        if let Some(help) = &w.help {
            all.push(("help", help));
        }
        render_one(&mut out, policy.source(), &label, &w.message, w.span, &all);
    }
    out
}

pub fn run(args: &Args) -> u8 {
    if let Err(e) = super::input::one_stdin(args.files.iter().map(PathBuf::as_path)) {
        eprintln!("error: {e}");
        return exit::TOOL;
    }
    let mut total = 0;
    let mut broken = false;
    let mut files = Vec::new();
    for path in &args.files {
        if super::skip_test_file(path) {
            continue;
        }
        let policy = match super::input::read_policy(path) {
            Ok(p) => p,
            Err(e) => {
                eprint!("{}", super::color::diagnostics_err(&e.render()));
                broken = true;
                continue;
            }
        };
        let warnings = lint::lint(&policy);
        total += warnings.len();
        match args.format {
            Format::Text => print!("{}", super::color::diagnostics(&render(&policy, &warnings))),
            Format::Json => {
                files.push(json!({"file": path.display().to_string(), "warnings": warnings}))
            }
        }
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({"files": files, "warnings": total}))
                .unwrap_or_default()
        ),
        Format::Text => {
            let n = args.files.len();
            println!(
                "{total} warning{} in {n} file{}",
                if total == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" }
            );
        }
    }
    if broken {
        exit::INVALID
    } else if total > 0 && args.deny.is_some() {
        exit::FOUND
    } else {
        exit::OK
    }
}
