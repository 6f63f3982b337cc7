//! Binding an approval to the call it was asked for (spec section 8): the action, the
//! resource, a hash of the call's context and the policy version. An approved, bound request
//! issues a [`Grant`] that is good for one use of that exact call.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::GrantError;
use super::ids::{ApprovalId, ExecutionId, GrantId};
use super::time::Timestamp;
use crate::decision::Verdict;
use crate::ir::{Outcome, Principal};

/// The call an agent wants to make, as given to `check_escalation`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub action: String,
    pub resource: String,
    pub confidence: Option<f64>,
    pub context: Value,
}

impl Call {
    pub fn new(action: impl Into<String>) -> Call {
        Call {
            action: action.into(),
            resource: String::new(),
            confidence: None,
            context: Value::Null,
        }
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Call {
        self.resource = resource.into();
        self
    }

    pub fn confidence(mut self, confidence: f64) -> Call {
        self.confidence = Some(confidence);
        self
    }

    pub fn context(mut self, context: Value) -> Call {
        self.context = context;
        self
    }

    /// The hash the grant is bound to. The confidence is not part of it: it is the agent's
    /// estimate of the call, not the call itself.
    pub fn context_hash(&self) -> String {
        hash_json(&self.context)
    }
}

/// What an approval request was asked for, when it came from `check_escalation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    pub action: String,
    pub resource: String,
    pub confidence: Option<f64>,
    /// Shown to the approvers; the grant holds only its hash.
    pub context: Value,
    pub context_hash: String,
    pub policy_version: String,
    /// A hash of the decision that asked for the gate: a policy swap that leaves it the same
    /// does not invalidate the grant, one that changes it does.
    pub decision_fingerprint: String,
    pub outcome: Outcome,
}

/// A single-use permission to make one exact call, issued when a bound request is approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub id: GrantId,
    pub request_id: ApprovalId,
    pub execution_id: ExecutionId,
    pub action: String,
    pub resource: String,
    pub context_hash: String,
    pub policy_version: String,
    pub decision_fingerprint: String,
    /// The outcome of the decision that asked for the approval; absent in grants stored
    /// before it was kept, which then need the very same decision.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    pub approved_by: Vec<Principal>,
    pub issued_at: Timestamp,
    pub used_at: Option<Timestamp>,
}

impl Grant {
    pub fn issue(
        request_id: ApprovalId,
        execution_id: ExecutionId,
        binding: &Binding,
        approved_by: Vec<Principal>,
        now: Timestamp,
    ) -> Grant {
        Grant {
            id: GrantId::generate(),
            request_id,
            execution_id,
            action: binding.action.clone(),
            resource: binding.resource.clone(),
            context_hash: binding.context_hash.clone(),
            policy_version: binding.policy_version.clone(),
            decision_fingerprint: binding.decision_fingerprint.clone(),
            outcome: Some(binding.outcome),
            approved_by,
            issued_at: now,
            used_at: None,
        }
    }

    /// Checks that this grant may be used for `call` under the policy in force, whose
    /// decision for the call is `decided` (with its fingerprint), and marks it used.
    ///
    /// The decision now must be the one approved (the same fingerprint), or, under the same
    /// policy version, a gate no stricter than it that this approval already satisfies: an
    /// outcome no stricter, no chain, and at least its `minApprovals` of its approvers among
    /// those who approved. The confidence is not bound, so an agent that was approved at 0.5
    /// and asks again at 0.1 gets the policy's stricter decision, never the old grant.
    pub fn redeem(
        &mut self,
        call: &Call,
        policy_version: &str,
        decided: &Verdict,
        decision_fingerprint: &str,
        now: Timestamp,
    ) -> Result<(), GrantError> {
        if let Some(used_at) = self.used_at {
            return Err(GrantError::AlreadyUsed {
                grant: self.id.clone(),
                used_at,
            });
        }
        let changed = |field: &'static str, granted: &str, called: &str| {
            (granted != called).then(|| GrantError::CallChanged {
                grant: self.id.clone(),
                field,
                granted: granted.to_owned(),
                called: called.to_owned(),
            })
        };
        let hash = call.context_hash();
        if let Some(e) = changed("action", &self.action, &call.action)
            .or_else(|| changed("resource", &self.resource, &call.resource))
            .or_else(|| changed("context hash", &self.context_hash, &hash))
        {
            return Err(e);
        }
        if self.decision_fingerprint != decision_fingerprint {
            if self.policy_version != policy_version {
                return Err(GrantError::PolicyChanged {
                    grant: self.id.clone(),
                    granted_under: self.policy_version.clone(),
                    in_force: policy_version.to_owned(),
                });
            }
            if !self.satisfies(decided) {
                return Err(GrantError::StricterDecision {
                    grant: self.id.clone(),
                    granted: self.outcome,
                    decided: decided.outcome,
                });
            }
        }
        self.used_at = Some(now);
        Ok(())
    }

    /// Whether the approval this grant records already meets what `decided` asks.
    fn satisfies(&self, decided: &Verdict) -> bool {
        let Some(granted) = self.outcome else {
            return false;
        };
        if decided.outcome > granted || !decided.chain.is_empty() {
            return false;
        }
        if !matches!(
            decided.outcome,
            Outcome::RequestApproval | Outcome::Escalate
        ) {
            // Looser outcomes ask nobody; `deny` is stricter than any gate and never gets here.
            return true;
        }
        let votes = self
            .approved_by
            .iter()
            .filter(|p| decided.approvers.contains(p))
            .count();
        votes >= decided.min_approvals.unwrap_or(1) as usize
    }
}

/// SHA-256 of the canonical form of a JSON value (object keys sorted at every level, no
/// whitespace), hex-encoded. Key order and formatting never change the hash.
pub fn hash_json(value: &Value) -> String {
    let mut text = String::new();
    canonical(value, &mut text);
    hash_text(&text)
}

/// SHA-256 of a text, hex-encoded.
pub fn hash_text(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Bytes as lowercase hex, two digits each.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl Call {
    /// The call as a policy request.
    pub fn to_request(&self) -> crate::request::Request {
        crate::request::Request {
            action: self.action.clone(),
            resource: self.resource.clone(),
            confidence: self.confidence,
            context: self.context.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,2]},"b":1}"#).expect("json");
        assert_eq!(hash_json(&a), hash_json(&b));
        assert_ne!(
            hash_json(&a),
            hash_json(&json!({"b": 2, "a": {"y": [1, 2], "x": null}}))
        );
        assert_eq!(hash_json(&a).len(), 64);
    }
}
