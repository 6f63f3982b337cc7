//! Why a decision came out as it did: a trace of both stages, rule by rule.
//!
//! [`explain`] walks the rules the way the reference evaluator does, but records every check
//! it makes: for each rule tried, whether its action glob, resource glob and confidence band
//! held, and for the rules after the first match, that they were not tried. It then says what
//! the stage's default gave when no rule matched (and whether the default failed closed to
//! `deny`), and how the two stages were combined. The trace's [`Trace::decision`] is built
//! from its own walk and is the same as [`Policy::decide`]'s; the tests hold it to that.
//!
//! ```
//! use rekall_policy::{Policy, Request};
//! use rekall_policy::eval::explain::{explain, RuleStatus};
//!
//! let policy = Policy::from_path("policies/seed.yaml")?;
//! let trace = explain(&policy, &Request::new("deploy").resource("staging").confidence(0.9))?;
//! let hitl = trace.hitl.as_ref().expect("the seed policy has a HITL section");
//! assert_eq!(hitl.matched, Some(2));
//! assert_eq!(hitl.rules[0].status, RuleStatus::NotMatched);
//! assert_eq!(hitl.rules[0].checks[0].message, "action `deploy` does not match `delete`");
//! assert_eq!(trace.decision.outcome(), policy.decide(&Request::new("deploy")
//!     .resource("staging").confidence(0.9))?.outcome());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::decision::{Decision, OwnedDecision, OwnedStageResult, Stage, Verdict};
use crate::glob::Glob;
use crate::ir::{Outcome, Principal};
use crate::policy::Policy;
use crate::request::{Request, RequestError};

/// The whole story of one decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// The request as decided, in the JSON form [`Request::from_json`] reads.
    pub request: Value,
    /// The confidence decided with: the request's, or 0.0 when it gave none.
    pub confidence: f64,
    /// `None` when the policy has no HITL section.
    pub hitl: Option<StageTrace>,
    /// `None` when the policy has no escalation section.
    pub escalation: Option<StageTrace>,
    pub combination: Combination,
    /// The decision, the same as [`Policy::decide`] gives.
    pub decision: OwnedDecision,
    /// The adaptive rules whose threshold in force is not the policy's, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdTrace>,
}

/// An adaptive rule whose band starts elsewhere than the policy says: the learning loop
/// moved it (an overlay kept in the store).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdTrace {
    pub class: String,
    /// Its index in `escalation.rules`.
    pub rule: usize,
    pub policy: f64,
    pub effective: f64,
    pub message: String,
}

fn threshold_traces(policy: &Policy) -> Vec<ThresholdTrace> {
    policy
        .adaptive_rules()
        .iter()
        .filter(|a| a.effective != a.threshold)
        .map(|a| {
            let why = if a.effective < a.threshold {
                format!(
                    "lowered by the learning loop: with probability at least {} the bad rate of what it auto-approves from {} is at most {}",
                    number(1.0 - a.settings.delta),
                    number(a.effective),
                    number(a.settings.alpha)
                )
            } else {
                "raised by the learning loop: the labels no longer support the policy's threshold"
                    .to_owned()
            };
            ThresholdTrace {
                class: a.class.clone(),
                rule: a.rule,
                policy: a.threshold,
                effective: a.effective,
                message: format!(
                    "escalation rule {} (`{}`) auto-approves from {}, not the policy's {}: {why} (`rekall-policy thresholds history {}`)",
                    a.rule,
                    a.class,
                    number(a.effective),
                    number(a.threshold),
                    a.class
                ),
            }
        })
        .collect()
}

/// One stage: its rules in file order, the one that matched or the default that applied, and
/// what the stage decided.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageTrace {
    #[serde(serialize_with = "stage_name")]
    pub stage: Stage,
    pub rules: Vec<RuleTrace>,
    /// The index of the first rule that matched, if any.
    pub matched: Option<usize>,
    /// What the stage's default gave; present exactly when no rule matched.
    pub default: Option<DefaultTrace>,
    /// What the stage decided.
    pub verdict: Verdict,
    /// One line saying what the stage decided and why.
    pub message: String,
}

