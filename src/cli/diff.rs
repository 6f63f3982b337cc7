//! `rekall-policy diff OLD NEW --requests LOG.jsonl [--fail-on-looser] [--examples N]`, and
//! `rekall-policy diff --stricter OLD NEW`: whether NEW is at least as strict on every request.

use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;

use serde_json::Value;

use super::{Format, exit};
use crate::Policy;
use crate::eval::diff::{self, ChangeGroup, ChangeKind, DiffReport, Gate, Side};
use crate::lint::Budget;
use crate::lint::stricter::{self, Strictness};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy as it is now (YAML or DSL; `-` for standard input).
    old: PathBuf,
    /// The policy as it would be (`-` for standard input).
    new: PathBuf,
    /// A JSON Lines log of requests, as `eval --input` reads (`-` for standard input).
    #[arg(long, required_unless_present = "stricter")]
    requests: Option<PathBuf>,
    /// Decide exactly, over every request rather than a log, whether NEW is at least as strict
    /// as OLD: exit 0 when it is, 1 with a request where it is not (or when the analysis
    /// cannot decide within its budget, which counts as looser).
    #[arg(long, conflicts_with_all = ["requests", "fail_on_looser", "examples"])]
    stricter: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 1 when any decision became looser (a looser outcome, or a loosened gate).
    #[arg(long)]
    fail_on_looser: bool,
    /// How many example requests to show per group.
    #[arg(long, default_value_t = 3)]
    examples: usize,
}

/// Invalid lines shown in the text report; the JSON report lists them all.
const INVALID_SHOWN: usize = 10;

pub fn run(args: &Args) -> u8 {
    let paths = [
        Some(args.old.as_path()),
        Some(args.new.as_path()),
        args.requests.as_deref(),
    ];
    if let Err(e) = super::input::one_stdin(paths.into_iter().flatten()) {
        eprintln!("error: {e}");
        return exit::TOOL;
    }
    let old = match super::load_policy(&args.old) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let new = match super::load_policy(&args.new) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (old_name, new_name) = (
        args.old.display().to_string(),
        args.new.display().to_string(),
    );
    let Some(requests) = &args.requests else {
        return stricter(&old, &new, &old_name, &new_name, args.format);
    };
    let log = requests.display().to_string();
    let reader: Box<dyn BufRead> = if requests.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(requests) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("error: cannot read {log}: {e}");
                return exit::TOOL;
            }
        }
    };
    let report = match diff::replay(&old, &new, reader, args.examples) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read {log}: {e}");
            return exit::TOOL;
        }
    };
    match args.format {
        Format::Json => {
            let mut value = serde_json::to_value(&report).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                map.insert("old".into(), Value::String(old_name));
                map.insert("new".into(), Value::String(new_name));
                map.insert("requestsFile".into(), Value::String(log));
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        Format::Text => print!("{}", text(&old_name, &new_name, &log, &report)),
    }
    if args.fail_on_looser && report.any_looser() {
        exit::FOUND
    } else {
        exit::OK
    }
}

/// `--stricter`: the exact comparison, its verdict printed and turned into the exit code.
fn stricter(old: &Policy, new: &Policy, old_name: &str, new_name: &str, format: Format) -> u8 {
    let mut budget = Budget::new(crate::lint::BUDGET);
    let found = stricter::compare_within(old, new, &mut budget);
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&found).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut value {
                // `old` and `new` are the counter-example's decisions here.
                map.insert("oldPolicy".into(), Value::String(old_name.into()));
                map.insert("newPolicy".into(), Value::String(new_name.into()));
                map.insert("work".into(), budget.used().into());
                map.insert("budget".into(), budget.limit().into());
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        Format::Text => print!("{}", stricter_text(old_name, new_name, &found)),
    }
    if found.is_at_least_as_strict() {
        exit::OK
    } else {
        exit::FOUND
    }
}

fn stricter_text(old: &str, new: &str, found: &Strictness) -> String {
    let mut out = String::new();
    match found {
        Strictness::AtLeastAsStrict => {
            let _ = writeln!(out, "{new} is at least as strict as {old} on every request");
        }
        Strictness::Looser(c) => {
            let _ = writeln!(
                out,
                "{new} is not at least as strict as {old}: {}",
                change_head(c.kind, c.old.outcome, c.new.outcome)
            );
            let _ = writeln!(out, "  request: {}", c.request.to_json());
            side_text(&mut out, "old", &c.old);
            side_text(&mut out, "new", &c.new);
        }
        Strictness::Undecided { reason } => {
            let _ = writeln!(
                out,
                "could not decide whether {new} is at least as strict as {old}: {reason}; treated as looser"
            );
        }
    }
    out
}

