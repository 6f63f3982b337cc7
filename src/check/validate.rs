//! Validation: the cross-field rules of spec section 6 that no single key can check alone.
//! Every error is collected; the policy is refused when there is any.

use std::collections::HashMap;

use super::GroupTable;
use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::ir::{Adapt, Approver, EscalationRule, Gate, HitlRule, OnTimeout, Outcome, PolicyDoc};
use crate::source::{Span, Spanned};

/// Validates a lowered policy, returning its expanded groups or every error found.
pub fn validate(doc: &PolicyDoc) -> Result<GroupTable, Vec<Diagnostic>> {
    let mut v = Validator {
        diagnostics: Vec::new(),
        groups: GroupTable::default(),
    };
    v.groups = GroupTable::build(&doc.groups, &mut v.diagnostics);
    if doc.hitl.is_none() && doc.escalation.is_none() {
        v.error(
            ErrorKind::NoSections,
            Span::at(doc.span.line, doc.span.col, 1),
        );
    }
    if let Some(defaults) = &doc.defaults
        && let Some(list) = &defaults.approvers
    {
        v.groups.check_refs(&list.node, &mut v.diagnostics);
        if let Some(outcome) = defaults.no_match.filter(|o| !o.node.needs_approvers())
            && !list.node.is_empty()
        {
            v.error(
                ErrorKind::UnusedApprovers {
                    why: format!("the default outcome `{}` asks no one", outcome.node),
                    fix: "remove `approvers`, or make `noMatch` `request-approval` or `escalate`",
                },
                list.span,
            );
        }
    }
    v.rule_ids(doc);
    for rule in doc.hitl.iter().flat_map(|s| &s.rules) {
        v.hitl_rule(rule);
    }
    for rule in doc.escalation.iter().flat_map(|s| &s.rules) {
        v.escalation_rule(rule);
    }
    if v.diagnostics.is_empty() {
        Ok(v.groups)
    } else {
        Err(v.diagnostics)
    }
}

/// What requires a gate's approvers, named only when an error says it: most gates have
/// none to report, and their rules are many.
#[derive(Clone, Copy)]
enum Needs<'a> {
    Flag,
    Step(&'a str),
    Outcome(Outcome),
}

impl Needs<'_> {
    fn describe(self) -> String {
        match self {
            Needs::Flag => "`requireApproval: true`".into(),
            Needs::Step(name) => format!("chain step `{name}` requires approval"),
            Needs::Outcome(outcome) => format!("the outcome `{outcome}` waits for a human"),
        }
    }
}

struct Validator {
    diagnostics: Vec<Diagnostic>,
    groups: GroupTable,
}

impl Validator {
    fn error(&mut self, kind: ErrorKind, span: Span) {
        self.diagnostics.push(Diagnostic::new(kind, span));
    }

    fn rule_ids(&mut self, doc: &PolicyDoc) {
        let hitl_ids = doc
            .hitl
            .iter()
            .flat_map(|s| &s.rules)
            .filter_map(|r| r.id.as_ref());
        let escalation_ids = doc
            .escalation
            .iter()
            .flat_map(|s| &s.rules)
            .filter_map(|r| r.id.as_ref());
        let mut seen: HashMap<&str, Span> = HashMap::with_capacity(
            doc.hitl.as_ref().map_or(0, |s| s.rules.len())
                + doc.escalation.as_ref().map_or(0, |s| s.rules.len()),
        );
        for id in hitl_ids.chain(escalation_ids) {
            if let Some(first) = seen.get(id.node.as_str()) {
                self.error(
                    ErrorKind::DuplicateRuleId {
                        id: id.node.clone(),
                        first: *first,
                    },
                    id.span,
                );
            } else {
                seen.insert(&id.node, id.span);
            }
        }
    }

