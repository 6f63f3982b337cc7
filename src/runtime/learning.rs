//! The learning loop in the runtime. `check_escalation` records every call of an adaptive
//! rule's class with how it was routed; a resolution or a report labels it, in the same
//! transaction; then the class's [`Learner`], kept in the process between labels, counts the
//! label and may move the threshold. Moves in `auto` mode and every rise take effect at once; a lower value in
//! `propose` mode waits for a person ([`Thresholds::accept`]). Each is audited, and the
//! effective policy is rebuilt and swapped atomically when a threshold in force changes.
//!
//! The kept learner reads only the calls recorded since its last label (a few, in the common
//! case), so a label costs a constant and not a replay of the window; it is built from the
//! window once, after a restart or when the class's settings change, and once more when
//! another process moved the overlay meanwhile. Its checkpoints (a test of the grid at
//! `minLabels`, then doubling) follow the class's count of labels, not the window's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use super::error::RuntimeError;
use super::execution::Executions;
use super::{Retry, Runtime};
use crate::ir::Principal;
use crate::learn::{Label, Learner, Move, Observation, Route, Settings};
use crate::model::{
    ApprovalStatus, AuditEntry, AuditKind, Call, ExecutionId, LabelSource, LabelTarget,
    LabelUpdate, LearnedCall, Overlay, Proposal, label_name,
};
use crate::policy::AdaptiveRule;
use crate::store::{AuditFilter, CallWindow, Expected, Transaction, Versioned, Write};

/// How many calls per label of the window are read at most: above the threshold most calls
/// are auto-approved and unlabelled (about `1 / auditRate` per label), so this bounds the
/// replay without cutting a window of ordinary audit rates short.
const CALLS_PER_LABEL: u64 = 50;

/// How many of a class's latest calls the kept learner reads first to catch up with the
/// store: the calls recorded since its last label, in the common case of a few.
const FIRST_READ: u64 = 16;

/// The learners this process keeps, by class.
#[derive(Debug, Default)]
pub(crate) struct Learners {
    classes: HashMap<String, Kept>,
}

/// A class's learner, the settings and policy threshold it was built for, and the last call
/// it counted. Labels another process gives to calls it has already counted reach it when it
/// is built again (after a restart); moves reach it at once, through the store's overlay.
#[derive(Debug)]
struct Kept {
    settings: Settings,
    policy: f64,
    learner: Learner,
    last_seq: u64,
}

/// A stored call as the learner counts it, without its label when it is the one being
/// learned from (that label is given last).
fn unlabelled_if(call: &LearnedCall, labelled: &LearnedCall) -> Observation {
    let mut o = observation(call);
    if call.seq == labelled.seq {
        o.label = None;
    }
    o
}

/// A class's threshold as a decision reports it: the policy's, and the one in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdReport {
    pub class: String,
    pub policy: f64,
    pub effective: f64,
}

/// A class's state, as `thresholds show` gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdState {
    pub class: String,
    pub policy: f64,
    pub effective: f64,
    pub mode: Option<&'static str>,
    pub proposal: Option<Proposal>,
}

/// The label a resolution gives: approved is good, rejected bad; a timeout or a
/// cancellation says nothing about the call.
pub(crate) fn resolution_label(status: ApprovalStatus) -> Option<Label> {
    match status {
        ApprovalStatus::Approved => Some(Label::Good),
        ApprovalStatus::Rejected => Some(Label::Bad),
        _ => None,
    }
}

fn observation(call: &LearnedCall) -> Observation {
    Observation {
        confidence: call.confidence,
        route: call.route,
        label: call.label,
    }
}

/// The threshold in force of a class: the overlay's, unless the policy now declares another
/// threshold than the one the overlay started from (then the class starts again from it).
fn effective_of(rule: &AdaptiveRule, overlay: Option<&Overlay>) -> f64 {
    match overlay {
        Some(o) if o.policy == rule.threshold => o
            .effective
            .clamp(rule.settings.floor, rule.settings.ceiling),
        _ => rule.threshold,
    }
}

