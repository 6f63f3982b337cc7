//! `rekall-policy thresholds show|proposals|accept|reject|reset|history --store URL`: the
//! thresholds the learning loop keeps for adaptive rules, the lower values waiting for a
//! person, and their record. Thin over [`crate::runtime::Thresholds`].

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;

use super::exit;
use super::runtime_cli::{Format, block_on, print_json, read};
use crate::ir::Principal;
use crate::policy::AdaptiveRule;
use crate::runtime::{LoadedPolicy, Runtime, RuntimeError, ThresholdState};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Each adaptive class: the policy's threshold, the one in force, its mode and any
    /// proposal.
    Show {
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// The policy in force, to list its adaptive classes that have not moved yet too.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The lower thresholds waiting for a person, with their evidence.
    Proposals {
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Put a proposal in force (audited with who accepted it).
    Accept {
        /// The proposal's id (thp_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Who accepts, such as user:adam. Not authenticated: taken on trust, and audited.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
    },
    /// Drop a proposal (audited with who rejected it).
    Reject {
        /// The proposal's id (thp_...).
        id: String,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Who rejects, such as user:adam. Not authenticated: taken on trust, and audited.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
    },
    /// Put a class (or every class) back at the policy's threshold; its labels are kept.
    Reset {
        /// The class (the rule's id, or escalation[i]); every class when left out.
        class: Option<String>,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Who resets, such as user:adam. Not authenticated: taken on trust, and audited.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
        /// The policy in force, whose thresholds the classes go back to (by default the
        /// thresholds the overlays were started from).
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Every move, proposal, acceptance, rejection and reset, oldest first.
    History {
        /// Only this class.
        class: Option<String>,
        /// The store: sqlite://PATH.
        #[arg(long, value_name = "URL")]
        store: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

fn principal(text: &str) -> Result<Principal, u8> {
    Principal::parse(text).ok_or_else(|| {
        eprintln!("error: --as: `{text}` is not a principal; write kind:name, such as user:adam");
        exit::TOOL
    })
}

/// The policy's adaptive rules, or the exit code of an invalid policy.
fn rules(path: Option<&PathBuf>) -> Result<Vec<AdaptiveRule>, u8> {
    match path {
        Some(p) => Ok(super::load_policy(p)?.adaptive_rules().to_vec()),
        None => Ok(Vec::new()),
    }
}

/// A refusal (no such proposal or class) is the command's finding, exit 1.
fn refused(e: RuntimeError) -> Result<u8, RuntimeError> {
    match e {
        RuntimeError::NotFound { .. } => {
            eprintln!("refused: {e}");
            Ok(exit::FOUND)
        }
        other => Err(other),
    }
}

pub fn run(args: &Args) -> u8 {
    match &args.command {
        Sub::Show {
            store,
            policy,
            format,
        } => {
            let rules = match rules(policy.as_ref()) {
                Ok(r) => r,
                Err(code) => return code,
            };
            read(store, |s| show(s, rules, *format))
        }
        Sub::Proposals { store, format } => read(store, |s| proposals(s, *format)),
        Sub::Accept {
            id,
            store,
            principal: who,
        }
        | Sub::Reject {
            id,
            store,
            principal: who,
        } => {
            let accept = matches!(args.command, Sub::Accept { .. });
            let who = match principal(who) {
                Ok(p) => p,
                Err(code) => return code,
            };
            block_on(store, |rt| async move {
                let t = rt.thresholds();
                let done = if accept {
                    t.accept(id, &who).await
                } else {
                    t.reject(id, &who).await
                };
                match done {
                    Ok(o) => {
                        let verb = if accept { "accepted" } else { "rejected" };
                        println!("{id}: {verb}; {} is at {}", o.class, o.effective);
                        Ok(exit::OK)
                    }
                    Err(e) => refused(e),
                }
            })
        }
        Sub::Reset {
            class,
            store,
            principal: who,
            policy,
        } => {
            let who = match principal(who) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let loaded = match policy {
                Some(p) => match super::load_policy(p) {
                    Ok(p) => Some(LoadedPolicy::new(&p)),
                    Err(code) => return code,
                },
                None => None,
            };
            block_on(store, |rt| async move {
                if let Some(p) = loaded {
                    rt.set_policy(p).await?;
                }
                reset(&rt, class.as_deref(), &who).await
            })
        }
        Sub::History {
            class,
            store,
            format,
        } => read(store, |s| history(s, class.clone(), *format)),
    }
}

fn state_line(s: &ThresholdState) -> String {
    let mut line = format!("{}: policy {}, in force {}", s.class, s.policy, s.effective);
    if let Some(mode) = s.mode {
        line.push_str(&format!(", mode {mode}"));
    }
    if let Some(p) = &s.proposal {
        line.push_str(&format!("; proposal {} to {}", p.id, p.to));
    }
    line
}

async fn show(
    store: Arc<dyn Store>,
    rules: Vec<AdaptiveRule>,
    format: Format,
) -> Result<u8, RuntimeError> {
    let overlays = store.overlays().await?;
    let states = crate::runtime::threshold_states(&rules, &overlays);
    match format {
        Format::Json => print_json(&json!({ "thresholds": states })),
        Format::Text if states.is_empty() => println!("no adaptive classes"),
        Format::Text => {
            for s in &states {
                println!("{}", state_line(s));
            }
        }
    }
    Ok(exit::OK)
}

async fn proposals(store: Arc<dyn Store>, format: Format) -> Result<u8, RuntimeError> {
    let overlays = store.overlays().await?;
    let pending: Vec<_> = overlays
        .iter()
        .filter_map(|o| o.record.proposal.as_ref().map(|p| (&o.record.class, p)))
        .collect();
    match format {
        Format::Json => {
            let list: Vec<_> = pending
                .iter()
                .map(|(class, p)| json!({"class": class, "proposal": p}))
                .collect();
            print_json(&json!({ "proposals": list }));
        }
        Format::Text if pending.is_empty() => println!("no proposals"),
        Format::Text => {
            for (class, p) in &pending {
                let e = &p.evidence;
                println!(
                    "{}: {class} from {} to {} ({} labels, alpha {}, delta {}; proposed {})",
                    p.id, p.from, p.to, e["labels"], e["alpha"], e["delta"], p.at
                );
                if let Some(tests) = e["tests"].as_array() {
                    for t in tests {
                        println!(
                            "  at {}: {} bad of {} sampled, bound {}{}",
                            t["threshold"],
                            t["sampleBad"],
                            t["sample"],
                            t["bound"],
                            if t["certified"] == true {
                                ""
                            } else {
                                " (fails)"
                            }
                        );
                    }
                }
            }
        }
    }
    Ok(exit::OK)
}

async fn reset(rt: &Runtime, class: Option<&str>, who: &Principal) -> Result<u8, RuntimeError> {
    match rt.thresholds().reset(class, who).await {
        Ok(done) if done.is_empty() => {
            println!("nothing to reset: no class has moved");
            Ok(exit::OK)
        }
        Ok(done) => {
            for o in done {
                println!("{}: back at {}", o.class, o.effective);
            }
            Ok(exit::OK)
        }
        Err(e) => refused(e),
    }
}

async fn history(
    store: Arc<dyn Store>,
    class: Option<String>,
    format: Format,
) -> Result<u8, RuntimeError> {
    let entries = crate::runtime::threshold_history(store.as_ref(), class.as_deref()).await?;
    match format {
        Format::Json => print_json(&json!({ "history": entries })),
        Format::Text if entries.is_empty() => println!("no threshold history"),
        Format::Text => {
            for e in &entries {
                let d = &e.detail;
                let by = e
                    .principal
                    .as_ref()
                    .map(|p| format!(" by {p}"))
                    .unwrap_or_default();
                println!(
                    "{} {} {}: {} -> {}{by}",
                    e.at,
                    e.kind,
                    d["class"].as_str().unwrap_or("?"),
                    d["from"],
                    d["to"]
                );
            }
        }
    }
    Ok(exit::OK)
}