    fn hitl_rule(&mut self, rule: &HitlRule) {
        if let Some(chain) = &rule.chain {
            if chain.node.is_empty() {
                self.error(ErrorKind::EmptyChain, chain.span);
            }
            if let Some(flag) = &rule.require_approval
                && !flag.node
            {
                self.error(ErrorKind::ChainWithoutApproval, flag.span);
            }
            self.no_gate_keys_beside_chain(&rule.gate);
            for step in &chain.node {
                self.gate(&step.gate, Some(Needs::Step(&step.name.node)), *step.span);
            }
            return;
        }
        if let Some(flag) = rule.require_approval.as_ref().filter(|f| f.node) {
            self.gate(&rule.gate, Some(Needs::Flag), flag.span);
        } else {
            let why = match &rule.require_approval {
                Some(_) => "the rule says `requireApproval: false`",
                None => "the rule has no `requireApproval: true`",
            };
            self.inert_gate(
                &rule.gate,
                why,
                "add `requireApproval: true` to ask them, or remove `approvers`",
            );
        }
    }

    fn escalation_rule(&mut self, rule: &EscalationRule) {
        if let Some(range) = &rule.confidence_range {
            let (lo, hi) = (range.node.lo, range.node.hi);
            for bound in [lo, hi] {
                if !(0.0..=1.0).contains(&bound.node) {
                    self.error(
                        ErrorKind::RangeOutOfBounds { value: bound.node },
                        bound.span,
                    );
                }
            }
            if lo.node > hi.node {
                self.error(
                    ErrorKind::RangeReversed {
                        lo: lo.node,
                        hi: hi.node,
                    },
                    range.span,
                );
            }
        }
        let outcome = rule.outcome.node;
        if outcome.needs_approvers() {
            self.gate(&rule.gate, Some(Needs::Outcome(outcome)), rule.outcome.span);
        } else {
            let why = format!("the outcome `{outcome}` asks no one");
            self.inert_gate(
                &rule.gate,
                &why,
                "use `request-approval` or `escalate` to ask them, or remove `approvers`",
            );
        }
        if let Some(adapt) = &rule.adapt {
            self.adapt(rule, adapt);
        }
    }

    /// `adapt`: only an auto-approve band reaching 1.0 may learn, its `lo` within the limits
    /// the learner may move it in, and the audit sample needs someone to go to.
    fn adapt(&mut self, rule: &EscalationRule, adapt: &Adapt) {
        let s = &adapt.settings;
        if let Err(e) = s.check() {
            self.error(
                ErrorKind::AdaptSetting {
                    key: e.key,
                    message: e.message,
                },
                adapt.span_of(e.key),
            );
        }
        let outcome = rule.outcome.node;
        if outcome != Outcome::AutoApprove {
            self.error(ErrorKind::AdaptNotAutoApprove { outcome }, *adapt.span);
        }
        match &rule.confidence_range {
            None => self.error(
                ErrorKind::AdaptBand {
                    found: "and this rule has none".into(),
                },
                *adapt.span,
            ),
            Some(range) if range.node.hi.node != 1.0 => self.error(
                ErrorKind::AdaptBand {
                    found: format!("not at {}", range.node.hi.node),
                },
                range.node.hi.span,
            ),
            Some(range) => {
                let lo = range.node.lo.node;
                if !(s.floor..=s.ceiling).contains(&lo) {
                    self.error(
                        ErrorKind::AdaptThresholdOutside {
                            lo,
                            floor: s.floor,
                            ceiling: s.ceiling,
                        },
                        range.node.lo.span,
                    );
                }
            }
        }
        let known = adapt
            .approvers
            .as_ref()
            .is_none_or(|l| self.groups.check_refs(&l.node, &mut self.diagnostics));
        let listed = adapt.approvers.as_ref().map_or(&[][..], |l| &l.node[..]);
        if s.audit_rate > 0.0 && known && self.groups.expand(listed).is_empty() {
            let what = format!(
                "`auditRate: {}` sends a sample of the calls it auto-approves to a human",
                s.audit_rate
            );
            let span = adapt.approvers.as_ref().map_or(*adapt.span, |l| l.span);
            let kind = if listed.is_empty() {
                ErrorKind::MissingApprovers { what }
            } else {
                ErrorKind::OnlyEmptyGroups {
                    what,
                    list: "adapt.approvers",
                }
            };
            self.error(kind, span);
        }
    }