/// The adaptive rule a class is of: the rule's own class, or one agent's class of a
/// `perAgent` rule.
fn rule_of<'a>(rules: &'a [AdaptiveRule], class: &str) -> Option<&'a AdaptiveRule> {
    crate::policy::class_owner(rules, class).map(|(rule, _)| rule)
}

fn overlay_of<'a>(all: &'a [Versioned<Overlay>], class: &str) -> Option<&'a Versioned<Overlay>> {
    all.iter().find(|o| o.record.class == class)
}

fn expected(current: Option<&Versioned<Overlay>>) -> Expected {
    current.map_or(Expected::New, |v| Expected::Version(v.version))
}

/// What certified or forced a move: the counts and bounds of the grid's tests, alpha and
/// delta, and the calibration of the window (observed bad rate per confidence cell).
fn evidence(learner: &Learner, mv: &Move, trigger: &LearnedCall) -> Value {
    let s = learner.settings();
    // A checkpoint's move is certified by the batch it tested, which is done once tested.
    let a = learner
        .last_test()
        .cloned()
        .unwrap_or_else(|| learner.assess());
    let tests: Vec<Value> = a
        .tests
        .iter()
        .map(|t| {
            json!({"threshold": t.threshold, "sample": t.region.sample,
                   "sampleBad": t.region.sample_bad, "calls": t.region.calls,
                   "labels": t.region.labels, "reportedBad": t.region.reported_bad,
                   "estimate": t.region.estimate, "bound": t.bound, "certified": t.certified})
        })
        .collect();
    let grid = learner.evidence().grid();
    let cells: Vec<Value> = learner
        .evidence()
        .cells()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.calls > 0)
        .map(|(j, c)| {
            let lo = grid.get(j).copied().unwrap_or(0.0);
            let hi = if j == 0 { 1.0 } else { grid[j - 1] };
            let rate = (c.labels() > 0).then(|| c.bad() as f64 / c.labels() as f64);
            json!({"from": lo, "to": hi, "calls": c.calls, "labels": c.labels(),
                   "bad": c.bad(), "badRate": rate, "reportedBad": c.reported_bad})
        })
        .collect();
    let mut out = json!({
        "alpha": s.alpha, "delta": s.delta, "labels": a.labels, "certified": a.certified,
        "tests": tests, "calibration": cells,
        "trigger": {"call": trigger.seq, "label": trigger.label.map(label_name),
                    "source": trigger.source.map(LabelSource::as_str)},
    });
    if let Move::Shift {
        recent_bad,
        expected_bad,
        ..
    } = mv
    {
        out["shift"] = json!({"recentBad": recent_bad, "expectedBad": expected_bad});
    }
    out
}

fn move_name(mv: &Move) -> &'static str {
    match mv {
        Move::Rise { .. } => "rise",
        Move::Shift { .. } => "shift",
        Move::Lower { .. } => "lower",
    }
}

impl Runtime {
    /// Puts the effective policy in force when the store's overlays differ from the
    /// thresholds it was built with. A policy swapped in meanwhile is left alone.
    pub(crate) async fn refresh_thresholds(&self) -> Result<(), RuntimeError> {
        let Some(policy) = self.policy() else {
            return Ok(());
        };
        if policy.adaptive_rules().is_empty() {
            return Ok(());
        }
        let overlays = self.store().overlays().await?;
        let mut map = BTreeMap::new();
        for o in &overlays {
            let Some(rule) = rule_of(policy.adaptive_rules(), &o.record.class) else {
                continue;
            };
            let e = effective_of(rule, Some(&o.record));
            if e != rule.threshold {
                map.insert(o.record.class.clone(), e);
            }
        }
        if &map == policy.thresholds() {
            return Ok(());
        }
        let new = Arc::new(
            policy
                .with_thresholds(map)
                .map_err(|e| RuntimeError::invalid("thresholds", e.to_string()))?,
        );
        self.inner.policy.rcu(|current| match current {
            Some(c) if c.same_base(&policy) => Some(Arc::clone(&new)),
            other => other.clone(),
        });
        Ok(())
    }

