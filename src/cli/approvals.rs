//! `rekall-policy approvals list|approve|reject --store URL`: answer an agent's approval
//! requests from a terminal. Votes go through the same runtime rules as any other: a
//! refused vote says why and exits with 1.
//!
//! `--as` is taken on trust: the store is a local file, and whoever can write it can vote as
//! any principal (or edit the votes). Authenticated approval is the server's job.

use clap::Subcommand;

use super::exit;
use std::sync::Arc;

use super::runtime_cli::{Format, block_on, print_json, read};
use crate::ir::Principal;
use crate::model::{ApprovalId, ApprovalRequest, ApprovalStatus};
use crate::runtime::{Clock, Runtime, RuntimeError, SystemClock};
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
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Approve a request as a principal (taken on trust: see below).
    #[command(after_help = TRUST)]
    Approve {
        /// The request's id (apr_...).
        id: String,
        #[arg(long)]
        store: String,
        /// Who votes, such as user:adam. Not authenticated: see below.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a request as a principal (taken on trust: see below); the reason goes back to
    /// the agent.
    #[command(after_help = TRUST)]
    Reject {
        id: String,
        #[arg(long)]
        store: String,
        /// Who votes, such as user:adam. Not authenticated: see below.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
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
                        s.spec.step,
                        s.approved_by().len(),
                        s.spec.min_approvals,
                        names.join(", ")
                    )
                });
                println!(
                    "{}  {:<9}  {}  {}  {step_text}",
                    r.id, r.status, r.execution_id, r.title
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