    /// A gate that is never opened (the rule asks no one): its approvers and settings would be
    /// silently dropped, which is almost always a mistake, so each is an error.
    fn inert_gate(&mut self, gate: &Gate, why: &str, fix: &'static str) {
        if let Some(list) = &gate.approvers
            && !list.node.is_empty()
        {
            self.error(
                ErrorKind::UnusedApprovers {
                    why: why.to_owned(),
                    fix,
                },
                list.span,
            );
        }
        for (key, span) in gate_key_spans(gate).into_iter().skip(1) {
            if let Some(span) = span {
                self.error(
                    ErrorKind::InertGateKey {
                        key,
                        why: why.to_owned(),
                    },
                    span,
                );
            }
        }
    }

    fn no_gate_keys_beside_chain(&mut self, gate: &Gate) {
        for (key, span) in gate_key_spans(gate) {
            if let Some(span) = span {
                self.error(ErrorKind::IgnoredWithChain { key }, span);
            }
        }
    }

    /// Checks a gate. `needs` names what requires approvers when the gate is live (its
    /// approvers must then be present and enough for its quorum).
    fn gate(&mut self, gate: &Gate, needs: Option<Needs<'_>>, at: Span) {
        // A list naming an unknown group is already reported; counting what it stands for
        // would only echo that error as missing approvers or a quorum too high.
        let mut known = |list: &Option<Spanned<Vec<Spanned<Approver>>>>| {
            list.as_ref()
                .is_none_or(|l| self.groups.check_refs(&l.node, &mut self.diagnostics))
        };
        let approvers_known = known(&gate.approvers);
        let escalate_to_known = known(&gate.escalate_to);
        if let Some(min) = &gate.min_approvals
            && min.node < 1
        {
            self.error(ErrorKind::MinApprovalsTooLow { found: min.node }, min.span);
        }
        if let Some(what) = needs
            && approvers_known
        {
            let listed = gate.approvers.as_ref().map_or(&[][..], |l| &l.node[..]);
            let distinct = self.groups.distinct(listed);
            if distinct == 0 {
                let span = gate.approvers.as_ref().map_or(at, |l| l.span);
                let what = what.describe();
                let kind = if listed.is_empty() {
                    ErrorKind::MissingApprovers { what }
                } else {
                    ErrorKind::OnlyEmptyGroups {
                        what,
                        list: "approvers",
                    }
                };
                self.error(kind, span);
            } else if let Some(min) = &gate.min_approvals
                && min.node > distinct as i64
            {
                self.error(
                    ErrorKind::MinApprovalsTooHigh {
                        min: min.node,
                        distinct,
                    },
                    min.span,
                );
            }
        }
        let escalates = gate
            .on_timeout
            .as_ref()
            .is_some_and(|o| o.node == OnTimeout::Escalate);
        let has_target = gate
            .escalate_to
            .as_ref()
            .is_some_and(|l| !l.node.is_empty());
        match (&gate.on_timeout, &gate.escalate_to) {
            (Some(on), _) if escalates && !has_target => {
                self.error(ErrorKind::EscalateWithoutTarget, on.span);
            }
            (_, Some(to)) if !escalates => {
                self.error(ErrorKind::EscalateToWithoutEscalate, to.span);
            }
            _ => {}
        }
        if escalates
            && has_target
            && escalate_to_known
            && let Some(to) = &gate.escalate_to
            && self.groups.distinct(&to.node) == 0
            && to.node.iter().all(|a| matches!(a.node, Approver::Group(_)))
        {
            self.error(
                ErrorKind::OnlyEmptyGroups {
                    what: "`onTimeout: escalate`".into(),
                    list: "escalateTo",
                },
                to.span,
            );
        }
    }
}

/// Where each key that configures who is asked and how long (all but `notifyVia`) is
/// written, `approvers` first.
fn gate_key_spans(gate: &Gate) -> [(&'static str, Option<Span>); 6] {
    [
        ("approvers", gate.approvers.as_ref().map(|s| s.span)),
        ("minApprovals", gate.min_approvals.as_ref().map(|s| s.span)),
        ("timeout", gate.timeout.as_ref().map(|s| s.span)),
        ("onTimeout", gate.on_timeout.as_ref().map(|s| s.span)),
        ("escalateTo", gate.escalate_to.as_ref().map(|s| s.span)),
        ("remindEvery", gate.remind_every.as_ref().map(|s| s.span)),
    ]
}
