//! A policy may only ask for notification channels that the runtime can deliver to: a
//! `notifyVia` naming another is refused where it is written, rather than dropped when a
//! request is made.

use super::rejected::PolicyDiagnostic;
use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::front::Language;
use crate::ir::{Gate, PolicyDoc};
use crate::policy::Policy;
use crate::runtime::Channels;

/// Every `notifyVia` entry of `doc` that `channels` does not allow, at its place.
pub(crate) fn unconfigured(doc: &PolicyDoc, channels: &Channels) -> Vec<Diagnostic> {
    if *channels == Channels::Any {
        return Vec::new();
    }
    let mut gates: Vec<&Gate> = Vec::new();
    if let Some(hitl) = &doc.hitl {
        for rule in &hitl.rules {
            gates.push(&rule.gate);
            if let Some(chain) = &rule.chain {
                gates.extend(chain.node.iter().map(|step| &step.gate));
            }
        }
    }
    if let Some(escalation) = &doc.escalation {
        gates.extend(escalation.rules.iter().map(|rule| &rule.gate));
    }
    gates
        .into_iter()
        .filter_map(|g| g.notify_via.as_ref())
        .flat_map(|list| list.node.iter())
        .filter(|name| !channels.allows(&name.node))
        .map(|name| {
            Diagnostic::new(
                ErrorKind::UnconfiguredChannel {
                    channel: name.node.clone(),
                    configured: channels.configured(),
                },
                name.span,
            )
        })
        .collect()
}

/// Reads a policy text and checks its channels: the policy, or every problem of it.
pub(crate) fn read(
    language: Language,
    text: &str,
    origin: &str,
    channels: &Channels,
) -> Result<Policy, Vec<PolicyDiagnostic>> {
    let policy =
        Policy::from_str_in(language, text, origin).map_err(|e| PolicyDiagnostic::of_policy(&e))?;
    let problems = unconfigured(policy.doc(), channels);
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(problems
            .iter()
            .map(|d| PolicyDiagnostic::new(origin, d, None))
            .collect())
    }
}
