//! What a policy change would change: replay past requests through the old and the new
//! version and collect every request whose decision differs.
//!
//! A change is *looser* when the new outcome is lower in
//! `auto-approve < notify-and-proceed < request-approval < escalate < deny`, *tighter* when it
//! is higher. When the outcome stays but its gate changes (`approvers`, `minApprovals`,
//! `timeout`, `onTimeout`, `escalateTo`, and each chain step's), the gate is *loosened* when at
//! least the same people may resolve it, no more must agree and a timeout rejects it no sooner
//! (and it is not the same), *tightened* the other way round, and otherwise an *approvers*
//! change. The people who may resolve a gate that escalates on its timeout include its
//! `escalateTo`, and it is rejected only after the second timeout, so `onTimeout: escalate`
//! widens the gate and waits longer. A change of which rule decided, with the same outcome and
//! the same people and times, is not a change of the decision.
//!
//! Changes are grouped by `old -> new` outcome, most dangerous first: looser groups on top,
//! the most loosened first; then loosened gates; then tighter groups and tightened gates; then
//! other approver changes. Each group keeps its
//! count and its first few examples, so a log of any length is replayed in bounded memory.
//!
//! ```
//! use rekall_policy::Policy;
//! use rekall_policy::eval::diff::{replay, ChangeKind};
//!
//! let old = Policy::from_yaml_str(
//!     "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [user:adam]\n    - action: \"*\"\n",
//!     "old.yaml",
//! )?;
//! let new = Policy::from_yaml_str("version: 1\nhitl:\n  rules:\n    - action: \"*\"\n", "new.yaml")?;
//! let log = "{\"action\": \"delete\", \"resource\": \"db\"}\n{\"action\": \"read\"}\n{oops\n";
//! let report = replay(&old, &new, log.as_bytes(), 3)?;
//! assert_eq!(report.summary.requests, 3);
//! assert_eq!(report.summary.looser, 1);
//! assert_eq!(report.summary.unchanged, 1);
//! assert_eq!(report.summary.invalid, 1);
//! assert_eq!(report.groups[0].kind, ChangeKind::Looser);
//! assert_eq!(report.groups[0].examples[0].line, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::BufRead;

use serde::Serialize;
use serde_json::Value;

use crate::decision::{Decision, Verdict};
use crate::ir::{Duration, OnTimeout, Outcome, Principal};
use crate::policy::Policy;
use crate::request::Request;

/// How a request's decision changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// The new outcome lets more through.
    Looser,
    /// Same outcome, but more people may resolve it or fewer must agree.
    GateLoosened,
    /// The new outcome holds more back.
    Tighter,
    /// Same outcome, but fewer people may resolve it or more must agree.
    GateTightened,
    /// Same outcome, with approvers or quorum changed neither simply up nor down.
    Approvers,
}

impl ChangeKind {
    /// Whether the change lets something through more easily than before.
    pub fn is_looser(self) -> bool {
        matches!(self, ChangeKind::Looser | ChangeKind::GateLoosened)
    }
}

/// Compares two decisions of the same request: `None` when they are the same decision.
pub fn classify(old: &Decision<'_>, new: &Decision<'_>) -> Option<ChangeKind> {
    let (o, n) = (old.outcome(), new.outcome());
    if n < o {
        Some(ChangeKind::Looser)
    } else if n > o {
        Some(ChangeKind::Tighter)
    } else {
        let (a, b) = (Gate::of(old.verdict()), Gate::of(new.verdict()));
        if a == b {
            return None;
        }
        match a.compare(&b) {
            // What changed does not change who may resolve it or when (an `escalateTo` of a
            // gate that never escalates, say).
            Some(std::cmp::Ordering::Equal) => None,
            Some(std::cmp::Ordering::Less) => Some(ChangeKind::GateLoosened),
            Some(std::cmp::Ordering::Greater) => Some(ChangeKind::GateTightened),
            None => Some(ChangeKind::Approvers),
        }
    }
}