    /// A uniform draw in [0, 1) for the audit sample.
    pub(crate) fn audit_draw(&self) -> f64 {
        self.inner.rng.lock().map_or(0.0, |mut rng| rng.unit())
    }

    /// After an approval that asked about a recorded call is resolved: learns from its label.
    pub(crate) async fn learn_from_request(
        &self,
        id: &crate::model::ApprovalId,
    ) -> Result<(), RuntimeError> {
        let call = self
            .store()
            .learned_call(LabelTarget::Request(id.to_string()))
            .await?;
        match call {
            Some(call) => self.learn_from(&call).await,
            None => Ok(()),
        }
    }

    /// After a label: the class's learner counts it and may move the threshold. The learner
    /// is kept between labels; it reads only the calls recorded since its last one, and the
    /// window once after a restart or a change of the class's settings.
    pub(crate) async fn learn_from(&self, labelled: &LearnedCall) -> Result<(), RuntimeError> {
        let Some(policy) = self.policy() else {
            return Ok(());
        };
        let Some(rule) = rule_of(policy.adaptive_rules(), &labelled.class) else {
            return Ok(());
        };
        let Some(label) = labelled.label else {
            return Ok(());
        };
        // The rule's class, or one agent's class of a `perAgent` rule.
        let class = &labelled.class;
        let s = &rule.settings;
        let mut retry = Retry::new("threshold", class);
        // One label at a time per process: the kept learner counts each once.
        let mut learners = self.inner.learners.lock().await;
        loop {
            let overlays = self.store().overlays().await?;
            let current = overlay_of(&overlays, class);
            let in_force = effective_of(rule, current.map(|v| &v.record));
            let pending = current.and_then(|v| v.record.proposal.as_ref());
            let kept = learners
                .classes
                .remove(class)
                .filter(|k| k.settings == *s && k.policy == rule.threshold);
            let mut kept = match kept {
                Some(kept) => match self.catch_up(kept, labelled).await? {
                    Some(kept) => kept,
                    None => self.rebuild(rule, labelled).await?,
                },
                None => self.rebuild(rule, labelled).await?,
            };
            kept.learner.set_state(in_force, pending.map(|p| p.to));
            let mv = kept.learner.label(labelled.seq, label);
            let learner = &kept.learner;
            let latest = labelled;
            let Some(mv) = mv else {
                learners.classes.insert(class.clone(), kept);
                return Ok(());
            };
            let now = self.now();
            let evidence = evidence(learner, &mv, latest);
            let pending = current.and_then(|v| v.record.proposal.as_ref());
            let (overlay, kind) = match mv {
                Move::Lower {
                    to, proposal: true, ..
                } => {
                    if pending.is_some_and(|p| p.to == to) {
                        learners.classes.insert(class.clone(), kept);
                        return Ok(());
                    }
                    let proposal = Proposal::new(in_force, to, evidence.clone(), now);
                    (
                        Overlay {
                            class: class.clone(),
                            policy: rule.threshold,
                            effective: in_force,
                            proposal: Some(proposal),
                            updated_at: now,
                        },
                        AuditKind::ThresholdProposed,
                    )
                }
                _ => (
                    Overlay {
                        class: class.clone(),
                        policy: rule.threshold,
                        effective: learner.threshold(),
                        // A pending lower value was certified on labels that no longer
                        // support the threshold in force.
                        proposal: None,
                        updated_at: now,
                    },
                    AuditKind::ThresholdMoved,
                ),
            };
            let entry = AuditEntry::new(
                kind,
                now,
                json!({"class": class, "move": move_name(&mv), "from": in_force,
                       "to": mv.to(), "mode": s.mode.name(),
                       "proposal": overlay.proposal.as_ref().map(|p| &p.id),
                       "evidence": evidence}),
            )
            .execution(&latest.execution_id);
            let tx = Transaction {
                writes: vec![Write::Overlay(overlay, expected(current))],
                audit: vec![entry],
                ..Transaction::default()
            };
            match self.commit(tx).await {
                Ok(()) => {
                    learners.classes.insert(class.clone(), kept);
                    drop(learners);
                    return self.refresh_thresholds().await;
                }
                // The overlay changed meanwhile: the learner is built again from the store,
                // where this label already is, and counts it once more.
                Err(err) => retry.again(err).await?,
            }
        }
    }

