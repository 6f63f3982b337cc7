//! [`LivePolicy`]: the compiled policy a long-running service decides with, replaced while it
//! runs.

use std::path::Path;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::diagnostic::PolicyError;
use crate::policy::Policy;

use super::CompiledPolicy;

/// Holds the compiled policy in force and swaps in a new one atomically.
///
/// A caller takes the current policy with [`LivePolicy::load`] and decides with it; a swap
/// never disturbs it, so a decision in flight finishes on the policy it started with, and the
/// old policy is freed when its last reader lets go. A replacement is parsed, validated and
/// compiled before the swap: a policy with errors never goes live, and the caller gets its
/// diagnostics.
///
/// ```
/// use rekall_policy::Request;
/// use rekall_policy::compile::LivePolicy;
///
/// let live = LivePolicy::from_yaml_str(
///     "version: 1\nhitl:\n  rules:\n    - action: \"*\"\n      requireApproval: false\n",
///     "v1.yaml",
/// )?;
/// let request = Request::new("delete").resource("db");
/// assert!(live.load().decide(&request)?.approved());
///
/// // A broken policy is refused, with its diagnostics; the one in force stays.
/// let refused = live.replace_from_str("version: 1\nhitl:\n  rules:\n    - action: \"[\"\n", "v2.yaml");
/// assert!(refused.unwrap_err().render().contains("v2.yaml"));
/// assert!(live.load().decide(&request)?.approved());
///
/// live.replace_from_str(
///     "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [user:adam]\n",
///     "v3.yaml",
/// )?;
/// assert_eq!(live.load().decide(&request)?.outcome().as_str(), "request-approval");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LivePolicy {
    current: ArcSwap<CompiledPolicy>,
}

impl LivePolicy {
    /// Puts a compiled policy in force.
    pub fn new(compiled: CompiledPolicy) -> LivePolicy {
        LivePolicy {
            current: ArcSwap::from_pointee(compiled),
        }
    }

    /// Reads, validates and compiles a policy file to put in force.
    pub fn from_path(path: impl AsRef<Path>) -> Result<LivePolicy, PolicyError> {
        Ok(LivePolicy::new(Policy::from_path(path)?.compile()))
    }

    /// Validates and compiles YAML text to put in force; `origin` names it in diagnostics.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<LivePolicy, PolicyError> {
        Ok(LivePolicy::new(
            Policy::from_yaml_str(text, origin)?.compile(),
        ))
    }

    /// The policy in force. The guard is cheap (no reference count is touched on the fast
    /// path); hold it for the length of a decision, not longer, since an old policy is freed
    /// only when its last guard is dropped.
    pub fn load(&self) -> Guard<Arc<CompiledPolicy>> {
        self.current.load()
    }

    /// The policy in force, as an `Arc` to keep as long as wanted.
    pub fn load_full(&self) -> Arc<CompiledPolicy> {
        self.current.load_full()
    }

    /// Puts `compiled` in force; returns the policy it replaces.
    pub fn replace(&self, compiled: CompiledPolicy) -> Arc<CompiledPolicy> {
        self.current.swap(Arc::new(compiled))
    }

    /// Reads, validates and compiles a policy file, and only if all of that succeeds puts it
    /// in force. Returns the replaced policy, or the file's diagnostics with the old policy
    /// still in force.
    pub fn replace_from_path(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<Arc<CompiledPolicy>, PolicyError> {
        let compiled = Policy::from_path(path)?.compile();
        Ok(self.replace(compiled))
    }

    /// [`LivePolicy::replace_from_path`] for YAML text; `origin` names it in diagnostics.
    pub fn replace_from_str(
        &self,
        text: &str,
        origin: &str,
    ) -> Result<Arc<CompiledPolicy>, PolicyError> {
        let compiled = Policy::from_yaml_str(text, origin)?.compile();
        Ok(self.replace(compiled))
    }
}
