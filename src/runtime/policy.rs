//! The policy the runtime decides with, and its version. A policy from the store's versions
//! (see [`super::policy_versions`]) goes by its number there; any other by a hash of its text.
//! Either is the same in every process that loads the same policy and survives restarts: a
//! grant stored yesterday is checked against it today.
//!
//! The runtime keeps its own atomic holder rather than a [`crate::compile::LivePolicy`]
//! because it needs the version swapped together with the compiled policy, in one pointer.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::json;

use super::Runtime;
use super::error::RuntimeError;
use crate::compile::CompiledPolicy;
use crate::decision::Decision;
use crate::diagnostic::PolicyError;
use crate::ir::Principal;
use crate::model::{AuditEntry, AuditKind, PolicyVersion, hash_text};
use crate::policy::{AdaptiveRule, Policy};
use crate::request::{Request, RequestError};

/// Anything that decides requests: the compiled policy (what the runtime uses) or the
/// reference [`Policy`]. Kept small so that the runtime does not depend on how deciding is
/// done.
pub trait Decide: Send + Sync + 'static {
    fn decide_request(&self, request: &Request) -> Result<Decision<'_>, RequestError>;
}

impl Decide for CompiledPolicy {
    fn decide_request(&self, request: &Request) -> Result<Decision<'_>, RequestError> {
        self.decide(request)
    }
}

impl Decide for Policy {
    fn decide_request(&self, request: &Request) -> Result<Decision<'_>, RequestError> {
        self.decide(request)
    }
}

/// A policy in force, with its version.
#[derive(Clone)]
pub struct LoadedPolicy {
    decide: Arc<dyn Decide>,
    version: String,
    name: Option<String>,
    /// The policy as written, when it is known: the effective policy is rebuilt from it when
    /// a class's threshold moves.
    base: Option<Arc<Policy>>,
    /// The thresholds in force of the adaptive classes that differ from the policy's.
    thresholds: BTreeMap<String, f64>,
    /// For each agent with a threshold of its own (a `perAgent` rule's class), the policy
    /// compiled with it: that agent's calls are decided there, any other agent's by `decide`.
    agents: BTreeMap<String, Arc<dyn Decide>>,
    /// The stored version it came from, swapped in with it.
    stored: Option<Arc<PolicyVersion>>,
}

impl fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("version", &self.version)
            .field("name", &self.name)
            .field("thresholds", &self.thresholds)
            .field("stored", &self.stored.as_ref().map(|v| v.info.version))
            .finish()
    }
}

impl LoadedPolicy {
    /// Compiles a validated policy to put in force; its version is the first 16 hex digits
    /// of the SHA-256 of its text.
    pub fn new(policy: &Policy) -> LoadedPolicy {
        let version = hash_text(&policy.source().text)[..16].to_owned();
        let name = policy.name().map(str::to_owned);
        LoadedPolicy {
            decide: Arc::new(policy.compile()),
            version,
            name,
            base: Some(Arc::new(policy.clone())),
            thresholds: BTreeMap::new(),
            agents: BTreeMap::new(),
            stored: None,
        }
    }

    /// Compiles a stored version's policy to put in force; its version is the stored
    /// version's number, which decisions and grants then name.
    pub fn stored(policy: &Policy, version: PolicyVersion) -> LoadedPolicy {
        LoadedPolicy {
            version: version.info.version.to_string(),
            stored: Some(Arc::new(version)),
            ..LoadedPolicy::new(policy)
        }
    }

    /// The stored version this policy came from, if it came from the store.
    pub fn stored_version(&self) -> Option<&Arc<PolicyVersion>> {
        self.stored.as_ref()
    }

    /// The policy as written (without any threshold overlay), unless it came as a bare
    /// decider.
    pub fn policy(&self) -> Option<&Policy> {
        self.base.as_deref()
    }

