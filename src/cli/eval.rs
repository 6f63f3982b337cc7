//! `rekall-policy eval FILE (--action A ... | --input PATH)`

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Format, exit};
use crate::{Decision, Policy};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy file (YAML or DSL), or `-` for standard input.
    file: PathBuf,
    /// The action to decide (for one request).
    #[arg(long, required_unless_present = "input", conflicts_with = "input")]
    action: Option<String>,
    /// The resource acted on.
    #[arg(long, requires = "action")]
    resource: Option<String>,
    /// The agent's confidence, between 0 and 1 (absent means 0).
    #[arg(long, requires = "action", allow_hyphen_values = true)]
    confidence: Option<String>,
    /// Context carried with the request, as JSON.
    #[arg(long, requires = "action")]
    context: Option<String>,
    /// Output format for one request.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// A JSON Lines file of requests (`-` for standard input); one JSON decision per line out.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Exit 1 when a decision is `deny`, or is not approved (anything but `auto-approve` and
    /// `notify-and-proceed`): a gate for shell scripts.
    #[arg(long, value_enum, value_name = "WHAT")]
    fail_on: Option<FailOn>,
}

/// Which decisions make `eval` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    /// The outcome is `deny`.
    Deny,
    /// The decision is not approved: it waits for a person, escalates or denies.
    NotApproved,
}

impl FailOn {
    fn fails(self, outcome: &str, approved: bool) -> bool {
        match self {
            FailOn::Deny => outcome == "deny",
            FailOn::NotApproved => !approved,
        }
    }
}

pub fn run(args: &Args) -> u8 {
    let paths = [Some(args.file.as_path()), args.input.as_deref()];
    if let Err(e) = super::input::one_stdin(paths.into_iter().flatten()) {
        eprintln!("error: {e}");
        return exit::TOOL;
    }
    let policy = match super::load_policy(&args.file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    match &args.input {
        Some(input) => run_lines(&policy, input, args.fail_on),
        None => run_one(&policy, args),
    }
}

fn run_one(policy: &Policy, args: &Args) -> u8 {
    let decided = super::request_from_flags(
        args.action.as_deref().unwrap_or_default(),
        args.resource.as_deref(),
        args.confidence.as_deref(),
        args.context.as_deref(),
    )
    .and_then(|r| policy.decide(&r));
    match decided {
        Ok(decision) => {
            match args.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&decision).unwrap_or_default()
                ),
                Format::Text => print!("{}", text(&decision)),
            }
            let failed = args
                .fail_on
                .is_some_and(|f| f.fails(decision.outcome().as_str(), decision.approved()));
            if failed { exit::FOUND } else { exit::OK }
        }
        Err(e) => {
            match args.format {
                Format::Json => println!("{}", error_json(Some(&e.field), &e.message)),
                Format::Text => eprintln!("error: invalid request: {e}"),
            }
            exit::FOUND
        }
    }
}

/// The human-readable form of a decision.
pub(crate) fn text(d: &Decision<'_>) -> String {
    use std::fmt::Write as _;
    let v = d.verdict();
    let mut out = String::new();
    let verdict_word = if d.approved() {
        "approved"
    } else {
        "not approved"
    };
    let _ = writeln!(out, "outcome:    {} ({verdict_word})", v.outcome);
    if !v.approvers.is_empty() {
        let names: Vec<&str> = v.approvers.iter().map(|p| p.as_str()).collect();
        let quorum = v
            .min_approvals
            .map(|m| format!(" ({m} needed)"))
            .unwrap_or_default();
        let _ = writeln!(out, "approvers:  {}{quorum}", names.join(", "));
    }
    for (i, step) in v.chain.iter().enumerate() {
        let names: Vec<&str> = step.approvers.iter().map(|p| p.as_str()).collect();
        let timeout = step
            .timeout
            .map(|t| format!(", timeout {t}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "step {}:     {}: {} of [{}]{timeout}",
            i + 1,
            step.step,
            step.min_approvals,
            names.join(", ")
        );
    }
    if !v.notify_via.is_empty() {
        let _ = writeln!(out, "notify via: {}", v.notify_via.join(", "));
    }
    if let Some(t) = v.timeout {
        let _ = writeln!(out, "timeout:    {t}");
    }
    if let Some(p) = v.priority {
        let _ = writeln!(out, "priority:   {p}");
    }
    let _ = writeln!(out, "reason:     {}", d.reason());
    out
}

fn error_json(field: Option<&str>, message: &str) -> Value {
    json!({"error": {"field": field, "message": message}})
}

/// Decides each line of a JSON Lines file. A bad line gets an error object on its own output
/// line and the run goes on; the exit code says whether any line failed.
fn run_lines(policy: &Policy, input: &std::path::Path, fail_on: Option<FailOn>) -> u8 {
    let reader: Box<dyn BufRead> = if input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(input) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", input.display());
                return exit::TOOL;
            }
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut any_failed = false;
    let read = crate::json_lines::for_each_line(reader, |line_no, text| {
        let (mut object, id) = match text
            .map_err(|message| (None, message, None))
            .and_then(|t| decide_line(policy, t))
        {
            Ok((decision, id)) => {
                let outcome = decision["outcome"].as_str().unwrap_or_default();
                let approved = decision["approved"].as_bool().unwrap_or(false);
                if fail_on.is_some_and(|f| f.fails(outcome, approved)) {
                    any_failed = true;
                }
                (decision, id)
            }
            Err((field, message, id)) => {
                any_failed = true;
                (error_json(field.as_deref(), &message), id)
            }
        };
        if let Value::Object(map) = &mut object {
            map.insert("line".into(), json!(line_no));
            if let Some(id) = id {
                map.insert("id".into(), id);
            }
        }
        if let Err(e) = writeln!(out, "{object}") {
            super::output::stopped(&e);
        }
    });
    if let Err(e) = read {
        eprintln!("error: cannot read {}: {e}", input.display());
        return exit::TOOL;
    }
    if let Err(e) = out.flush() {
        super::output::stopped(&e);
    }
    if any_failed { exit::FOUND } else { exit::OK }
}

type LineFailure = (Option<String>, String, Option<Value>);

/// Decides one line: the decision as JSON and the line's `id`, or why the line has none.
fn decide_line(policy: &Policy, line: &str) -> Result<(Value, Option<Value>), LineFailure> {
    let crate::json_lines::RequestLine { request, id } =
        crate::json_lines::request(line).map_err(|e| (e.field, e.message, e.id))?;
    let decision = policy
        .decide(&request)
        .map_err(|e| (Some(e.field), e.message, id.clone()))?;
    let value = serde_json::to_value(decision).map_err(|e| (None, e.to_string(), id.clone()))?;
    Ok((value, id))
}