    /// The calls recorded since the kept learner's last one, counted; `None` when they are
    /// more than a window's worth (a rebuild reads less). The labelled call is counted
    /// without its label, which [`Learner::label`] then gives it as the new one.
    async fn catch_up(
        &self,
        mut kept: Kept,
        labelled: &LearnedCall,
    ) -> Result<Option<Kept>, RuntimeError> {
        let s = kept.learner.settings();
        let most = s.window.saturating_mul(CALLS_PER_LABEL);
        let mut read = FIRST_READ;
        let calls = loop {
            let calls = self
                .store()
                .learned_calls(CallWindow {
                    class: labelled.class.clone(),
                    labels: read,
                    max_calls: read,
                })
                .await?;
            let all = (calls.len() as u64) < read
                || calls.first().is_some_and(|c| c.seq <= kept.last_seq);
            if all {
                break calls;
            }
            if read >= most {
                return Ok(None);
            }
            read = read.saturating_mul(4).min(most);
        };
        let last = kept.last_seq;
        for c in calls.iter().filter(|c| c.seq > last) {
            kept.learner.catch_up(c.seq, unlabelled_if(c, labelled));
            kept.last_seq = c.seq;
        }
        Ok(Some(kept))
    }

    /// A class's learner from the store's window, as it would have been left.
    async fn rebuild(
        &self,
        rule: &AdaptiveRule,
        labelled: &LearnedCall,
    ) -> Result<Kept, RuntimeError> {
        let s = &rule.settings;
        let calls = self
            .store()
            .learned_calls(CallWindow {
                class: labelled.class.clone(),
                labels: s.window,
                max_calls: s.window.saturating_mul(CALLS_PER_LABEL),
            })
            .await?;
        let total = self.store().learned_labels(&labelled.class).await?;
        // The labelled call is counted without its label, so its label is the last one.
        let own = calls
            .iter()
            .any(|c| c.seq == labelled.seq && c.label.is_some() && c.route != Route::Auto);
        let learner = Learner::restore(
            s.clone(),
            rule.threshold,
            calls.iter().map(|c| (c.seq, unlabelled_if(c, labelled))),
            total - u64::from(own),
        );
        Ok(Kept {
            settings: s.clone(),
            policy: rule.threshold,
            learner,
            last_seq: calls.last().map_or(0, |c| c.seq),
        })
    }

    /// `runtime.thresholds()`: the adaptive classes' thresholds, their proposals and history.
    pub fn thresholds(&self) -> Thresholds<'_> {
        Thresholds { rt: self }
    }
}

impl Executions<'_> {
    /// Says how a call turned out after the fact (an auto-approved deploy that had to be
    /// rolled back is `Label::Bad`): labels the latest recorded call of this execution with
    /// the same action, resource and context, and lets its class learn from it. A bad
    /// outcome of a call no one saw can raise the threshold at once.
    pub async fn report_outcome(
        &self,
        execution: &ExecutionId,
        call: &Call,
        outcome: Label,
        note: Option<&str>,
        by: Option<&Principal>,
    ) -> Result<LearnedCall, RuntimeError> {
        let found = self
            .rt
            .store()
            .latest_learned_call(
                execution,
                &call.action,
                &call.resource,
                &call.context_hash(),
            )
            .await?;
        let Some(mut learned) = found else {
            return Err(RuntimeError::NotFound {
                what: "call of an adaptive rule",
                id: format!("{} on `{}` in {execution}", call.action, call.resource),
            });
        };
        let now = self.rt.now();
        let mut entry = AuditEntry::new(
            AuditKind::OutcomeReported,
            now,
            json!({"class": learned.class, "call": learned.seq, "action": call.action,
                   "resource": call.resource, "outcome": label_name(outcome), "note": note}),
        )
        .execution(execution);
        if let Some(by) = by {
            entry = entry.by(by);
        }
        let tx = Transaction {
            labels: vec![LabelUpdate {
                target: LabelTarget::Call(learned.seq),
                label: outcome,
                source: LabelSource::Report,
                note: note.map(str::to_owned),
            }],
            audit: vec![entry],
            ..Transaction::default()
        };
        self.rt.commit(tx).await?;
        learned.label = Some(outcome);
        learned.source = Some(LabelSource::Report);
        learned.note = note.map(str::to_owned);
        self.rt.learn_from(&learned).await?;
        Ok(learned)
    }
}

