//! The policy's versions: `runtime.policies()`. Every policy the runtime puts in force is a
//! version in the store, numbered 1, 2, 3..., with its text, language, hash, who and when;
//! the live compiled policy is swapped atomically with the version it came from, so a
//! decision's `policyVersion` names it.
//!
//! ```
//! use rekall_policy::front::Language;
//! use rekall_policy::ir::Principal;
//! use rekall_policy::runtime::{ChangedBy, PolicyChangeError, Runtime, RuleSection};
//!
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let rt = Runtime::builder().store_url("sqlite::memory:").build().await?;
//! let root = ChangedBy::new(Principal::parse("user:root").unwrap());
//! let yaml = "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [user:adam]\n";
//! let v1 = rt.policies().put(yaml, Language::Yaml, &root).await?;
//! assert_eq!(v1.info.version, 1);
//!
//! // A policy with an error is refused with located diagnostics, and changes nothing.
//! let bad = yaml.replace("user:adam", "adam");
//! let Err(PolicyChangeError::Rejected(e)) = rt.policies().put(&bad, Language::Yaml, &root).await else {
//!     panic!("refused");
//! };
//! assert_eq!((e.diagnostics[0].line, e.diagnostics[0].column), (6, 19));
//! assert_eq!(rt.policies().current().unwrap().info.version, 1);
//!
//! // The product document's rule lists replace one section, in the live version's language.
//! let body = r#"{"rules": [{"action": "deploy", "resource": "production", "requireApproval": true, "approvers": ["user:adam"]}]}"#;
//! let v2 = rt.policies().put_rules(RuleSection::Hitl, body, &root).await?;
//! assert!(v2.text.contains("production"));
//!
//! // A rollback is a new version holding the old text.
//! let v3 = rt.policies().rollback(1, &root).await?;
//! assert_eq!((v3.info.version, v3.text.as_str()), (3, yaml));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A change is prepared (parsed, validated, summarized against the live version: nothing is
//! written) and then committed: stored as the version after the one it was prepared on, or
//! refused as stale when another change was stored in between, so that a check made on the
//! prepared change (an agent may only tighten the policy) holds for what is stored. `put`,
//! `put_rules` and `rollback` do both, preparing again when they find the change stale.
//!
//! Every change is an audit entry with its principal and summary: `policy_version`,
//! `policy_rollback`, or `policy_refused` for a refused one, which is also kept in memory as
//! [`Policies::last_error`] until a later change is accepted.

mod channels;
mod rejected;
mod summary;

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::json;

use super::error::RuntimeError;
use super::{LoadedPolicy, Retry, Runtime};
use crate::front::Language;
mod json_rules;
use crate::ir::Principal;
use crate::model::{
    AuditEntry, AuditKind, NewPolicyVersion, PolicyVersion, PolicyVersionInfo, language_name,
};
use crate::policy::Policy;
use crate::store::StoreError;

pub use json_rules::RuleSection;
pub use rejected::{PolicyDiagnostic, PolicyRejected};

/// The most versions one page of [`Policies::history`] holds.
pub const MAX_HISTORY_PAGE: usize = 100;

/// The most diagnostics of a refused policy kept in its audit entry (all of them are in the
/// answer and in [`Policies::last_error`]).
const AUDITED_DIAGNOSTICS: usize = 20;

/// `runtime.policies()`: the policy's versions.
#[derive(Debug, Clone, Copy)]
pub struct Policies<'a> {
    pub(super) rt: &'a Runtime,
}

/// Who makes a change: the principal (a token's, never a request body's) and, over HTTP, the
/// request's `X-Request-Id`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedBy {
    pub principal: Principal,
    pub request_id: Option<String>,
}

impl ChangedBy {
    pub fn new(principal: Principal) -> ChangedBy {
        ChangedBy {
            principal,
            request_id: None,
        }
    }

