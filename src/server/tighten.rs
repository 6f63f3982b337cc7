//! The rule that an agent may only tighten the policy (contract section 4): a change an agent
//! submits is accepted only if it is at least as strict as the policy in force on every
//! request, decided exactly by [`crate::lint::stricter::compare`], and refused when that
//! analysis cannot decide.
//!
//! Adaptive rules are the exception the analysis cannot see: their learned thresholds move
//! bands after the policy is written, so a change that adds an `adapt` block, or changes one
//! (its settings, its rule, or the class its learning is kept under), is refused outright.
//! The comparison itself is made between the policies in effect: the live one under the
//! thresholds learned so far, and the new one under the same thresholds (its adaptive rules
//! being the live ones unchanged, they learn on from there).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::lint::stricter::{Strictness, compare};
use crate::policy::Policy;

/// Why an agent's change is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// One sentence for a person.
    pub message: String,
    /// A request the change would let through more easily, as `eval --input` reads it, with
    /// both decisions.
    pub counter_example: Option<Value>,
}

impl Refusal {
    fn new(message: String) -> Refusal {
        Refusal {
            message,
            counter_example: None,
        }
    }
}

/// Whether `new` may replace `live`, whose adaptive classes have learned `thresholds`.
/// CPU-bound (the analysis is charged to lint's budget): run it off the request threads.
pub fn check(
    live: &Policy,
    thresholds: &BTreeMap<String, f64>,
    new: &Policy,
) -> Result<(), Refusal> {
    if let Some(message) = adapt_changed(live, new) {
        return Err(Refusal::new(message));
    }
    let in_effect = |p: &Policy| p.with_thresholds(thresholds).ok();
    let (Some(old), Some(new)) = (in_effect(live), in_effect(new)) else {
        return Err(Refusal::new(
            "the policies in effect under the learned thresholds could not be built, so the change cannot be shown to be at least as strict; nothing was changed".into(),
        ));
    };
    match compare(&old, &new) {
        Strictness::AtLeastAsStrict => Ok(()),
        Strictness::Looser(found) => {
            let request = found.request.to_json();
            Err(Refusal {
                message: format!(
                    "an agent may only tighten the policy, and this change is looser: the request {request} would be {} ({} -> {}); nothing was changed",
                    kind_words(found.kind),
                    found.old.outcome,
                    found.new.outcome,
                ),
                counter_example: serde_json::to_value(&found).ok(),
            })
        }
        Strictness::Undecided { reason } => Err(Refusal::new(format!(
            "an agent may only tighten the policy, and this change could not be shown to be at least as strict ({reason}), so it is refused as if looser; nothing was changed"
        ))),
    }
}

fn kind_words(kind: crate::eval::diff::ChangeKind) -> &'static str {
    use crate::eval::diff::ChangeKind;
    match kind {
        ChangeKind::Looser => "decided more loosely",
        ChangeKind::GateLoosened => {
            "behind a looser gate (more people may resolve it, fewer must agree, or it waits longer before it is rejected)"
        }
        ChangeKind::Approvers => "behind a gate with other approvers",
        ChangeKind::Tighter | ChangeKind::GateTightened => "decided differently",
    }
}

fn rule(p: &Policy, i: usize) -> Option<&crate::ir::EscalationRule> {
    p.doc().escalation.as_ref().and_then(|s| s.rules.get(i))
}

/// Why the change's adaptive rules are not the live ones unchanged, if they are not: every
/// adaptive rule of `new` must be one of `live`'s, the same rule under the same class.
fn adapt_changed(live: &Policy, new: &Policy) -> Option<String> {
    for a in new.adaptive_rules() {
        let same = live
            .adaptive_rules()
            .iter()
            .any(|b| b.class == a.class && rule(live, b.rule) == rule(new, a.rule));
        if !same {
            return Some(format!(
                "an agent may not add or change an `adapt` block (escalation rule {}, class `{}`): the thresholds it learns move the rule's bands after the change is checked, so it cannot be shown to stay at least as strict; nothing was changed",
                a.rule, a.class
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "version: 1\nescalation:\n  rules:\n    - match: {action: deploy}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n      adapt: {auditRate: 0}\n    - match: {action: deploy}\n      confidenceRange: [0.0, 0.9]\n      action: request-approval\n      approvers: [user:adam]\n";

    fn policy(text: &str) -> Policy {
        Policy::from_yaml_str(text, "p.yaml").unwrap()
    }

    #[test]
    fn an_adaptive_rule_kept_as_it_is_passes_and_a_new_or_changed_one_is_refused() {
        let live = policy(LIVE);
        let none = BTreeMap::new();
        assert_eq!(check(&live, &none, &policy(LIVE)), Ok(()));
        let changed =
            policy(&LIVE.replace("adapt: {auditRate: 0}", "adapt: {auditRate: 0, floor: 0.6}"));
        let e = check(&live, &none, &changed).unwrap_err();
        assert!(e.message.contains("`adapt`"), "{}", e.message);
        // A rule put in front renumbers the class `escalation[0]`: that is a change too.
        let moved = policy(&LIVE.replace(
            "  rules:\n",
            "  rules:\n    - match: {action: drop}\n      action: deny\n",
        ));
        assert!(
            check(&live, &none, &moved)
                .unwrap_err()
                .message
                .contains("adapt")
        );
        let dropped = policy(&LIVE.replace("      adapt: {auditRate: 0}\n", ""));
        assert_eq!(check(&live, &none, &dropped), Ok(()));
    }

    #[test]
    fn the_comparison_is_made_under_the_learned_thresholds() {
        let live = policy(LIVE);
        // Learned: deploy auto-approves from 0.95 on. A copy without `adapt` that keeps the
        // written 0.9 auto-approves [0.9, 0.95), which the live policy asks a person for.
        let learned = BTreeMap::from([("escalation[0]".to_owned(), 0.95)]);
        let dropped = policy(&LIVE.replace("      adapt: {auditRate: 0}\n", ""));
        let e = check(&live, &learned, &dropped).unwrap_err();
        let ce = e.counter_example.expect("a counter-example");
        let c = ce["request"]["confidence"].as_f64().unwrap();
        assert!((0.9..0.95).contains(&c), "{ce}");
    }
}