/// The thresholds of the adaptive classes: what is in force, what is proposed, and the
/// decisions of people about them.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds<'a> {
    rt: &'a Runtime,
}

/// The audit kinds of a threshold's history.
const HISTORY: [AuditKind; 5] = [
    AuditKind::ThresholdMoved,
    AuditKind::ThresholdProposed,
    AuditKind::ProposalAccepted,
    AuditKind::ProposalRejected,
    AuditKind::ThresholdReset,
];

impl Thresholds<'_> {
    /// Every class: the policy in force's adaptive rules, and any other class the store
    /// holds an overlay for.
    pub async fn show(&self) -> Result<Vec<ThresholdState>, RuntimeError> {
        let overlays = self.rt.store().overlays().await?;
        let policy = self.rt.policy();
        let rules = policy.as_ref().map_or(&[][..], |p| p.adaptive_rules());
        Ok(states(rules, &overlays))
    }

    /// The proposals waiting for a person.
    pub async fn proposals(&self) -> Result<Vec<(String, Proposal)>, RuntimeError> {
        Ok(self
            .show()
            .await?
            .into_iter()
            .filter_map(|s| s.proposal.map(|p| (s.class, p)))
            .collect())
    }

    /// Puts a proposal in force, audited with who accepted it.
    pub async fn accept(&self, id: &str, by: &Principal) -> Result<Overlay, RuntimeError> {
        self.decide(id, by, true).await
    }

    /// Drops a proposal, audited with who rejected it.
    pub async fn reject(&self, id: &str, by: &Principal) -> Result<Overlay, RuntimeError> {
        self.decide(id, by, false).await
    }

    async fn decide(
        &self,
        id: &str,
        by: &Principal,
        accept: bool,
    ) -> Result<Overlay, RuntimeError> {
        let mut retry = Retry::new("threshold proposal", id);
        loop {
            let overlays = self.rt.store().overlays().await?;
            let Some(current) = overlays
                .iter()
                .find(|o| o.record.proposal.as_ref().is_some_and(|p| p.id == id))
            else {
                return Err(RuntimeError::NotFound {
                    what: "threshold proposal",
                    id: id.to_owned(),
                });
            };
            let now = self.rt.now();
            let mut overlay = current.record.clone();
            let proposal = overlay.proposal.take().unwrap_or_else(|| unreachable!());
            let from = overlay.effective;
            if accept {
                overlay.effective = proposal.to;
            }
            overlay.updated_at = now;
            let kind = if accept {
                AuditKind::ProposalAccepted
            } else {
                AuditKind::ProposalRejected
            };
            let entry = AuditEntry::new(
                kind,
                now,
                json!({"class": overlay.class, "proposal": proposal.id, "from": from,
                       "to": proposal.to, "evidence": proposal.evidence}),
            )
            .request(&proposal.id)
            .by(by);
            let tx = Transaction {
                writes: vec![Write::Overlay(
                    overlay.clone(),
                    Expected::Version(current.version),
                )],
                audit: vec![entry],
                ..Transaction::default()
            };
            match self.rt.commit(tx).await {
                Ok(()) => {
                    self.rt.refresh_thresholds().await?;
                    return Ok(overlay);
                }
                Err(err) => retry.again(err).await?,
            }
        }
    }

    /// Puts a class (or every class) back at the policy's threshold, dropping any proposal;
    /// the labels stay, so learning goes on from there.
    pub async fn reset(
        &self,
        class: Option<&str>,
        by: &Principal,
    ) -> Result<Vec<Overlay>, RuntimeError> {
        let overlays = self.rt.store().overlays().await?;
        let chosen: Vec<&Versioned<Overlay>> = overlays
            .iter()
            .filter(|o| class.is_none_or(|c| o.record.class == c))
            .collect();
        if let Some(c) = class
            && chosen.is_empty()
        {
            return Err(RuntimeError::NotFound {
                what: "threshold class",
                id: c.to_owned(),
            });
        }
        let now = self.rt.now();
        let policy = self.rt.policy();
        let mut tx = Transaction::default();
        let mut out = Vec::new();
        for v in chosen {
            let mut o = v.record.clone();
            let from = o.effective;
            if let Some(rule) = policy
                .as_ref()
                .and_then(|p| rule_of(p.adaptive_rules(), &o.class))
            {
                o.policy = rule.threshold;
            }
            o.effective = o.policy;
            o.proposal = None;
            o.updated_at = now;
            tx.audit.push(
                AuditEntry::new(
                    AuditKind::ThresholdReset,
                    now,
                    json!({"class": o.class, "from": from, "to": o.effective}),
                )
                .by(by),
            );
            tx.writes
                .push(Write::Overlay(o.clone(), Expected::Version(v.version)));
            out.push(o);
        }
        if !tx.is_empty() {
            self.rt.commit(tx).await?;
            self.rt.refresh_thresholds().await?;
        }
        Ok(out)
    }

    /// Every move, proposal, acceptance, rejection and reset, oldest first; of one class when
    /// given.
    pub async fn history(&self, class: Option<&str>) -> Result<Vec<AuditEntry>, RuntimeError> {
        history(self.rt.store().as_ref(), class).await
    }
}