/// How `new` compares with `old` for one gate: `Less` when new is looser (at least the same
/// people may resolve it, no more must agree, and it is rejected no sooner), `Greater` when
/// tighter, `None` when neither or the same.
fn compare_one(old: &Resolution, new: &Resolution) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let covers = |big: &[Principal], small: &[Principal]| small.iter().all(|p| big.contains(p));
    let looser = new.quorum <= old.quorum
        && covers(&new.resolvers, &old.resolvers)
        && new.rejected_after >= old.rejected_after;
    let tighter = new.quorum >= old.quorum
        && covers(&old.resolvers, &new.resolvers)
        && new.rejected_after <= old.rejected_after;
    match (looser, tighter) {
        (true, true) => Some(Equal),
        (true, false) => Some(Less),
        (false, true) => Some(Greater),
        (false, false) => None,
    }
}

/// What makes one gate easier to get through than another: who may resolve it, how many must
/// agree, and how long it waits for them before it is rejected.
struct Resolution {
    /// The approvers, and `escalateTo` when the gate escalates on its timeout (they may vote
    /// once it has escalated).
    resolvers: Vec<Principal>,
    quorum: u32,
    /// Milliseconds from opening until a timeout rejects it (once more for an escalation,
    /// which waits the same timeout again); `u64::MAX` when it waits until resolved.
    rejected_after: u64,
}

impl Resolution {
    fn new(
        approvers: &[Principal],
        quorum: u32,
        timeout: Option<Duration>,
        on_timeout: Option<OnTimeout>,
        escalate_to: &[Principal],
    ) -> Resolution {
        let mut resolvers = approvers.to_vec();
        // Without a timeout the gate never escalates, so `escalateTo` never votes.
        let escalates =
            timeout.is_some() && on_timeout == Some(OnTimeout::Escalate) && !escalate_to.is_empty();
        if escalates {
            resolvers.extend(escalate_to.iter().cloned());
        }
        let rejected_after = match timeout {
            None => u64::MAX,
            Some(t) if escalates => t.as_millis().saturating_mul(2),
            Some(t) => t.as_millis(),
        };
        Resolution {
            resolvers,
            quorum,
            rejected_after,
        }
    }
}

/// Who resolves a decision, how many must agree, and when a timeout rejects it: what a gate
/// change compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    pub approvers: Vec<Principal>,
    pub min_approvals: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<StepGate>,
    /// Milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "escalates_not")]
    pub on_timeout: Option<OnTimeout>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escalate_to: Vec<Principal>,
}

/// One chain step's approvers, quorum and timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepGate {
    pub step: String,
    pub approvers: Vec<Principal>,
    pub min_approvals: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(skip_serializing_if = "step_escalates_not")]
    pub on_timeout: OnTimeout,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escalate_to: Vec<Principal>,
}

/// `onTimeout` is shown only when it escalates, as `reject` is the default.
fn escalates_not(o: &Option<OnTimeout>) -> bool {
    *o != Some(OnTimeout::Escalate)
}

fn step_escalates_not(o: &OnTimeout) -> bool {
    *o != OnTimeout::Escalate
}

impl Gate {
    /// How this gate, as the new one, compares with `old` (see [`compare_one`]); chains
    /// compare step by step when they have the same steps, and all steps must agree.
    fn compare(&self, new: &Gate) -> Option<std::cmp::Ordering> {
        use std::cmp::Ordering::Equal;
        let old = self;
        if old.chain.is_empty() && new.chain.is_empty() {
            return compare_one(&old.resolution(), &new.resolution());
        }
        let same_steps = old.chain.len() == new.chain.len()
            && old
                .chain
                .iter()
                .zip(&new.chain)
                .all(|(a, b)| a.step == b.step);
        if !same_steps {
            return None;
        }
        let mut overall = Equal;
        for (a, b) in old.chain.iter().zip(&new.chain) {
            match compare_one(&a.resolution(), &b.resolution())? {
                Equal => {}
                o if overall == Equal || overall == o => overall = o,
                _ => return None,
            }
        }
        Some(overall)
    }

