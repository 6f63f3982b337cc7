//! Whether a new version of a policy is at least as strict as the old one on every request:
//! any action and resource string, any confidence in [0, 1]. This is what an agent's policy
//! change must pass (an agent may add gates, never remove them), and what
//! `rekall-policy diff --stricter` checks in CI.
//!
//! Decided exactly, as lint decides shadowing. The globs of both policies' rules, both stages,
//! are explored together as one automaton over `action SEP resource` (`language::explore`):
//! each reachable set of matching rules is a kind of request both policies decide alike
//! whatever its strings. The band edges of both policies cut [0, 1] into pieces on which no
//! band changes (`bands::pieces`). For every set and piece, both decisions follow from the
//! first-match reading of each stage, and `diff`'s own [`classify`] says whether the change is
//! acceptable: tighter, tightened or none is; looser, a loosened gate, or approvers changed
//! neither up nor down is not (a gate that is only different is not one an agent may set).
//!
//! A counter-example is decided again by the reference evaluator before it is reported; if
//! the two disagree, the answer is [`Strictness::Undecided`], never a claim. The walk is
//! charged to one [`Budget`], so no pair of policies makes it run longer or hold more than the
//! budget; a pair that would need more is undecided, which a caller must treat as looser.
//!
//! Policies are compared as written: the thresholds adaptive rules learn move their bands
//! afterwards ([`Policy::with_thresholds`]), so compare the policies in effect when that
//! matters. A counter-example may be longer than [`crate::request::MAX_FIELD_BYTES`] when only
//! such requests differ; it is still reported, as a runtime may allow longer fields.
//!
//! ```
//! use rekall_policy::Policy;
//! use rekall_policy::lint::stricter::{compare, Strictness};
//!
//! let old = Policy::from_yaml_str(
//!     "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [user:adam]\n    - action: \"*\"\n",
//!     "old.yaml",
//! )?;
//! let new = Policy::from_yaml_str(
//!     "version: 1\nhitl:\n  rules:\n    - action: \"del*\"\n      requireApproval: true\n      approvers: [user:adam]\n    - action: \"*\"\n",
//!     "new.yaml",
//! )?;
//! assert!(matches!(compare(&old, &new), Strictness::AtLeastAsStrict));
//! match compare(&new, &old) {
//!     Strictness::Looser(found) => assert_eq!(found.request.action, "del"),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;

use serde::{Serialize, Serializer};

use super::BUDGET;
use super::bands::{self, Piece};
use super::budget::{Budget, OutOfBudget};
use super::language;
use crate::decision::{Decision, StageResult};
use crate::eval::diff::{ChangeKind, Side, classify};
use crate::eval::reference;
use crate::glob::Glob;
use crate::policy::Policy;
use crate::request::Request;

/// The answer to "is NEW at least as strict as OLD on every request?".
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Strictness {
    /// On every request, NEW's decision is the same as OLD's, or tighter, or behind a
    /// tightened gate.
    AtLeastAsStrict,
    /// A request NEW lets through more easily than OLD, or behind a different gate.
    Looser(Box<CounterExample>),
    /// The analysis would exceed its budget (or found a disagreement it cannot trust): treat
    /// it as looser.
    Undecided { reason: String },
}

impl Strictness {
    /// True only for [`Strictness::AtLeastAsStrict`]: what accepting a change needs.
    pub fn is_at_least_as_strict(&self) -> bool {
        matches!(self, Strictness::AtLeastAsStrict)
    }
}

/// A request whose decision NEW makes looser than OLD, with both decisions.
#[derive(Debug, Clone, Serialize)]
pub struct CounterExample {
    /// The request, with its confidence; serialized as `eval --input` reads it.
    #[serde(serialize_with = "request_json")]
    pub request: Request,
    /// How the decision changed: [`ChangeKind::Looser`], [`ChangeKind::GateLoosened`] or
    /// [`ChangeKind::Approvers`].
    pub kind: ChangeKind,
    pub old: Side,
    pub new: Side,
}

fn request_json<S: Serializer>(request: &Request, s: S) -> Result<S::Ok, S::Error> {
    request.to_json().serialize(s)
}

/// Whether a change of one request's decision keeps NEW at least as strict. An approvers
/// change that is neither a superset nor a subset lets someone new resolve the gate, so it is
/// not.
fn acceptable(kind: ChangeKind) -> bool {
    match kind {
        ChangeKind::Tighter | ChangeKind::GateTightened => true,
        ChangeKind::Looser | ChangeKind::GateLoosened | ChangeKind::Approvers => false,
    }
}

/// Decides whether `new` is at least as strict as `old` on every request, within lint's
/// [`BUDGET`].
pub fn compare(old: &Policy, new: &Policy) -> Strictness {
    compare_within(old, new, &mut Budget::new(BUDGET))
}