/// Whether a rule matched, did not, or was never looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleStatus {
    Matched,
    NotMatched,
    /// An earlier rule of the stage matched first.
    NotTried,
}

/// One rule as the stage saw it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleTrace {
    /// 0-based, as `hitlRule` and `escalationRule` count.
    pub index: usize,
    pub id: Option<String>,
    /// The line the rule starts on in the policy file.
    pub line: u32,
    pub status: RuleStatus,
    /// Every condition of the rule and whether it held; empty for a rule not tried.
    pub checks: Vec<Check>,
    /// What the rule decides when it matches.
    pub outcome: Outcome,
}

/// Which part of a rule a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    Action,
    Resource,
    Confidence,
}

/// One condition of a rule, checked against the request.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub part: Part,
    pub holds: bool,
    /// False when the rule leaves this part out, so it is `*` or the band [0, 1].
    pub written: bool,
    /// The glob, or the band in interval notation (`[0.7, 0.9)`, `[0.9, 1.0]`).
    pub pattern: String,
    /// Why it held or not, e.g. "action `deploy` does not match `delete`".
    pub message: String,
}

/// What a stage's default gave when none of its rules matched.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultTrace {
    /// `defaults.noMatch`, or `request-approval` when the policy does not set it.
    pub no_match: Outcome,
    /// Where `defaults.noMatch` is written; `None` when the built-in default applies.
    pub line: Option<u32>,
    /// `defaults.approvers`, group-expanded.
    pub approvers: Vec<Principal>,
    /// The default needs approvers and has none, so the stage denies.
    pub fail_closed: bool,
    /// What the default decides.
    pub outcome: Outcome,
    pub message: String,
}

/// How the stages' outcomes became the decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Combination {
    pub hitl: Option<Outcome>,
    pub escalation: Option<Outcome>,
    #[serde(serialize_with = "stage_name")]
    pub decided_by: Stage,
    /// Both stages said the same outcome, and the HITL stage's decision stood.
    pub tie: bool,
    pub message: String,
}

fn stage_name<S: Serializer>(stage: &Stage, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(stage.as_str())
}

/// Traces the decision of a request. A request that would not be decided is refused the same
/// way [`Policy::decide`] refuses it.
pub fn explain(policy: &Policy, request: &Request) -> Result<Trace, RequestError> {
    let confidence = request.check()?;
    let doc = policy.doc();
    let verdicts = policy.verdicts();

    let hitl = doc.hitl.as_ref().map(|section| {
        let rules = section
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| RuleSketch {
                index,
                id: rule.id.as_ref().map(|id| id.node.clone()),
                line: rule.span.line,
                outcome: verdicts
                    .hitl
                    .get(index)
                    .map_or(Outcome::AutoApprove, |v| v.outcome),
                checks: vec![
                    glob_check(Part::Action, &rule.action.node, true, &request.action),
                    glob_check(
                        Part::Resource,
                        &rule.resource_glob(),
                        rule.resource.is_some(),
                        &request.resource,
                    ),
                ],
            });
        stage_trace(policy, Stage::Hitl, &verdicts.hitl, rules)
    });

    let escalation = doc.escalation.as_ref().map(|section| {
        let rules = section
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| RuleSketch {
                index,
                id: rule.id.as_ref().map(|id| id.node.clone()),
                line: rule.span.line,
                outcome: rule.outcome.node,
                checks: vec![
                    glob_check(
                        Part::Action,
                        &rule.action_glob(),
                        rule.match_action.is_some(),
                        &request.action,
                    ),
                    glob_check(
                        Part::Resource,
                        &rule.resource_glob(),
                        rule.match_resource.is_some(),
                        &request.resource,
                    ),
                    band_check(rule.band(), rule.confidence_range.is_some(), confidence),
                ],
            });
        stage_trace(policy, Stage::Escalation, &verdicts.escalation, rules)
    });

    let result = |t: &Option<StageTrace>| {
        t.as_ref().map(|t| OwnedStageResult {
            rule: t.matched,
            verdict: t.verdict.clone(),
        })
    };
    let decision = OwnedDecision::combine(result(&hitl), result(&escalation))
        .unwrap_or_else(|| unreachable!("validation requires a section"));
    let combination = combination(&decision.as_decision());
    Ok(Trace {
        request: request.to_json(),
        confidence,
        hitl,
        escalation,
        combination,
        decision,
        thresholds: threshold_traces(policy),
    })
}