    fn resolution(&self) -> Resolution {
        Resolution::new(
            &self.approvers,
            self.min_approvals.unwrap_or(1),
            self.timeout,
            self.on_timeout,
            &self.escalate_to,
        )
    }

    pub fn of(v: &Verdict) -> Gate {
        Gate {
            approvers: v.approvers.clone(),
            min_approvals: v.min_approvals,
            chain: v
                .chain
                .iter()
                .map(|s| StepGate {
                    step: s.step.clone(),
                    approvers: s.approvers.clone(),
                    min_approvals: s.min_approvals,
                    timeout: s.timeout,
                    on_timeout: s.on_timeout,
                    escalate_to: s.escalate_to.clone(),
                })
                .collect(),
            timeout: v.timeout,
            on_timeout: v.on_timeout,
            escalate_to: v.escalate_to.clone(),
        }
    }
}

impl StepGate {
    fn resolution(&self) -> Resolution {
        Resolution::new(
            &self.approvers,
            self.min_approvals,
            self.timeout,
            Some(self.on_timeout),
            &self.escalate_to,
        )
    }
}

/// One side of a change: what a version of the policy decided.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    pub outcome: Outcome,
    #[serde(flatten)]
    pub gate: Gate,
    pub hitl_rule: Option<usize>,
    pub escalation_rule: Option<usize>,
    pub reason: String,
}

impl Side {
    /// The side a decision makes.
    pub fn of(d: &Decision<'_>) -> Side {
        Side {
            outcome: d.outcome(),
            gate: Gate::of(d.verdict()),
            hitl_rule: d.hitl_rule(),
            escalation_rule: d.escalation_rule(),
            reason: d.reason(),
        }
    }
}

/// A request whose decision changed.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// 1-based line of the log.
    pub line: usize,
    /// The request's `id` in the log, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// The request, in the form [`Request::from_json`] reads.
    pub request: Value,
    pub old: Side,
    pub new: Side,
}

/// The requests that went from one outcome to another (or kept their outcome and changed
/// approvers).
#[derive(Debug, Clone, Serialize)]
pub struct ChangeGroup {
    pub kind: ChangeKind,
    pub old: Outcome,
    pub new: Outcome,
    /// How many steps up or down the strictness order: `request-approval -> auto-approve` is
    /// 2 looser; 0 for an approvers change.
    pub steps: u8,
    pub count: usize,
    /// The first few, in log order.
    pub examples: Vec<Change>,
}

/// A log line that could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvalidLine {
    pub line: usize,
    /// The request field at fault, when one is.
    pub field: Option<String>,
    pub message: String,
}

/// The counts. `requests` is every non-blank line; the other seven split it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub requests: usize,
    pub unchanged: usize,
    pub looser: usize,
    pub gate_loosened: usize,
    pub tighter: usize,
    pub gate_tightened: usize,
    pub approvers_changed: usize,
    pub invalid: usize,
}

/// Everything a replay found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub summary: Summary,
    /// Most dangerous first (see the module docs).
    pub groups: Vec<ChangeGroup>,
    pub invalid: Vec<InvalidLine>,
}

impl DiffReport {
    /// True when some request would be let through more easily by the new policy: a looser
    /// outcome, or the same outcome behind a loosened gate.
    pub fn any_looser(&self) -> bool {
        self.summary.looser + self.summary.gate_loosened > 0
    }
}

/// Replays requests one at a time; [`Replay::finish`] sorts the findings.
#[derive(Debug)]
pub struct Replay<'p> {
    old: &'p Policy,
    new: &'p Policy,
    examples: usize,
    summary: Summary,
    groups: HashMap<(ChangeKind, Outcome, Outcome), ChangeGroup>,
    invalid: Vec<InvalidLine>,
}

impl<'p> Replay<'p> {
    /// `examples` is how many changes each group keeps.
    pub fn new(old: &'p Policy, new: &'p Policy, examples: usize) -> Self {
        Replay {
            old,
            new,
            examples,
            summary: Summary::default(),
            groups: HashMap::new(),
            invalid: Vec::new(),
        }
    }

