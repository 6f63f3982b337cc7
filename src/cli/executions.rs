//! `rekall-policy executions list|show|cancel|resume --store URL`: what the agents are doing,
//! for a person at a terminal, and the two changes a person makes to it.

use clap::Subcommand;
use serde_json::json;

use super::exit;
use std::sync::Arc;

use super::runtime_cli::{Format, block_on, found, print_json, read};
use super::untrusted::printable;
use std::path::PathBuf;

use serde_json::Value;

use crate::ir::Principal;
use crate::learn::Label;
use crate::model::{Call, ExecutionId, ExecutionStatus};
use crate::runtime::{LoadedPolicy, RuntimeError};
use crate::store::{ApprovalFilter, AuditFilter, ExecutionFilter, FeedbackFilter, Store};

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
        /// The most executions to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output format.
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
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Cancel an execution and every request it still waits on; the agent sees the reason.
    Cancel {
        /// The execution's id (exe_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Why: kept with the execution and in its audit log.
        #[arg(long)]
        reason: String,
    },
    /// Resume a paused execution (one paused by a failure, or by hand); one still waiting on
    /// a person is refused, saying on whom.
    Resume {
        /// The execution's id (exe_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
    },
    /// Say how a call of an adaptive rule turned out after the fact: the latest such call of
    /// the execution is labelled, and a bad outcome of an auto-approved call can raise its
    /// class's threshold at once.
    ReportOutcome {
        /// The execution's id (exe_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// The policy in force, whose learner takes the label (the same file the agent's
        /// runtime loaded).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// The call's action, as given to check_escalation.
        #[arg(long)]
        action: String,
        /// The call's resource, as given to check_escalation.
        #[arg(long, default_value = "")]
        resource: String,
        /// The call's context as JSON, as given to check_escalation (it tells calls apart).
        #[arg(long, value_name = "JSON")]
        context: Option<String>,
        /// How it went: ok or bad.
        #[arg(long, value_enum)]
        outcome: Reported,
        /// What happened; kept with the label.
        #[arg(long)]
        note: Option<String>,
        /// Who reports, such as user:ops. Not authenticated: taken on trust, and audited.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: Option<String>,
    },
}

/// A reported outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Reported {
    Ok,
    Bad,
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
            read(store, |s| list(s, status, *limit, *format))
        }
        Sub::Show { id, store, format } => read(store, |s| show(s, id, *format)),
        Sub::Cancel { id, store, reason } => block_on(store, |rt| async move {
            let id = ExecutionId::from(id.as_str());
            match rt.execution().cancel(&id, reason).await {
                Ok(e) => {
                    println!("{}: {}", e.id, e.status);
                    Ok(exit::OK)
                }
                Err(e) => refused(e),
            }
        }),
        Sub::ReportOutcome {
            id,
            store,
            policy,
            action,
            resource,
            context,
            outcome,
            note,
            principal,
        } => {
            let policy = match super::load_policy(policy) {
                Ok(p) => LoadedPolicy::new(&p),
                Err(code) => return code,
            };
            let context: Value = match context.as_deref().map(serde_json::from_str) {
                None => Value::Null,
                Some(Ok(v)) => v,
                Some(Err(e)) => {
                    eprintln!("error: --context: not JSON: {e}");
                    return exit::TOOL;
                }
            };
            let by = match principal.as_deref().map(|t| (t, Principal::parse(t))) {
                None => None,
                Some((_, Some(p))) => Some(p),
                Some((t, None)) => {
                    eprintln!(
                        "error: --as: `{t}` is not a principal; write kind:name, such as user:ops"
                    );
                    return exit::TOOL;
                }
            };
            let call = Call::new(action.as_str())
                .resource(resource.as_str())
                .context(context);
            let label = match outcome {
                Reported::Ok => Label::Good,
                Reported::Bad => Label::Bad,
            };
            block_on(store, |rt| async move {
                rt.set_policy(policy).await?;
                let id = ExecutionId::from(id.as_str());
                match rt
                    .execution()
                    .report_outcome(&id, &call, label, note.as_deref(), by.as_ref())
                    .await
                {
                    Ok(c) => {
                        println!(
                            "{}: call {} of {} labelled {}",
                            id,
                            c.seq,
                            c.class,
                            crate::model::label_name(label)
                        );
                        Ok(exit::OK)
                    }
                    Err(RuntimeError::NotFound { what, id }) => {
                        eprintln!("refused: no {what} matches {id}");
                        Ok(exit::FOUND)
                    }
                    Err(e) => Err(e),
                }
            })
        }
        Sub::Resume { id, store } => block_on(store, |rt| async move {
            let id = ExecutionId::from(id.as_str());
            match rt.execution().resume(&id).await {
                Ok(e) => {
                    println!("{}: {}", e.id, e.status);
                    Ok(exit::OK)
                }
                Err(e) => refused(e),
            }
        }),
    }
}

