//! `rekall-policy explain FILE --action A [--resource R] [--confidence C] [--context JSON]`

use std::fmt::Write as _;
use std::path::PathBuf;

use serde_json::json;

use super::{Format, exit};
use crate::eval::explain::{self, RuleStatus, StageTrace, Trace};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file (YAML or DSL), or `-` for standard input.
    file: PathBuf,
    /// The action to explain.
    #[arg(long)]
    action: String,
    /// The resource acted on.
    #[arg(long)]
    resource: Option<String>,
    /// The agent's confidence, between 0 and 1 (absent means 0).
    #[arg(long, allow_hyphen_values = true)]
    confidence: Option<String>,
    /// Context carried with the request, as JSON (never part of matching).
    #[arg(long)]
    context: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// A runtime store (sqlite://PATH): decide with the thresholds the learning loop keeps
    /// there, and say where they differ from the policy's.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
}

pub fn run(args: &Args) -> u8 {
    let policy = match super::load_policy(&args.file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let policy = match &args.store {
        None => policy,
        Some(url) => match effective(&policy, url) {
            Ok(p) => p,
            Err(code) => return code,
        },
    };
    match super::request_from_flags(
        &args.action,
        args.resource.as_deref(),
        args.confidence.as_deref(),
        args.context.as_deref(),
    )
    .and_then(|r| explain::explain(&policy, &r))
    {
        Ok(trace) => {
            match args.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&trace).unwrap_or_default()
                ),
                Format::Text => print!("{}", text(&policy.source().origin, &trace)),
            }
            exit::OK
        }
        Err(e) => {
            match args.format {
                Format::Json => println!(
                    "{}",
                    json!({"error": {"field": e.field, "message": e.message}})
                ),
                Format::Text => eprintln!("error: invalid request: {e}"),
            }
            exit::FOUND
        }
    }
}

/// The policy under the store's overlay of thresholds.
fn effective(policy: &crate::Policy, url: &str) -> Result<crate::Policy, u8> {
    let mut out = None;
    let code = super::runtime_cli::read(url, |store| {
        let out = &mut out;
        async move {
            let overlays = store.overlays().await?;
            let map: std::collections::BTreeMap<String, f64> =
                crate::runtime::threshold_states(policy.adaptive_rules(), &overlays)
                    .into_iter()
                    .map(|s| (s.class, s.effective))
                    .collect();
            *out =
                Some(policy.with_thresholds(&map).map_err(|e| {
                    crate::runtime::RuntimeError::invalid("--store", e.to_string())
                })?);
            Ok(exit::OK)
        }
    });
    out.ok_or(code)
}

/// The human-readable trace.
fn text(file: &str, trace: &Trace) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "policy:     {file}");
    let req = &trace.request;
    let field = |name: &str| req.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let confidence = match req.get("confidence") {
        Some(_) => explain::number(trace.confidence),
        None => "none given, so 0.0 (the most cautious)".to_owned(),
    };
    let _ = writeln!(
        out,
        "request:    action `{}`, resource `{}`, confidence {confidence}",
        field("action"),
        field("resource"),
    );
    if let Some(context) = req.get("context") {
        let _ = writeln!(out, "context:    {context} (not used in matching)");
    }
    for stage in [&trace.hitl, &trace.escalation].into_iter().flatten() {
        out.push('\n');
        stage_text(&mut out, stage);
    }
    for t in &trace.thresholds {
        let _ = writeln!(out, "threshold:  {}", t.message);
    }
    out.push('\n');
    let _ = writeln!(out, "combined: {}", trace.combination.message);
    out.push('\n');
    out.push_str(&super::eval::text(&trace.decision.as_decision()));
    out
}

fn stage_text(out: &mut String, stage: &StageTrace) {
    let what = match stage.stage {
        crate::Stage::Hitl => "the first rule whose action and resource both match",
        crate::Stage::Escalation => {
            "the first rule whose globs match and whose band holds the confidence"
        }
    };
    let _ = writeln!(out, "{} stage: {what}", stage.stage.as_str());
    let names: Vec<String> = stage
        .rules
        .iter()
        .map(|r| match &r.id {
            Some(id) => format!("rule {} {id}", r.index),
            None => format!("rule {}", r.index),
        })
        .collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    for (rule, name) in stage.rules.iter().zip(&names) {
        let location = format!("line {}", rule.line);
        let detail = match rule.status {
            RuleStatus::NotTried => "not tried".to_owned(),
            RuleStatus::NotMatched => {
                let failed: Vec<&str> = rule
                    .checks
                    .iter()
                    .filter(|c| !c.holds)
                    .map(|c| c.message.as_str())
                    .collect();
                format!("no match: {}", failed.join("; "))
            }
            RuleStatus::Matched => {
                let held: Vec<&str> = rule
                    .checks
                    .iter()
                    .filter(|c| c.written)
                    .map(|c| c.message.as_str())
                    .collect();
                let why = if held.is_empty() {
                    "no conditions, so every request".to_owned()
                } else {
                    held.join("; ")
                };
                format!("MATCH: {why} -> {}", rule.outcome)
            }
        };
        let _ = writeln!(out, "  {name:<width$}  {location:<8} {detail}");
    }
    if stage.rules.is_empty() {
        let _ = writeln!(out, "  (no rules)");
    }
    let _ = writeln!(out, "  => {}", stage.message);
}