    /// Replays one line of a JSON Lines log; blank lines are skipped.
    pub fn line(&mut self, line: usize, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        let parsed = crate::json_lines::request(text)
            .map(|r| (r.request, r.id))
            .map_err(|e| (e.field, e.message));
        match parsed {
            Ok((request, id)) => self.replay(line, id, &request),
            Err((field, message)) => self.invalid_line(line, field, message),
        }
    }

    /// Counts a line that is not a request (unreadable text, say).
    pub fn invalid_line(&mut self, line: usize, field: Option<String>, message: String) {
        self.summary.requests += 1;
        self.summary.invalid += 1;
        self.invalid.push(InvalidLine {
            line,
            field,
            message,
        });
    }

    /// Replays one request.
    pub fn request(&mut self, line: usize, request: &Request) {
        self.replay(line, None, request);
    }

    fn replay(&mut self, line: usize, id: Option<Value>, request: &Request) {
        let decided = self
            .old
            .decide(request)
            .and_then(|old| self.new.decide(request).map(|new| (old, new)));
        let (old, new) = match decided {
            Ok(pair) => pair,
            Err(e) => return self.invalid_line(line, Some(e.field), e.message),
        };
        self.summary.requests += 1;
        let Some(kind) = classify(&old, &new) else {
            self.summary.unchanged += 1;
            return;
        };
        match kind {
            ChangeKind::Looser => self.summary.looser += 1,
            ChangeKind::GateLoosened => self.summary.gate_loosened += 1,
            ChangeKind::Tighter => self.summary.tighter += 1,
            ChangeKind::GateTightened => self.summary.gate_tightened += 1,
            ChangeKind::Approvers => self.summary.approvers_changed += 1,
        }
        let (o, n) = (old.outcome(), new.outcome());
        let group = self
            .groups
            .entry((kind, o, n))
            .or_insert_with(|| ChangeGroup {
                kind,
                old: o,
                new: n,
                steps: (o as u8).abs_diff(n as u8),
                count: 0,
                examples: Vec::new(),
            });
        group.count += 1;
        if group.examples.len() < self.examples {
            group.examples.push(Change {
                line,
                id,
                request: request.to_json(),
                old: Side::of(&old),
                new: Side::of(&new),
            });
        }
    }

    pub fn finish(self) -> DiffReport {
        let mut groups: Vec<ChangeGroup> = self.groups.into_values().collect();
        groups.sort_by_key(danger);
        DiffReport {
            summary: self.summary,
            groups,
            invalid: self.invalid,
        }
    }
}

/// The sort key that puts the most dangerous group first: looser outcomes, loosened gates,
/// tighter outcomes, tightened gates, other approver changes; within looser, the most
/// loosened, then the loosest new outcome; within tighter, the most tightened; then by
/// outcome, so the order is total.
fn danger(g: &ChangeGroup) -> (u8, std::cmp::Reverse<u8>, Outcome, Outcome) {
    let kind = match g.kind {
        ChangeKind::Looser => 0,
        ChangeKind::GateLoosened => 1,
        ChangeKind::Tighter => 2,
        ChangeKind::GateTightened => 3,
        ChangeKind::Approvers => 4,
    };
    (kind, std::cmp::Reverse(g.steps), g.new, g.old)
}

/// Replays a JSON Lines log (the format `eval --input` reads) through both policies. Lines
/// that are not valid requests (bad JSON, a refused field, text that is not UTF-8) are
/// counted and listed, not fatal; only a failure to read is an error.
pub fn replay(
    old: &Policy,
    new: &Policy,
    reader: impl BufRead,
    examples: usize,
) -> std::io::Result<DiffReport> {
    let mut replay = Replay::new(old, new, examples);
    crate::json_lines::for_each_line(reader, |line, text| match text {
        Ok(text) => replay.line(line, text),
        Err(message) => replay.invalid_line(line, None, message),
    })?;
    Ok(replay.finish())
}