/// A change the execution's state machine refuses is the command's finding (exit 1); a store
/// that cannot be read is not.
fn refused(e: RuntimeError) -> Result<u8, RuntimeError> {
    match e {
        RuntimeError::Execution(refusal) => {
            eprintln!("refused: {refusal}");
            Ok(exit::FOUND)
        }
        other => Err(other),
    }
}

async fn list(
    store: Arc<dyn Store>,
    status: Option<ExecutionStatus>,
    limit: usize,
    format: Format,
) -> Result<u8, RuntimeError> {
    let found: Vec<_> = store
        .executions(ExecutionFilter {
            status,
            limit: Some(limit),
        })
        .await?
        .into_iter()
        .map(|v| v.record)
        .collect();
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
                let step = e.checkpoint.as_ref().map_or_else(String::new, |c| {
                    format!("step {}: {}", c.step, printable(&c.message))
                });
                println!(
                    "{}  {:<9}  {}  {}  {step}",
                    e.id,
                    e.status.to_string(),
                    e.updated_at,
                    printable(&e.name)
                );
            }
        }
    }
    Ok(exit::OK)
}

async fn show(store: Arc<dyn Store>, id: &str, format: Format) -> Result<u8, RuntimeError> {
    let id = ExecutionId::from(id);
    let e = found(store.execution(&id).await?, "execution", &id)?;
    let checkpoints = store.checkpoints(&id).await?;
    let approvals: Vec<_> = store
        .approvals(ApprovalFilter {
            execution: Some(id.clone()),
            ..ApprovalFilter::default()
        })
        .await?
        .into_iter()
        .map(|v| v.record)
        .collect();
    let feedback: Vec<_> = store
        .feedback_requests(FeedbackFilter {
            execution: Some(id.clone()),
            ..FeedbackFilter::default()
        })
        .await?
        .into_iter()
        .map(|v| v.record)
        .collect();
    let audit = store
        .audit(AuditFilter {
            execution: Some(id.clone()),
            ..AuditFilter::default()
        })
        .await?;
    if format == Format::Json {
        print_json(&json!({
            "execution": e, "checkpoints": checkpoints, "approvals": approvals,
            "feedback": feedback, "audit": audit,
        }));
        return Ok(exit::OK);
    }
    println!("{}  {}", e.id, printable(&e.name));
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
        println!("  error:   {}", printable(err));
    }
    println!("checkpoints:");
    for c in &checkpoints {
        println!(
            "  #{} step {}  {}  {}  state {}",
            c.seq,
            c.step,
            c.at,
            printable(&c.message),
            c.state
        );
    }
    println!("approvals:");
    for a in &approvals {
        println!(
            "  {}  {:<9}  {}",
            a.id,
            a.status.to_string(),
            printable(&a.title)
        );
        for s in &a.steps {
            let by: Vec<String> = s
                .votes
                .iter()
                .map(|v| format!("{} {:?}", v.principal, v.choice).to_lowercase())
                .collect();
            println!(
                "    {}: {}  ({})",
                printable(&s.spec.step),
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
        println!(
            "  {}  {:<9}  {}",
            f.id,
            f.status.to_string(),
            printable(&f.title)
        );
    }
    println!("audit:");
    for a in &audit {
        let who = a.principal.as_ref().map_or("-", |p| p.as_str());
        println!("  {}  {}  {who}  {}", a.at, a.kind, a.detail);
    }
    Ok(exit::OK)
}