/// [`compare`] charging its work to `budget`; [`Budget::used`] tells how much it took, and
/// never exceeds the limit.
pub fn compare_within(old: &Policy, new: &Policy, budget: &mut Budget) -> Strictness {
    match search(old, new, budget) {
        Ok(None) => Strictness::AtLeastAsStrict,
        Ok(Some(found)) => confirm(old, new, found),
        Err(Halt::OutOfBudget) => Strictness::Undecided {
            reason: format!(
                "the exact analysis needs more than its budget of {} units",
                budget.limit()
            ),
        },
        Err(Halt::NoStage) => Strictness::Undecided {
            reason: "a policy has neither a hitl nor an escalation section".into(),
        },
    }
}

/// Why the search stopped without an answer.
enum Halt {
    OutOfBudget,
    /// A policy with neither stage decides nothing (validation refuses one).
    NoStage,
}

impl From<OutOfBudget> for Halt {
    fn from(_: OutOfBudget) -> Self {
        Halt::OutOfBudget
    }
}

/// The four lists of rules, in this order, as indices into the joint sets.
const OLD_HITL: usize = 0;
const OLD_ESCALATION: usize = 1;
const NEW_HITL: usize = 2;
const NEW_ESCALATION: usize = 3;

/// A counter-example as the analysis found it, before the reference evaluator confirms it.
struct Found<'p> {
    action: String,
    resource: String,
    confidence: f64,
    kind: ChangeKind,
    old: Decision<'p>,
    new: Decision<'p>,
}

/// Each rule's globs, per list.
fn glob_lists(old: &Policy, new: &Policy) -> [Vec<(Glob, Glob)>; 4] {
    let hitl = |p: &Policy| -> Vec<(Glob, Glob)> {
        p.doc().hitl.as_ref().map_or_else(Vec::new, |s| {
            s.rules
                .iter()
                .map(|r| (r.action.node.clone(), r.resource_glob()))
                .collect()
        })
    };
    let escalation = |p: &Policy| -> Vec<(Glob, Glob)> {
        p.doc().escalation.as_ref().map_or_else(Vec::new, |s| {
            s.rules
                .iter()
                .map(|r| (r.action_glob(), r.resource_glob()))
                .collect()
        })
    };
    [hitl(old), escalation(old), hitl(new), escalation(new)]
}

/// The first counter-example, if there is one.
fn search<'p>(
    old: &'p Policy,
    new: &'p Policy,
    budget: &mut Budget,
) -> Result<Option<Found<'p>>, Halt> {
    // Rules written alike in both versions (the common case: a change touches a few rules)
    // are explored once, so the joint automaton is not twice the size it needs to be.
    let lists = glob_lists(old, new);
    let mut pairs: Vec<(&Glob, &Glob)> = Vec::new();
    let mut owners: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut index: HashMap<(&Glob, &Glob), usize> = HashMap::new();
    for (list, globs) in lists.iter().enumerate() {
        for (rule, (a, r)) in globs.iter().enumerate() {
            budget.charge(a.as_str().len() + r.as_str().len() + 8)?;
            let slot = *index.entry((a, r)).or_insert_with(|| {
                pairs.push((a, r));
                owners.push(Vec::new());
                pairs.len() - 1
            });
            owners[slot].push((list, rule));
        }
    }
    let sets = language::explore(&pairs, budget)?;

    let band_list: Vec<(f64, f64)> = [old, new]
        .iter()
        .flat_map(|p| p.doc().escalation.iter().flat_map(|s| &s.rules))
        .map(|r| r.band())
        .collect();
    budget.charge(band_list.len())?;
    let pieces = bands::pieces(&band_list);
    budget.charge(pieces.len())?;

    let mut matched: [Vec<usize>; 4] = Default::default();
    let mut kinds = Kinds::default();
    for m in &sets {
        for list in &mut matched {
            list.clear();
        }
        for &slot in &m.rules {
            budget.charge(owners[slot].len())?;
            for &(list, rule) in &owners[slot] {
                matched[list].push(rule);
            }
        }
        for list in &mut matched {
            budget.charge(list.len())?;
            list.sort_unstable();
        }
        // Without a matching escalation rule on either side, the confidence changes nothing.
        let here = if matched[OLD_ESCALATION].is_empty() && matched[NEW_ESCALATION].is_empty() {
            &pieces[..1]
        } else {
            &pieces[..]
        };
        for piece in here {
            let o = decide(
                old,
                &matched[OLD_HITL],
                &matched[OLD_ESCALATION],
                piece,
                budget,
            )?;
            let n = decide(
                new,
                &matched[NEW_HITL],
                &matched[NEW_ESCALATION],
                piece,
                budget,
            )?;
            let (Some(o), Some(n)) = (o, n) else {
                return Err(Halt::NoStage);
            };
            if let Some(kind) = kinds.classify(&o, &n, budget)?.filter(|k| !acceptable(*k)) {
                return Ok(Some(Found {
                    action: m.action.clone(),
                    resource: m.resource.clone(),
                    confidence: piece.sample(),
                    kind,
                    old: o,
                    new: n,
                }));
            }
        }
    }
    Ok(None)
}

