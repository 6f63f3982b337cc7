//! `rekall-policy executions list|show --store URL`: what the agents are doing, for a person
//! at a terminal.

use clap::Subcommand;
use serde_json::json;

use super::exit;
use super::runtime_cli::{Format, block_on, print_json};
use crate::runtime::{ExecutionId, ExecutionStatus, Runtime, RuntimeError};
use crate::store::{ApprovalFilter, ExecutionFilter, FeedbackFilter};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// List executions, newest first.
    List {
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Only executions in this status (created, running, paused, completed, failed,
        /// cancelled).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Show one execution: its state, checkpoints, requests and audit log.
    Show {
        /// The execution's id (exe_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

pub fn run(args: &Args) -> u8 {
    match &args.command {
        Sub::List {
            store,
            status,
            limit,
            format,
        } => {
            let status = match status.as_deref().map(str::parse::<ExecutionStatus>) {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(e)) => {
                    eprintln!("error: --status: {e}");
                    return exit::TOOL;
                }
            };
            block_on(store, |rt| list(rt, status, *limit, *format))
        }
        Sub::Show { id, store, format } => block_on(store, |rt| show(rt, id, *format)),
    }
}

async fn list(
    rt: Runtime,
    status: Option<ExecutionStatus>,
    limit: usize,
    format: Format,
) -> Result<u8, RuntimeError> {
    let found = rt
        .execution()
        .list(ExecutionFilter {
            status,
            limit: Some(limit),
        })
        .await?;
    match format {
        Format::Json => {
            for e in &found {
                print_json(e);
            }
        }
        Format::Text => {
            if found.is_empty() {
                println!("no executions");
            }
            for e in &found {
                let step = e
                    .checkpoint
                    .as_ref()
                    .map_or_else(String::new, |c| format!("step {}: {}", c.step, c.message));
                println!(
                    "{}  {:<9}  {}  {}  {step}",
                    e.id, e.status, e.updated_at, e.name
                );
            }
        }
    }
    Ok(exit::OK)
}

async fn show(rt: Runtime, id: &str, format: Format) -> Result<u8, RuntimeError> {
    let id = ExecutionId::from(id);
    let e = rt.execution().get(&id).await?;
    let checkpoints = rt.execution().checkpoints(&id).await?;
    let approvals = rt
        .approvals()
        .list(ApprovalFilter {
            execution: Some(id.clone()),
            ..ApprovalFilter::default()
        })
        .await?;
    let feedback = rt
        .feedback()
        .list(FeedbackFilter {
            execution: Some(id.clone()),
            ..FeedbackFilter::default()
        })
        .await?;
    let audit = rt.audit().for_execution(&id).await?;
    if format == Format::Json {
        print_json(&json!({
            "execution": e, "checkpoints": checkpoints, "approvals": approvals,
            "feedback": feedback, "audit": audit,
        }));
        return Ok(exit::OK);
    }
    println!("{}  {}", e.id, e.name);
    println!("  status:  {}", e.status);
    println!("  agent:   {}", e.agent);
    println!("  created: {}", e.created_at);
    println!("  updated: {}", e.updated_at);
    if !e.waiting_on.is_empty() {
        println!("  waiting on: {}", e.waiting_on.join(", "));
    }
    if let Some(r) = &e.result {
        println!("  result:  {r}");
    }
    if let Some(err) = &e.error {
        println!("  error:   {err}");
    }
    println!("checkpoints:");
    for c in &checkpoints {
        println!(
            "  #{} step {}  {}  {}  state {}",
            c.seq, c.step, c.at, c.message, c.state
        );
    }
    println!("approvals:");
    for a in &approvals {
        println!("  {}  {:<9}  {}", a.id, a.status, a.title);
        for s in &a.steps {
            let by: Vec<String> = s
                .votes
                .iter()
                .map(|v| format!("{} {:?}", v.principal, v.choice).to_lowercase())
                .collect();
            println!(
                "    {}: {}  ({})",
                s.spec.step,
                s.status,
                if by.is_empty() {
                    "no votes".into()
                } else {
                    by.join(", ")
                }
            );
        }
    }
    println!("feedback:");
    for f in &feedback {
        println!("  {}  {:<9}  {}", f.id, f.status, f.title);
    }
    println!("audit:");
    for a in &audit {
        let who = a.principal.as_ref().map_or("-", |p| p.as_str());
        println!("  {}  {}  {who}  {}", a.at, a.kind, a.detail);
    }
    Ok(exit::OK)
}