/// The classes' thresholds from the store's overlays: those of `rules` (the policy's adaptive
/// rules) first, in file order, then any other class the store holds an overlay for.
pub fn states(rules: &[AdaptiveRule], overlays: &[Versioned<Overlay>]) -> Vec<ThresholdState> {
    let state = |r: &AdaptiveRule, class: &str, o: Option<&Overlay>| ThresholdState {
        class: class.to_owned(),
        policy: r.threshold,
        effective: effective_of(r, o),
        mode: Some(r.settings.mode.name()),
        proposal: o
            .filter(|o| o.policy == r.threshold)
            .and_then(|o| o.proposal.clone()),
    };
    let mut out = Vec::new();
    for r in rules {
        // A `perAgent` rule's own line is what an agent with no threshold of its own gets;
        // each agent that has one follows it, by name.
        let own = overlay_of(overlays, &r.class).filter(|_| !r.settings.per_agent);
        out.push(state(r, &r.class, own.map(|v| &v.record)));
        if r.settings.per_agent {
            let mut agents: Vec<&Overlay> = overlays
                .iter()
                .map(|v| &v.record)
                .filter(|o| rule_of(rules, &o.class).is_some_and(|owner| std::ptr::eq(owner, r)))
                .collect();
            agents.sort_by(|a, b| a.class.cmp(&b.class));
            out.extend(agents.into_iter().map(|o| state(r, &o.class, Some(o))));
        }
    }
    for o in overlays {
        if !out.iter().any(|s| s.class == o.record.class) {
            out.push(ThresholdState {
                class: o.record.class.clone(),
                policy: o.record.policy,
                effective: o.record.effective,
                mode: None,
                proposal: o.record.proposal.clone(),
            });
        }
    }
    out
}

/// The audit entries of the thresholds' history, oldest first; of one class when given.
pub async fn history(
    store: &dyn crate::store::Store,
    class: Option<&str>,
) -> Result<Vec<AuditEntry>, RuntimeError> {
    let mut out = Vec::new();
    for kind in HISTORY {
        let entries = store
            .audit(AuditFilter {
                kind: Some(kind.as_str().to_owned()),
                ..AuditFilter::default()
            })
            .await?;
        out.extend(
            entries
                .into_iter()
                .filter(|e| class.is_none_or(|c| e.detail["class"] == c)),
        );
    }
    out.sort_by_key(|e| e.seq);
    Ok(out)
}