/// A rule with its checks made, before the stage knows whether it was reached.
struct RuleSketch {
    index: usize,
    id: Option<String>,
    line: u32,
    outcome: Outcome,
    checks: Vec<Check>,
}

fn stage_trace(
    policy: &Policy,
    stage: Stage,
    rule_verdicts: &[Verdict],
    sketches: impl Iterator<Item = RuleSketch>,
) -> StageTrace {
    let mut matched = None;
    let rules: Vec<RuleTrace> = sketches
        .map(|sketch| {
            let (status, checks) = if matched.is_some() {
                (RuleStatus::NotTried, Vec::new())
            } else if sketch.checks.iter().all(|c| c.holds) {
                matched = Some(sketch.index);
                (RuleStatus::Matched, sketch.checks)
            } else {
                (RuleStatus::NotMatched, sketch.checks)
            };
            RuleTrace {
                index: sketch.index,
                id: sketch.id,
                line: sketch.line,
                status,
                checks,
                outcome: sketch.outcome,
            }
        })
        .collect();
    let no_match = &policy.verdicts().no_match;
    let verdict = matched
        .and_then(|i| rule_verdicts.get(i))
        .unwrap_or(no_match)
        .clone();
    let default = matched.is_none().then(|| default_trace(policy));
    let message = match (matched.and_then(|i| rules.get(i)), &default) {
        (Some(rule), _) => format!(
            "{} says {}, from {}",
            stage.as_str(),
            describe_verdict(&verdict),
            rule_name(rule)
        ),
        (None, Some(d)) => format!("no {} rule matched: {}", stage.as_str(), d.message),
        (None, None) => format!("{} says {}", stage.as_str(), describe_verdict(&verdict)),
    };
    StageTrace {
        stage,
        rules,
        matched,
        default,
        verdict,
        message,
    }
}

fn default_trace(policy: &Policy) -> DefaultTrace {
    let defaults = policy.doc().defaults.as_ref();
    let written = defaults.and_then(|d| d.no_match);
    let no_match = written.map_or(Outcome::RequestApproval, |o| o.node);
    let line = written.map(|o| o.span.line);
    let verdict = &policy.verdicts().no_match;
    let approvers = verdict.approvers.clone();
    let fail_closed = no_match.needs_approvers() && verdict.outcome == Outcome::Deny;
    let origin = match line {
        Some(l) => format!("`defaults.noMatch` (line {l}) is {no_match}"),
        None => format!("the built-in default (no `defaults.noMatch`) is {no_match}"),
    };
    let message = if fail_closed {
        format!(
            "{origin}, which needs approvers, and `defaults.approvers` names none, \
             so it fails closed: deny"
        )
    } else {
        format!("{origin}, so {}", describe_verdict(verdict))
    };
    DefaultTrace {
        no_match,
        line,
        approvers,
        fail_closed,
        outcome: verdict.outcome,
        message,
    }
}