fn text(old: &str, new: &str, log: &str, report: &DiffReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "old:      {old}");
    let _ = writeln!(out, "new:      {new}");
    let _ = writeln!(out, "requests: {log}");
    if report.groups.is_empty() {
        out.push_str("\nno decision changes\n");
    }
    for group in &report.groups {
        out.push('\n');
        group_text(&mut out, group);
    }
    if !report.invalid.is_empty() {
        let n = report.invalid.len();
        let _ = writeln!(
            out,
            "\nINVALID: {n} line{} not replayed",
            if n == 1 { "" } else { "s" }
        );
        for bad in report.invalid.iter().take(INVALID_SHOWN) {
            let field = bad
                .field
                .as_deref()
                .map(|f| format!("{f}: "))
                .unwrap_or_default();
            let _ = writeln!(out, "  line {}: {field}{}", bad.line, bad.message);
        }
        if n > INVALID_SHOWN {
            let _ = writeln!(out, "  ... and {} more", n - INVALID_SHOWN);
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} requests, {} unchanged, {} looser, {} loosened gates, {} tighter, {} tightened gates, {} approvers changed, {} invalid",
        s.requests,
        s.unchanged,
        s.looser,
        s.gate_loosened,
        s.tighter,
        s.gate_tightened,
        s.approvers_changed,
        s.invalid
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// "LOOSER by 2 steps: request-approval -> auto-approve", and the like for each kind.
fn change_head(kind: ChangeKind, old: crate::Outcome, new: crate::Outcome) -> String {
    let n = (old as u8).abs_diff(new as u8);
    let steps = format!("{n} step{}", plural(usize::from(n)));
    match kind {
        ChangeKind::Looser => format!("LOOSER by {steps}: {old} -> {new}"),
        ChangeKind::Tighter => format!("TIGHTER by {steps}: {old} -> {new}"),
        ChangeKind::GateLoosened => {
            format!("GATE LOOSENED: {old} (more may approve, or fewer must)")
        }
        ChangeKind::GateTightened => {
            format!("GATE TIGHTENED: {old} (fewer may approve, or more must)")
        }
        ChangeKind::Approvers => format!("APPROVERS CHANGED: {old}"),
    }
}

fn group_text(out: &mut String, g: &ChangeGroup) {
    let head = change_head(g.kind, g.old, g.new);
    let _ = writeln!(out, "{head} ({} request{})", g.count, plural(g.count));
    for change in &g.examples {
        let id = change
            .id
            .as_ref()
            .map(|id| format!(" (id {id})"))
            .unwrap_or_default();
        let _ = writeln!(out, "  line {}{id}: {}", change.line, change.request);
        side_text(out, "old", &change.old);
        side_text(out, "new", &change.new);
    }
    if g.count > g.examples.len() {
        let _ = writeln!(out, "  ... and {} more", g.count - g.examples.len());
    }
}

fn side_text(out: &mut String, label: &str, side: &Side) {
    let _ = writeln!(out, "    {label}: {}", gate_text(side.outcome, &side.gate));
    let _ = writeln!(out, "         {}", side.reason);
}

/// "request-approval by user:adam, user:alice (2 needed)", with each chain step's quorum.
fn gate_text(outcome: crate::Outcome, gate: &Gate) -> String {
    let mut out = outcome.as_str().to_owned();
    let names = |list: &[crate::Principal]| {
        list.iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if gate.chain.is_empty() {
        if !gate.approvers.is_empty() {
            let _ = write!(out, " by {}", names(&gate.approvers));
        }
        if let Some(m) = gate.min_approvals {
            let _ = write!(out, " ({m} needed)");
        }
    } else {
        let steps: Vec<String> = gate
            .chain
            .iter()
            .map(|s| {
                format!(
                    "{}: {} of [{}]",
                    s.step,
                    s.min_approvals,
                    names(&s.approvers)
                )
            })
            .collect();
        let _ = write!(out, " by chain {}", steps.join(", then "));
    }
    out
}