    /// The same policy under an overlay of thresholds, compiled; its version is the
    /// policy's, as its text is.
    pub(crate) fn with_thresholds(
        &self,
        thresholds: BTreeMap<String, f64>,
    ) -> Result<LoadedPolicy, PolicyError> {
        let Some(base) = &self.base else {
            return Ok(self.clone());
        };
        // The classes shared by every agent, and each agent's own, by the rule they belong to.
        let mut shared = BTreeMap::new();
        let mut own: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
        for (class, &value) in &thresholds {
            match base.class_owner(class) {
                Some((rule, None)) => {
                    shared.insert(rule.class.clone(), value);
                }
                Some((rule, Some(agent))) => {
                    own.entry(agent)
                        .or_default()
                        .insert(rule.class.clone(), value);
                }
                None => {}
            }
        }
        let mut agents: BTreeMap<String, Arc<dyn Decide>> = BTreeMap::new();
        for (agent, classes) in own {
            let mut map = shared.clone();
            map.extend(classes);
            agents.insert(
                agent.to_owned(),
                Arc::new(base.with_thresholds(&map)?.compile()),
            );
        }
        let effective = base.with_thresholds(&shared)?;
        Ok(LoadedPolicy {
            decide: Arc::new(effective.compile()),
            version: self.version.clone(),
            name: self.name.clone(),
            base: Some(Arc::clone(base)),
            thresholds,
            agents,
            stored: self.stored.clone(),
        })
    }

    /// The rules that adapt (none when the policy came as a bare decider).
    pub fn adaptive_rules(&self) -> &[AdaptiveRule] {
        self.base.as_ref().map_or(&[], |p| p.adaptive_rules())
    }

    /// The threshold in force of a rule's class for calls of `agent` (of the rule's own
    /// class, unless the rule is `perAgent`): the overlay's, or the policy's.
    pub fn threshold(&self, rule: &AdaptiveRule, agent: Option<&Principal>) -> f64 {
        self.thresholds
            .get(&rule.class_for(agent))
            .copied()
            .unwrap_or(rule.threshold)
    }

    /// Whether some adaptive rule learns a threshold per agent, so that a decision needs to
    /// know whose call it is.
    pub fn has_per_agent(&self) -> bool {
        self.adaptive_rules().iter().any(|r| r.settings.per_agent)
    }

    pub(crate) fn thresholds(&self) -> &BTreeMap<String, f64> {
        &self.thresholds
    }

    pub(crate) fn same_base(&self, other: &LoadedPolicy) -> bool {
        match (&self.base, &other.base) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Any decider, with a version the caller vouches for.
    pub fn with_version(decide: Arc<dyn Decide>, version: String, name: Option<String>) -> Self {
        LoadedPolicy {
            decide,
            version,
            name,
            base: None,
            thresholds: BTreeMap::new(),
            agents: BTreeMap::new(),
            stored: None,
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Decides with the policy in force; the decision borrows this policy's verdicts.
    pub fn decide(&self, request: &Request) -> Result<Decision<'_>, RequestError> {
        self.decide.decide_request(request)
    }

    /// Decides a call of `agent`: with its own thresholds where a `perAgent` rule gave it
    /// some, else as [`LoadedPolicy::decide`].
    pub fn decide_as(
        &self,
        request: &Request,
        agent: Option<&Principal>,
    ) -> Result<Decision<'_>, RequestError> {
        match agent.and_then(|a| self.agents.get(a.as_str())) {
            Some(decide) => decide.decide_request(request),
            None => self.decide.decide_request(request),
        }
    }
}

impl Runtime {
    /// Puts a policy in force (atomically: a decision in flight finishes on the one it
    /// started with) and records the swap in the audit log.
    pub async fn set_policy(&self, policy: LoadedPolicy) -> Result<(), RuntimeError> {
        let new = Arc::new(policy);
        let old = self.inner.policy.swap(Some(new.clone()));
        let entry = AuditEntry::new(
            AuditKind::PolicySwap,
            self.now(),
            json!({
                "from": old.as_ref().map(|p| p.version.clone()),
                "to": new.version,
                "name": new.name,
            }),
        );
        self.store().append_audit(vec![entry]).await?;
        self.refresh_thresholds().await?;
        Ok(())
    }

    /// The policy in force, if any.
    pub fn policy(&self) -> Option<Arc<LoadedPolicy>> {
        self.inner.policy.load_full()
    }
}
