//! The reference evaluator: spec section 4 read literally, for obviousness, not speed. Each
//! stage walks its rules in file order and takes the first that matches; the stricter stage
//! wins, the HITL stage on a tie. It is the oracle the compiled form is tested against.

use crate::decision::{Decision, StageResult};
use crate::policy::Policy;
use crate::request::{Request, RequestError};

impl Policy {
    /// Decides a request with the reference evaluator: the plain reading of the semantics,
    /// whose cost grows with the number of rules. Agents deciding on every action should
    /// [`compile`](Policy::compile) once and decide with the
    /// [`CompiledPolicy`](crate::compile::CompiledPolicy), which gives the same decisions in
    /// time that does not grow with the rules.
    pub fn decide(&self, request: &Request) -> Result<Decision<'_>, RequestError> {
        decide(self, request)
    }
}

/// Decides a request by walking the policy's rules one by one.
pub fn decide<'p>(policy: &'p Policy, request: &Request) -> Result<Decision<'p>, RequestError> {
    let confidence = request.check()?;
    Ok(decide_checked(
        policy,
        &request.action,
        &request.resource,
        confidence,
    ))
}

/// Decides a request whose fields are already checked.
pub fn decide_checked<'p>(
    policy: &'p Policy,
    action: &str,
    resource: &str,
    confidence: f64,
) -> Decision<'p> {
    let doc = policy.doc();
    let verdicts = policy.verdicts();
    let hitl = doc.hitl.as_ref().map(|section| {
        let rule = section
            .rules
            .iter()
            .position(|r| r.action.is_match(action) && r.resource_glob().is_match(resource));
        StageResult::new(rule, rule.map_or(&verdicts.no_match, |i| &verdicts.hitl[i]))
    });
    let escalation = doc.escalation.as_ref().map(|section| {
        let rule = section.rules.iter().position(|r| {
            r.action_glob().is_match(action)
                && r.resource_glob().is_match(resource)
                && r.holds(confidence)
        });
        StageResult::new(
            rule,
            rule.map_or(&verdicts.no_match, |i| &verdicts.escalation[i]),
        )
    });
    Decision::combine(hitl, escalation)
        .unwrap_or_else(|| unreachable!("validation requires a section"))
}
