//! `rekall-policy approvals request|list|show|approve|reject --store URL`: open an approval
//! request and answer one from a terminal. Votes go through the same runtime rules as any
//! other: a refused vote says why and exits with 1.
//!
//! `--as` is taken on trust: the store is a local file, and whoever can write it can vote as
//! any principal (or edit the votes). Authenticated approval is the server's job.

use clap::Subcommand;

use super::exit;
use std::sync::Arc;

use super::runtime_cli::{Format, block_on, found, print_json, read, run_async};
use super::untrusted::printable;
use crate::ir::{Duration, Principal};
use crate::model::{
    ApprovalId, ApprovalRequest, ApprovalStatus, ExecutionId, FeedbackId, StepSpec,
};
use crate::runtime::{ApprovalSpec, Clock, NewExecution, Runtime, RuntimeError, SystemClock};
use crate::store::{ApprovalFilter, Store};

/// Shown under every `approvals` verb's help: the trust the local store asks for.
const TRUST: &str = "Trust: `--as` is not checked against who runs the command. Whoever can write \
the store file can approve or reject as any principal, so keep the file writable only by \
operators; authenticated approval is the server's job.";

#[derive(Debug, clap::Args)]
#[command(after_help = TRUST)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Open an approval request and print its id: a new execution named after the title (or
    /// the one given) pauses until the approvers answer, as an agent's would.
    #[command(after_help = TRUST)]
    Request {
        /// The store: sqlite://PATH. A missing file becomes a new store, as for an agent.
        #[arg(long, value_name = "URL")]
        store: String,
        /// What is asked, in one line.
        #[arg(long)]
        title: String,
        /// Who may approve, comma-separated (such as user:adam,user:alice).
        #[arg(
            long,
            value_delimiter = ',',
            required = true,
            value_name = "PRINCIPALS"
        )]
        approvers: Vec<String>,
        /// How many distinct approvers must approve.
        #[arg(long, default_value_t = 1, value_name = "N")]
        min_approvals: u32,
        /// A longer text for the approvers: what, why, what it risks.
        #[arg(long, default_value = "")]
        description: String,
        /// How long the approvers have, such as 30m or 1h; then the request is rejected.
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
        /// The execution to pause (exe_...); by default a new one, named after the title.
        #[arg(long, value_name = "ID")]
        execution: Option<String>,
    },
    /// Show one request: its description, each step's approvers, quorum and deadline, and
    /// every vote with its comment; for a feedback request (fbk_...), its artifacts, form and
    /// answers. Text from the agent is shown with control characters escaped. Reads the store
    /// read-only.
    Show {
        /// The request's id (apr_... or fbk_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// List approval requests, newest first (pending ones unless --status says otherwise).
    /// Reads the store read-only: a deadline that has passed shows as overdue, and is
    /// handled by the agent's runtime or the next vote.
    #[command(after_help = TRUST)]
    List {
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// pending (default), approved, rejected, timed_out, cancelled, or all.
        #[arg(long, default_value = "pending")]
        status: String,
        /// Only requests this principal may vote on now.
        #[arg(long = "for", value_name = "PRINCIPAL")]
        for_principal: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Approve a request as a principal (taken on trust: see below).
    #[command(after_help = TRUST)]
    Approve {
        /// The request's id (apr_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Who votes, such as user:adam. Not authenticated: see below.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
        /// A comment kept with the vote.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a request as a principal (taken on trust: see below); the reason goes back to
    /// the agent.
    #[command(after_help = TRUST)]
    Reject {
        /// The request's id (apr_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Who votes, such as user:adam. Not authenticated: see below.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
        /// Why: it goes back to the agent.
        #[arg(long)]
        reason: String,
    },
}

fn principal(text: &str, flag: &str) -> Result<Principal, u8> {
    Principal::parse(text).ok_or_else(|| {
        eprintln!("error: {flag}: `{text}` is not a principal; write kind:name, such as user:adam");
        exit::TOOL
    })
}

pub fn run(args: &Args) -> u8 {
    match &args.command {
        Sub::Request {
            store,
            title,
            approvers,
            min_approvals,
            description,
            timeout,
            execution,
        } => {
            let mut names = Vec::new();
            for a in approvers {
                match principal(a.trim(), "--approvers") {
                    Ok(p) => names.push(p),
                    Err(code) => return code,
                }
            }
            // Checked before anything is written, so that a request nobody could approve
            // leaves no execution behind.
            let distinct: std::collections::BTreeSet<&Principal> = names.iter().collect();
            if *min_approvals == 0 || *min_approvals as usize > distinct.len() {
                eprintln!(
                    "error: --min-approvals: {min_approvals} cannot be met by {} distinct approver{}; give between 1 and {}",
                    distinct.len(),
                    if distinct.len() == 1 { "" } else { "s" },
                    distinct.len()
                );
                return exit::TOOL;
            }
            let mut step = StepSpec::new("approval", names).min_approvals(*min_approvals);
            if let Some(text) = timeout {
                match Duration::parse(text) {
                    Ok(d) => step = step.timeout(d),
                    Err(e) => {
                        eprintln!("error: --timeout: `{text}`: {e}");
                        return exit::TOOL;
                    }
                }
            }
            let spec = ApprovalSpec::gate(title.clone(), step).description(description.clone());
            let url = store.clone();
            run_async(async move {
                let rt = Runtime::builder()
                    .store_url(&url)
                    .background(false)
                    .build()
                    .await?;
                request(rt, &url, spec, execution.as_deref()).await
            })
        }
        Sub::Show { id, store, format } => read(store, |s| show(s, id, *format)),
        Sub::List {
            store,
            status,
            for_principal,
            format,
        } => {
            let status = match status.as_str() {
                "all" => None,
                s => match s.parse::<ApprovalStatus>() {
                    Ok(s) => Some(s),
                    Err(e) => {
                        eprintln!("error: --status: {e}, or all");
                        return exit::TOOL;
                    }
                },
            };
            let who = match for_principal.as_deref().map(|p| principal(p, "--for")) {
                None => None,
                Some(Ok(p)) => Some(p),
                Some(Err(code)) => return code,
            };
            read(store, |s| list(s, status, who, *format))
        }
        Sub::Approve {
            id,
            store,
            principal: who,
            comment,
        } => match principal(who, "--as") {
            Ok(who) => block_on(store, |rt| vote(rt, id, who, true, comment.clone())),
            Err(code) => code,
        },
        Sub::Reject {
            id,
            store,
            principal: who,
            reason,
        } => match principal(who, "--as") {
            Ok(who) => block_on(store, |rt| vote(rt, id, who, false, Some(reason.clone()))),
            Err(code) => code,
        },
    }
}

async fn list(
    store: Arc<dyn Store>,
    status: Option<ApprovalStatus>,
    who: Option<Principal>,
    format: Format,
) -> Result<u8, RuntimeError> {
    let found: Vec<ApprovalRequest> = store
        .approvals(ApprovalFilter {
            status,
            ..ApprovalFilter::default()
        })
        .await?
        .into_iter()
        .map(|v| v.record)
        .filter(|r| who.as_ref().is_none_or(|w| r.may_vote(w)))
        .collect();
    match format {
        Format::Json => {
            for r in &found {
                print_json(r);
            }
        }
        Format::Text => {
            let now = SystemClock.now();
            if found.is_empty() {
                println!("no approval requests");
            }
            for r in &found {
                let step = r.current_step();
                let step_text = step.map_or_else(String::new, |s| {
                    let names: Vec<String> = s.eligible().iter().map(ToString::to_string).collect();
                    let deadline = match s.deadline {
                        None => "no deadline".to_string(),
                        // Read-only: the timeout is applied by whoever next writes.
                        Some(d) if d <= now => format!("overdue since {d}"),
                        Some(d) => format!("due {d}"),
                    };
                    format!(
                        "step `{}` {}/{} by {}; {deadline}",
                        printable(&s.spec.step),
                        s.approved_by().len(),
                        s.spec.min_approvals,
                        names.join(", ")
                    )
                });
                println!(
                    "{}  {:<9}  {}  {}  {step_text}",
                    r.id,
                    r.status.to_string(),
                    r.execution_id,
                    printable(&r.title)
                );
            }
        }
    }
    Ok(exit::OK)
}

async fn vote(
    rt: Runtime,
    id: &str,
    who: Principal,
    approve: bool,
    note: Option<String>,
) -> Result<u8, RuntimeError> {
    let id = ApprovalId::from(id);
    let a = rt.approvals();
    let receipt = if approve {
        a.approve(&id, &who, note.as_deref()).await
    } else {
        a.reject(&id, &who, note.as_deref().unwrap_or_default())
            .await
    };
    match receipt {
        Ok(r) if !r.counted => {
            println!(
                "{id}: {who} already voted in step `{}`; the vote is not counted twice ({})",
                r.step, r.status
            );
            Ok(exit::OK)
        }
        Ok(r) => {
            println!(
                "{id}: {} by {who} at step `{}`; the request is {}",
                if approve { "approved" } else { "rejected" },
                r.step,
                r.status
            );
            Ok(exit::OK)
        }
        Err(RuntimeError::Vote(refused)) => {
            eprintln!("refused: {refused}");
            Ok(exit::FOUND)
        }
        Err(e) => Err(e),
    }
}

/// Opens the request on the given execution, or on a new one started for it, and prints the
/// request's id alone on standard output (for `id=$(...)`), with what to do next on stderr.
async fn request(
    rt: Runtime,
    url: &str,
    spec: ApprovalSpec,
    execution: Option<&str>,
) -> Result<u8, RuntimeError> {
    let executions = rt.execution();
    let id = match execution {
        Some(id) => ExecutionId::from(id),
        None => {
            let e = executions
                .create(NewExecution::new(spec.title.clone()))
                .await?;
            executions.start(&e.id).await?;
            e.id
        }
    };
    let voters: Vec<String> = spec.steps[0]
        .approvers
        .iter()
        .map(ToString::to_string)
        .collect();
    let handle = executions.request_approval(&id, spec).await?;
    println!("{}", handle.id());
    eprintln!(
        "pending: {} (execution {id}) waits for {}; answer with `rekall-policy approvals approve {} --store {url} --as {}`",
        handle.id(),
        voters.join(", "),
        handle.id(),
        voters.first().map_or("PRINCIPAL", String::as_str),
    );
    Ok(exit::OK)
}

/// One request in full, for a person deciding on it.
async fn show(store: Arc<dyn Store>, id: &str, format: Format) -> Result<u8, RuntimeError> {
    if id.starts_with(FeedbackId::PREFIX) {
        return show_feedback(store, id, format).await;
    }
    let id = ApprovalId::from(id);
    let r = found(store.approval(&id).await?, "approval request", &id)?;
    if format == Format::Json {
        print_json(&r);
        return Ok(exit::OK);
    }
    let now = SystemClock.now();
    println!("{}  {}", r.id, printable(&r.title));
    println!("  status:       {}", r.status);
    if let Some(reason) = &r.reason {
        println!("  reason:       {}", printable(reason));
    }
    println!("  execution:    {}", r.execution_id);
    println!("  requested by: {}", r.requested_by);
    println!("  created:      {}", r.created_at);
    if let Some(at) = r.resolved_at {
        println!("  resolved:     {at}");
    }
    if let Some(p) = r.priority {
        println!("  priority:     {p}");
    }
    if !r.notify_via.is_empty() {
        println!("  notify via:   {}", r.notify_via.join(", "));
    }
    if let Some(b) = &r.binding {
        println!(
            "  for the call: {}",
            serde_json::to_string(b).unwrap_or_default()
        );
    }
    print_description(&r.description);
    let kind = if r.chain { "chain" } else { "gate" };
    println!(
        "{kind}: step {} of {}",
        (r.current + 1).min(r.steps.len()),
        r.steps.len()
    );
    for (i, s) in r.steps.iter().enumerate() {
        let eligible: Vec<String> = s.eligible().iter().map(ToString::to_string).collect();
        let deadline = match s.deadline {
            None => "no deadline".to_string(),
            // Read-only: the timeout is applied by whoever next writes.
            Some(d) if d <= now && r.status == ApprovalStatus::Pending => {
                format!("overdue since {d}")
            }
            Some(d) => format!("due {d}"),
        };
        println!(
            "  {}. `{}`  {}  {}/{} approved, by any of {}; {deadline}",
            i + 1,
            printable(&s.spec.step),
            s.status,
            s.approved_by().len(),
            s.spec.min_approvals,
            eligible.join(", ")
        );
        if s.votes.is_empty() {
            println!("     no votes");
        }
        for v in &s.votes {
            let choice = match v.choice {
                crate::model::Choice::Approve => "approved",
                crate::model::Choice::Reject => "rejected",
            };
            let note = v
                .note
                .as_deref()
                .map(|n| format!(": {}", printable(n)))
                .unwrap_or_default();
            println!("     {} {choice} at {}{note}", v.principal, v.at);
        }
    }
    Ok(exit::OK)
}

fn print_description(description: &str) {
    println!("description:");
    if description.trim().is_empty() {
        println!("  (none)");
    }
    for line in printable(description).lines() {
        println!("  {line}");
    }
}

/// A feedback request in full: what it asks, the artifacts to look at (code as code, with its
/// language), the form's fields and, once given, the answers.
async fn show_feedback(
    store: Arc<dyn Store>,
    id: &str,
    format: Format,
) -> Result<u8, RuntimeError> {
    let id = FeedbackId::from(id);
    let r = found(store.feedback(&id).await?, "feedback request", &id)?;
    if format == Format::Json {
        print_json(&r);
        return Ok(exit::OK);
    }
    println!("{}  {}", r.id, printable(&r.title));
    println!("  status:       {}", r.status);
    println!("  execution:    {}", r.execution_id);
    println!("  requested by: {}", r.requested_by);
    println!("  created:      {}", r.created_at);
    if let Some(at) = r.deadline {
        println!("  deadline:     {at}");
    }
    if let Some(at) = r.resolved_at {
        println!("  resolved:     {at}");
    }
    let respondents: Vec<String> = r.respondents.iter().map(ToString::to_string).collect();
    println!(
        "  who answers:  {}",
        if respondents.is_empty() {
            "anyone but the agent".to_string()
        } else {
            respondents.join(", ")
        }
    );
    print_description(&r.description);
    println!("artifacts:");
    if r.artifacts.is_empty() {
        println!("  (none)");
    }
    for (i, a) in r.artifacts.iter().enumerate() {
        let language = a
            .language
            .as_deref()
            .map(|l| format!(" ({})", printable(l)))
            .unwrap_or_default();
        let title = a
            .title
            .as_deref()
            .map(|t| format!(": {}", printable(t)))
            .unwrap_or_default();
        println!("  {}. {}{language}{title}", i + 1, printable(&a.kind));
        for line in printable(&a.content).lines() {
            println!("     | {line}");
        }
    }
    println!("form:");
    for f in &r.form.fields {
        println!(
            "  {}  {}{}",
            f.name,
            printable(&f.label),
            if f.required { "" } else { " (optional)" }
        );
    }
    if let Some(answers) = &r.answers {
        let by = r
            .submitted_by
            .as_ref()
            .map(|p| format!(" by {p}"))
            .unwrap_or_default();
        println!("answers{by}:");
        for (name, value) in answers {
            println!("  {name}: {}", printable(&value.to_string()));
        }
    }
    Ok(exit::OK)
}