/// `diff`'s classification of the change between two decisions, kept per pair of verdicts that
/// stand (all it reads), so that the many kinds of request two rules decide alike cost one
/// comparison of their approver lists, not one each.
#[derive(Default)]
struct Kinds {
    seen: HashMap<(usize, usize), Option<ChangeKind>>,
}

/// Units per remembered classification: its hash-table entry.
const KIND_UNITS: usize = 8;

impl Kinds {
    fn classify(
        &mut self,
        old: &Decision<'_>,
        new: &Decision<'_>,
        budget: &mut Budget,
    ) -> Result<Option<ChangeKind>, OutOfBudget> {
        let (o, n) = (old.verdict(), new.verdict());
        let key = (
            std::ptr::from_ref(o) as usize,
            std::ptr::from_ref(n) as usize,
        );
        budget.charge(1)?;
        if let Some(kind) = self.seen.get(&key) {
            return Ok(*kind);
        }
        // Comparing gates looks each approver of one up in the other's list, step by step.
        let pairs = |a: usize, b: usize| (a + 1).saturating_mul(b + 1);
        let steps = o.chain.iter().zip(&n.chain).fold(0usize, |sum, (a, b)| {
            sum.saturating_add(pairs(a.approvers.len(), b.approvers.len()))
        });
        budget.charge(KIND_UNITS)?;
        budget.charge(pairs(o.approvers.len(), n.approvers.len()).saturating_add(steps))?;
        let kind = classify(old, new);
        self.seen.insert(key, kind);
        Ok(kind)
    }
}

/// One policy's decision for requests matched by exactly the rules `hitl` and `escalation`
/// (ascending), at the confidences of `piece`: each stage's first rule (for escalation, the
/// first whose band holds the piece), or its default.
fn decide<'p>(
    policy: &'p Policy,
    hitl: &[usize],
    escalation: &[usize],
    piece: &Piece,
    budget: &mut Budget,
) -> Result<Option<Decision<'p>>, OutOfBudget> {
    let doc = policy.doc();
    let verdicts = policy.verdicts();
    let hitl_stage = doc.hitl.as_ref().map(|_| {
        let rule = hitl.first().copied();
        StageResult::new(rule, rule.map_or(&verdicts.no_match, |i| &verdicts.hitl[i]))
    });
    let escalation_stage = match &doc.escalation {
        None => None,
        Some(section) => {
            let at = escalation
                .iter()
                .position(|&j| section.rules[j].holds(piece.sample()));
            budget.charge(at.map_or(escalation.len(), |i| i + 1))?;
            let rule = at.map(|i| escalation[i]);
            Some(StageResult::new(
                rule,
                rule.map_or(&verdicts.no_match, |i| &verdicts.escalation[i]),
            ))
        }
    };
    Ok(Decision::combine(hitl_stage, escalation_stage))
}

/// Reports `found` once the reference evaluator, deciding its request from the rules one by
/// one, gives the same two decisions.
fn confirm(old: &Policy, new: &Policy, found: Found<'_>) -> Strictness {
    let request = Request::new(found.action)
        .resource(found.resource)
        .confidence(found.confidence);
    let (action, resource, c) = (&request.action, &request.resource, found.confidence);
    // The reference evaluator proper, without the request length limit: the claim is about
    // every string, and a limit is the runtime's to set.
    let o = reference::decide_checked(old, action, resource, c);
    let n = reference::decide_checked(new, action, resource, c);
    if o != found.old || n != found.new || classify(&o, &n) != Some(found.kind) {
        return Strictness::Undecided {
            reason: format!(
                "the exact analysis and the reference evaluator disagree on the request {}; this is a bug in the analysis",
                request.to_json()
            ),
        };
    }
    Strictness::Looser(Box::new(CounterExample {
        request,
        kind: found.kind,
        old: Side::of(&o),
        new: Side::of(&n),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> Policy {
        Policy::from_yaml_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{}", e.render()))
    }

    #[test]
    fn a_counter_example_the_reference_evaluator_does_not_confirm_is_undecided() {
        let gated = policy(
            "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [user:a]\n    - action: \"*\"\n",
        );
        let open = policy("version: 1\nhitl:\n  rules:\n    - action: \"*\"\n");
        let decide = |p| reference::decide_checked(p, "delete", "", 0.0);
        let found = |old, new| Found {
            action: "delete".into(),
            resource: String::new(),
            confidence: 0.0,
            kind: ChangeKind::Looser,
            old,
            new,
        };
        // The true decisions are confirmed...
        let confirmed = confirm(&gated, &open, found(decide(&gated), decide(&open)));
        assert!(matches!(confirmed, Strictness::Looser(_)), "{confirmed:?}");
        // ...decisions the policies do not make are not reported as a counter-example.
        let wrong = confirm(&gated, &open, found(decide(&gated), decide(&gated)));
        match wrong {
            Strictness::Undecided { reason } => assert!(reason.contains("disagree"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