    /// The same, for the request with this `X-Request-Id`.
    pub fn request(mut self, id: impl Into<String>) -> ChangedBy {
        self.request_id = Some(id.into());
        self
    }
}

/// The policy to start with when the store holds no version yet: the config's policy file.
#[derive(Debug, Clone)]
pub struct Seed<'a> {
    pub text: &'a str,
    pub language: Language,
    /// Names the text in diagnostics: its path.
    pub origin: &'a str,
    pub by: ChangedBy,
}

/// Why a policy change did not happen. In every case nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyChangeError {
    /// The policy has errors; the diagnostics say where.
    #[error(transparent)]
    Rejected(Box<PolicyRejected>),
    #[error("policy version {0} does not exist")]
    NoSuchVersion(u64),
    /// Another change was stored after this one was prepared: prepare it again.
    #[error(
        "the policy changed while this change was prepared: it followed {}, and version {latest} is now the latest; nothing was changed",
        after.map_or_else(|| "no version".to_owned(), |n| format!("version {n}"))
    )]
    Stale { after: Option<u64>, latest: String },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl From<StoreError> for PolicyChangeError {
    fn from(e: StoreError) -> Self {
        PolicyChangeError::Runtime(e.into())
    }
}

/// A change checked and ready to store, not stored yet. [`Policies::commit`] stores it.
#[derive(Debug, Clone)]
pub struct PreparedChange {
    policy: Policy,
    version: NewPolicyVersion,
    /// The policy in force when the change was prepared.
    base: Option<Arc<LoadedPolicy>>,
    /// The latest stored version when the change was prepared, which it is to follow.
    after: Option<u64>,
}

impl PreparedChange {
    /// The new policy, validated.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy it replaces: the one in force when it was prepared.
    pub fn base(&self) -> Option<&Policy> {
        self.base.as_ref().and_then(|b| b.policy())
    }

    /// The text to store (for a rule list, the policy it makes, printed).
    pub fn text(&self) -> &str {
        &self.version.text
    }

    /// What the change does, in one line.
    pub fn summary(&self) -> &str {
        &self.version.summary
    }

    /// The number it will be stored under, unless another change comes first.
    pub fn number(&self) -> u64 {
        self.after.map_or(1, |n| n + 1)
    }
}

/// One page of the history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub items: Vec<PolicyVersionInfo>,
    /// Where the next page starts (give it back as the cursor), or `None` at the first
    /// version. A string on the wire, as every cursor is.
    #[serde(serialize_with = "cursor_text")]
    pub next_cursor: Option<u64>,
}

fn cursor_text<S: Serializer>(cursor: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match cursor {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_none(),
    }
}

/// The name a text is given in diagnostics.
fn origin(name: &str, language: Language) -> String {
    match language {
        Language::Yaml => format!("{name}.yaml"),
        Language::Dsl => format!("{name}.rkl"),
    }
}

fn stored_number(policy: Option<&LoadedPolicy>) -> Option<u64> {
    policy
        .and_then(LoadedPolicy::stored_version)
        .map(|v| v.info.version)
}