fn combination(decision: &Decision<'_>) -> Combination {
    let hitl = decision.hitl.as_ref().map(|s| s.verdict.outcome);
    let escalation = decision.escalation.as_ref().map(|s| s.verdict.outcome);
    let decided_by = decision.decided_by();
    let same_gate = match (&decision.hitl, &decision.escalation) {
        (Some(h), Some(e)) => {
            h.verdict.approvers == e.verdict.approvers
                && h.verdict.min_approvals == e.verdict.min_approvals
                && h.verdict.chain == e.verdict.chain
        }
        _ => true,
    };
    let (tie, message) = match (hitl, escalation) {
        (Some(h), Some(e)) if h == e => (
            true,
            format!(
                "both stages say {h}: on a tie the HITL stage's decision stands{}",
                if same_gate {
                    ""
                } else {
                    ", with its approvers, not the escalation stage's"
                }
            ),
        ),
        (Some(h), Some(e)) if e > h => (
            false,
            format!("escalation's {e} is stricter than hitl's {h}, so it stands"),
        ),
        (Some(h), Some(e)) => (
            false,
            format!("hitl's {h} is stricter than escalation's {e}, so it stands"),
        ),
        (Some(h), None) => (
            false,
            format!("the policy has no escalation section, so hitl's {h} stands"),
        ),
        (None, Some(e)) => (
            false,
            format!("the policy has no hitl section, so escalation's {e} stands"),
        ),
        (None, None) => (false, String::new()),
    };
    Combination {
        hitl,
        escalation,
        decided_by,
        tie,
        message,
    }
}

fn glob_check(part: Part, glob: &Glob, written: bool, value: &str) -> Check {
    let holds = glob.is_match(value);
    let name = match part {
        Part::Action => "action",
        Part::Resource => "resource",
        Part::Confidence => "confidence",
    };
    let verb = if holds { "matches" } else { "does not match" };
    let message = format!("{name} `{value}` {verb} `{glob}`");
    Check {
        part,
        holds,
        written,
        pattern: glob.as_str().to_owned(),
        message,
    }
}

/// Checks `lo <= c < hi`, or `c == hi == 1.0` (spec section 4), and says so, pointing out the
/// boundary cases that surprise people: an upper bound that is excluded, and 1.0.
fn band_check((lo, hi): (f64, f64), written: bool, c: f64) -> Check {
    let holds = (lo <= c && c < hi) || (c == hi && hi == 1.0);
    let band = band_text(lo, hi);
    let c_text = number(c);
    let message = if holds && c == hi {
        format!("confidence {c_text} is in {band}: 1.0 belongs to the band that ends at 1.0")
    } else if holds {
        format!("confidence {c_text} is in {band}")
    } else if c == hi {
        format!("confidence {c_text} is not in {band}: the upper bound is excluded")
    } else {
        format!("confidence {c_text} is not in {band}")
    };
    Check {
        part: Part::Confidence,
        holds,
        written,
        pattern: band,
        message,
    }
}

/// A band in interval notation: `[lo, hi)`, or `[lo, 1.0]` for the band that holds 1.0.
pub fn band_text(lo: f64, hi: f64) -> String {
    let close = if hi == 1.0 { ']' } else { ')' };
    format!("[{}, {}{close}", number(lo), number(hi))
}

/// A number as a policy author writes it: `1.0`, `0.9`, `0.8999`.
pub fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.is_finite() {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

/// "rule 2 everything-else (line 18)", or "rule 2 (line 18)" for a rule without an id.
pub fn rule_name(rule: &RuleTrace) -> String {
    match &rule.id {
        Some(id) => format!("rule {} {id} (line {})", rule.index, rule.line),
        None => format!("rule {} (line {})", rule.index, rule.line),
    }
}

/// An outcome with who decides it: "request-approval by user:adam (1 needed)".
pub fn describe_verdict(v: &Verdict) -> String {
    let mut out = v.outcome.as_str().to_owned();
    if !v.approvers.is_empty() {
        let names: Vec<&str> = v.approvers.iter().map(Principal::as_str).collect();
        out.push_str(" by ");
        out.push_str(&names.join(", "));
    }
    if let Some(m) = v.min_approvals {
        out.push_str(&format!(" ({m} needed)"));
    } else if !v.chain.is_empty() {
        let n = v.chain.len();
        out.push_str(&format!(
            " (a chain of {n} step{})",
            if n == 1 { "" } else { "s" }
        ));
    }
    out
}