impl Policies<'_> {
    /// The version in force, if the policy in force came from the store.
    pub fn current(&self) -> Option<Arc<PolicyVersion>> {
        self.rt.policy().and_then(|p| p.stored_version().cloned())
    }

    /// The last refused policy, until a later change is accepted.
    pub fn last_error(&self) -> Option<PolicyRejected> {
        self.rt
            .inner
            .last_policy_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
    }

    /// A stored version.
    pub async fn get(&self, version: u64) -> Result<Option<PolicyVersion>, RuntimeError> {
        Ok(self.rt.store().policy_version(Some(version)).await?)
    }

    /// The versions before `cursor` (from the latest for `None`), newest first: at most
    /// `limit`, which is taken between 1 and [`MAX_HISTORY_PAGE`].
    pub async fn history(
        &self,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<HistoryPage, RuntimeError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let mut items = self.rt.store().policy_versions(cursor, limit + 1).await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|v| v.version)
        } else {
            None
        };
        Ok(HistoryPage { items, next_cursor })
    }

    /// Puts a policy text in force as a new version; refused with its diagnostics when it
    /// has errors.
    pub async fn put(
        &self,
        text: &str,
        language: Language,
        by: &ChangedBy,
    ) -> Result<Arc<PolicyVersion>, PolicyChangeError> {
        self.until_stored(|| self.prepare(text, language, by)).await
    }

    /// Replaces the `hitl` or `escalation` rules of the policy in force with a JSON rule
    /// list (`{"rules": [...]}`, the body of `setHITLPolicy` / `setEscalationPolicy`), keeping
    /// the rest, as a new version printed in the live version's language.
    pub async fn put_rules(
        &self,
        section: RuleSection,
        body: &str,
        by: &ChangedBy,
    ) -> Result<Arc<PolicyVersion>, PolicyChangeError> {
        self.until_stored(|| self.prepare_rules(section, body, by))
            .await
    }

    /// Puts an old version's text in force again, as a new version.
    pub async fn rollback(
        &self,
        version: u64,
        by: &ChangedBy,
    ) -> Result<Arc<PolicyVersion>, PolicyChangeError> {
        self.until_stored(|| self.prepare_rollback(version, by))
            .await
    }

    /// Prepares and commits a change, preparing it again on the latest version each time
    /// another change was stored first.
    async fn until_stored<F, P>(
        &self,
        mut prepare: P,
    ) -> Result<Arc<PolicyVersion>, PolicyChangeError>
    where
        P: FnMut() -> F,
        F: std::future::Future<Output = Result<PreparedChange, PolicyChangeError>>,
    {
        let mut retry = Retry::new("policy", "versions");
        loop {
            match self.commit(prepare().await?).await {
                Err(PolicyChangeError::Stale { after, latest }) => {
                    again(&mut retry, after, latest).await?;
                }
                done => return done,
            }
        }
    }

    /// Parses and validates a policy text as the next version, writing nothing (a refusal
    /// is recorded: audited, and kept as [`Policies::last_error`]).
    pub async fn prepare(
        &self,
        text: &str,
        language: Language,
        by: &ChangedBy,
    ) -> Result<PreparedChange, PolicyChangeError> {
        let after = self.sync().await?.latest;
        let base = self.rt.policy();
        let name = origin("policy", language);
        let policy = match channels::read(language, text, &name, self.rt.channels()) {
            Ok(policy) => policy,
            Err(diagnostics) => return Err(self.refuse(diagnostics, language, by).await),
        };
        Ok(self.change(policy, language, text.to_owned(), base, after, by, None))
    }

    /// Builds the policy a JSON rule list makes of the one in force (see
    /// [`Policies::put_rules`]), writing nothing.
    pub async fn prepare_rules(
        &self,
        section: RuleSection,
        body: &str,
        by: &ChangedBy,
    ) -> Result<PreparedChange, PolicyChangeError> {
        let after = self.sync().await?.latest;
        let base = self.rt.policy();
        let written = base.as_ref().and_then(|b| b.policy());
        let language = live_language(base.as_deref());
        let body_file = format!("{}-rules.json", section.as_str());
        let (base_doc, base_lines, base_file) = match written {
            Some(p) => (
                Some(p.doc()),
                u32::try_from(p.source().text.lines().count()).unwrap_or(u32::MAX),
                p.source().origin.to_string(),
            ),
            None => (None, 0, String::new()),
        };
        let doc = match json_rules::replace_section(
            base_doc,
            base_lines,
            section,
            body,
            self.rt.channels(),
        ) {
            Ok(doc) => doc,
            Err(problems) => {
                let diagnostics = PolicyDiagnostic::of_rule_list(&problems, &body_file, &base_file);
                return Err(self.refuse(diagnostics, language, by).await);
            }
        };
        let text = crate::print::print(&doc, language);
        let policy = match Policy::from_str_in(language, &text, &origin("policy", language)) {
            // The printers promise that what they print reads back as the same policy; a
            // policy that does not is not stored, as its text would not say what is in force.
            Ok(policy) if policy.doc() == &doc => policy,
            Ok(_) => {
                return Err(RuntimeError::invalid(
                    "rules",
                    "the policy these rules make does not read back the same once printed; nothing was changed",
                )
                .into());
            }
            Err(e) => {
                let diagnostics = PolicyDiagnostic::of_policy(&e);
                return Err(self.refuse(diagnostics, language, by).await);
            }
        };
        Ok(self.change(policy, language, text, base, after, by, None))
    }

    /// Reads an old version back as the next version, writing nothing.
    pub async fn prepare_rollback(
        &self,
        version: u64,
        by: &ChangedBy,
    ) -> Result<PreparedChange, PolicyChangeError> {
        let after = self.sync().await?.latest;
        let base = self.rt.policy();
        let old = self
            .rt
            .store()
            .policy_version(Some(version))
            .await?
            .ok_or(PolicyChangeError::NoSuchVersion(version))?;
        let language = old.info.language;
        let name = origin(&format!("v{version}"), language);
        let policy = match channels::read(language, &old.text, &name, self.rt.channels()) {
            Ok(policy) => policy,
            // Stored once, but this program reads policies more strictly than the one that
            // stored it (or its channels are no longer configured): refused like any other.
            Err(diagnostics) => return Err(self.refuse(diagnostics, language, by).await),
        };
        Ok(self.change(policy, language, old.text, base, after, by, Some(version)))
    }

    #[allow(clippy::too_many_arguments)]
    fn change(
        &self,
        policy: Policy,
        language: Language,
        text: String,
        base: Option<Arc<LoadedPolicy>>,
        after: Option<u64>,
        by: &ChangedBy,
        rollback_of: Option<u64>,
    ) -> PreparedChange {
        let before = base.as_ref().and_then(|b| b.policy()).map(Policy::doc);
        let mut summary = summary::summary(before, policy.doc());
        if let Some(v) = rollback_of {
            summary = format!("rollback to version {v}: {summary}");
        }
        let version = NewPolicyVersion {
            language,
            text,
            name: policy.name().map(str::to_owned),
            principal: by.principal.clone(),
            request_id: by.request_id.clone(),
            created_at: self.rt.now(),
            summary,
            rollback_of,
        };
        PreparedChange {
            policy,
            version,
            base,
            after,
        }
    }

    /// Stores a prepared change as the next version and puts it in force, with its audit
    /// entry in the same transaction; [`PolicyChangeError::Stale`] when another change was
    /// stored since it was prepared.
    pub async fn commit(
        &self,
        change: PreparedChange,
    ) -> Result<Arc<PolicyVersion>, PolicyChangeError> {
        let PreparedChange {
            policy,
            version,
            base: _,
            after,
        } = change;
        let number = after.map_or(1, |n| n + 1);
        let kind = if version.rollback_of.is_some() {
            AuditKind::PolicyRollback
        } else {
            AuditKind::PolicyVersion
        };
        let entry = AuditEntry::new(
            kind,
            version.created_at,
            json!({
                "version": number,
                "from": after,
                "rollbackOf": version.rollback_of,
                "summary": version.summary,
                "language": language_name(version.language),
                "sha256": crate::model::hash_text(&version.text),
                "name": version.name,
                "requestId": version.request_id,
            }),
        )
        .by(&version.principal);
        let stored = match self
            .rt
            .store()
            .append_policy_version(version, after, vec![entry])
            .await
        {
            Ok(stored) => stored,
            Err(StoreError::Conflict { id, .. }) => {
                return Err(PolicyChangeError::Stale { after, latest: id });
            }
            Err(e) => return Err(e.into()),
        };
        let loaded = LoadedPolicy::stored(&policy, stored);
        let stored = loaded
            .stored_version()
            .cloned()
            .unwrap_or_else(|| unreachable!("a stored policy has its version"));
        self.install(loaded).await?;
        if let Ok(mut last) = self.rt.inner.last_policy_error.lock() {
            *last = None;
        }
        Ok(stored)
    }

    /// At start-up: puts the latest stored version in force, or, when the store holds none,
    /// stores `seed` as version 1 and puts it in force. `None` when there is neither. A
    /// stored version this program refuses is an error: the runtime then has no policy and
    /// decides nothing, rather than deciding by an older one.
    pub async fn load(
        &self,
        seed: Option<Seed<'_>>,
    ) -> Result<Option<Arc<PolicyVersion>>, PolicyChangeError> {
        let mut retry = Retry::new("policy", "versions");
        loop {
            let synced = self.sync().await?;
            if let Some(rejected) = synced.unreadable {
                return Err(PolicyChangeError::Rejected(Box::new(rejected)));
            }
            if synced.latest.is_some() {
                return Ok(self.current());
            }
            let Some(seed) = &seed else {
                return Ok(None);
            };
            let policy =
                match channels::read(seed.language, seed.text, seed.origin, self.rt.channels()) {
                    Ok(policy) => policy,
                    Err(diagnostics) => {
                        return Err(self.refuse(diagnostics, seed.language, &seed.by).await);
                    }
                };
            let change = self.change(
                policy,
                seed.language,
                seed.text.to_owned(),
                None,
                None,
                &seed.by,
                None,
            );
            match self.commit(change).await {
                // Another process stored a first version meanwhile: that one is loaded.
                Err(PolicyChangeError::Stale { after, latest }) => {
                    again(&mut retry, after, latest).await?;
                }
                done => return done.map(Some),
            }
        }
    }

    /// Puts the latest stored version in force if it is newer than the one in force (another
    /// process stored it); whether it did. For the server's background loop, and done by
    /// every change before it is prepared.
    pub async fn refresh(&self) -> Result<bool, PolicyChangeError> {
        let live = stored_number(self.rt.policy().as_deref());
        let synced = self.sync().await?;
        if let Some(rejected) = synced.unreadable {
            return Err(PolicyChangeError::Rejected(Box::new(rejected)));
        }
        Ok(synced.latest.is_some() && synced.latest != live)
    }

    /// Brings the policy in force up to the latest stored version. A latest version this
    /// program refuses is left out of force and kept as the last error; a change may still
    /// follow it (and so replace it).
    async fn sync(&self) -> Result<Synced, PolicyChangeError> {
        let latest = self
            .rt
            .store()
            .policy_versions(None, 1)
            .await?
            .first()
            .map(|v| v.version);
        let synced = Synced {
            latest,
            unreadable: None,
        };
        let Some(number) = latest else {
            return Ok(synced);
        };
        if stored_number(self.rt.policy().as_deref()).is_some_and(|live| live >= number) {
            return Ok(synced);
        }
        let Some(stored) = self.rt.store().policy_version(Some(number)).await? else {
            return Ok(synced);
        };
        let language = stored.info.language;
        let name = origin(&format!("v{number}"), language);
        let policy = match channels::read(language, &stored.text, &name, self.rt.channels()) {
            Ok(policy) => policy,
            Err(diagnostics) => {
                let rejected = PolicyRejected::new(
                    diagnostics,
                    language,
                    &stored.info.principal,
                    self.rt.now(),
                );
                if let Ok(mut last) = self.rt.inner.last_policy_error.lock() {
                    *last = Some(rejected.clone());
                }
                return Ok(Synced {
                    latest,
                    unreadable: Some(rejected),
                });
            }
        };
        let from = self.rt.policy().map(|p| p.version().to_owned());
        if self.install(LoadedPolicy::stored(&policy, stored)).await? {
            let entry = AuditEntry::new(
                AuditKind::PolicySwap,
                self.rt.now(),
                json!({"from": from, "to": number.to_string(), "name": policy.name()}),
            );
            self.rt.store().append_audit(vec![entry]).await?;
        }
        Ok(synced)
    }

    /// Records that a prepared change was refused for a reason of the caller's (an agent's
    /// change that is not at least as strict as the policy in force): an audit entry with
    /// the principal, the change's summary and the reason. Nothing else changes.
    pub async fn refused(&self, change: &PreparedChange, reason: &str) -> Result<(), RuntimeError> {
        let v = &change.version;
        let entry = AuditEntry::new(
            AuditKind::PolicyRefused,
            self.rt.now(),
            json!({
                "summary": format!("refused: {reason}"),
                "change": v.summary,
                "language": language_name(v.language),
                "sha256": crate::model::hash_text(&v.text),
                "requestId": v.request_id,
            }),
        )
        .by(&v.principal);
        Ok(self.rt.store().append_audit(vec![entry]).await?)
    }

    /// Swaps a stored version in unless a later one is already in force, so that two changes
    /// finishing in either order leave the latest live; whether it was swapped in.
    async fn install(&self, loaded: LoadedPolicy) -> Result<bool, RuntimeError> {
        let new = Arc::new(loaded);
        let number = stored_number(Some(&new));
        let mut swapped = false;
        self.rt.inner.policy.rcu(|current| {
            swapped = stored_number(current.as_deref()) < number;
            if swapped {
                Some(Arc::clone(&new))
            } else {
                current.clone()
            }
        });
        if swapped {
            self.rt.refresh_thresholds().await?;
        }
        Ok(swapped)
    }

    /// Records a refusal (audited, and kept as the last error) and gives the error to return.
    async fn refuse(
        &self,
        diagnostics: Vec<PolicyDiagnostic>,
        language: Language,
        by: &ChangedBy,
    ) -> PolicyChangeError {
        let rejected = PolicyRejected::new(diagnostics, language, &by.principal, self.rt.now());
        let entry = AuditEntry::new(
            AuditKind::PolicyRefused,
            rejected.at,
            json!({
                "summary": rejected.message,
                "errors": rejected.diagnostics.len(),
                "diagnostics": rejected.diagnostics.iter().take(AUDITED_DIAGNOSTICS).collect::<Vec<_>>(),
                "language": language_name(language),
                "requestId": by.request_id,
            }),
        )
        .by(&by.principal);
        if let Ok(mut last) = self.rt.inner.last_policy_error.lock() {
            *last = Some(rejected.clone());
        }
        // The refusal is answered either way; an audit log that cannot be written is the
        // store's error, which says more than the policy's.
        match self.rt.store().append_audit(vec![entry]).await {
            Ok(()) => PolicyChangeError::Rejected(Box::new(rejected)),
            Err(e) => e.into(),
        }
    }
}

/// What [`Policies::sync`] found: the latest stored version's number, and the refusal of it
/// when this program could not put it in force.
struct Synced {
    latest: Option<u64>,
    unreadable: Option<PolicyRejected>,
}

/// The language a rule list's policy is printed in: the live version's.
fn live_language(live: Option<&LoadedPolicy>) -> Language {
    if let Some(v) = live.and_then(LoadedPolicy::stored_version) {
        return v.info.language;
    }
    live.and_then(LoadedPolicy::policy)
        .and_then(|p| Language::of_path(std::path::Path::new(&*p.source().origin)).ok())
        .unwrap_or(Language::Yaml)
}

/// Waits before preparing a stale change again, or gives up after many tries.
async fn again(
    retry: &mut Retry,
    after: Option<u64>,
    latest: String,
) -> Result<(), PolicyChangeError> {
    let conflict = StoreError::Conflict {
        record: "policy version",
        id: latest,
        expected: after,
    };
    retry.again(conflict).await.map_err(PolicyChangeError::from)
}
