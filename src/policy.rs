//! [`Policy`]: a parsed, validated policy, ready to decide.
//!
//! A policy holds its IR and every rule's precomputed verdict, and knows nothing of the
//! evaluators: the reference evaluator ([`crate::eval::reference`]) adds
//! [`Policy::decide`] and the compiled one ([`crate::compile`]) adds [`Policy::compile`],
//! each in its own module, so that the imports run one way, from the evaluators to the
//! policy.

use std::path::Path;
use std::sync::Arc;

use crate::check;
use crate::decision::Verdict;
use crate::diagnostic::PolicyError;
use crate::front::{self, Language};
use crate::glob::Glob;
use crate::ir::{PolicyDoc, Principal};
use crate::learn::Settings;
use crate::source::{Source, Span};

/// A validated policy.
///
/// ```
/// use rekall_policy::{Policy, Request};
///
/// let policy = Policy::from_yaml_str(
///     "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [user:adam]\n",
///     "inline.yaml",
/// )?;
/// let decision = policy.decide(&Request::new("delete").resource("db/users"))?;
/// assert_eq!(decision.outcome().as_str(), "request-approval");
/// assert_eq!(decision.approvers()[0].as_str(), "user:adam");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    doc: PolicyDoc,
    source: Source,
    /// Shared with the policies compiled from this one, which hand the same verdicts out.
    verdicts: Arc<Verdicts>,
    /// The escalation rules that adapt, in file order.
    adaptive: Arc<[AdaptiveRule]>,
}

/// An escalation rule whose auto-approve threshold learns from resolutions: its class, what
/// it declares, and the threshold the policy gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveRule {
    /// The class its calls are counted in: the rule's id, or `escalation[i]`.
    pub class: String,
    /// Its index in `escalation.rules`.
    pub rule: usize,
    pub settings: Settings,
    /// Who receives the audit sample, groups expanded.
    pub approvers: Vec<Principal>,
    /// The policy's threshold: the `lo` of the rule's band as written.
    pub threshold: f64,
    /// The threshold in force in this policy: the policy's, or the overlay's after
    /// [`Policy::with_thresholds`].
    pub effective: f64,
    pub action: Glob,
    pub resource: Glob,
}

/// What joins a rule's class to an agent in the class of a `perAgent` rule:
/// `fast-deploys@agent:deployer`. A principal has no `@` before its `:`, so the class
/// reads back unambiguously.
pub const AGENT_SEPARATOR: char = '@';

impl AdaptiveRule {
    /// Whether a call is of this rule's globs, whatever the confidence.
    pub fn matches(&self, action: &str, resource: &str) -> bool {
        self.action.is_match(action) && self.resource.is_match(resource)
    }

    /// The class a call of this rule made by `agent` is counted in: the rule's, or with
    /// `perAgent` the rule's and the agent's (the rule's when the agent is not known).
    pub fn class_for(&self, agent: Option<&Principal>) -> String {
        match agent {
            Some(agent) if self.settings.per_agent => {
                format!("{}{AGENT_SEPARATOR}{}", self.class, agent.as_str())
            }
            _ => self.class.clone(),
        }
    }

    /// Whether `class` is one of this rule's: `Some(None)` for the rule's own class (a rule
    /// without `perAgent`), `Some(Some(agent))` for one agent's class of a `perAgent` rule.
    pub fn owns<'a>(&self, class: &'a str) -> Option<Option<&'a str>> {
        if !self.settings.per_agent {
            return (class == self.class).then_some(None);
        }
        let agent = class
            .strip_prefix(self.class.as_str())?
            .strip_prefix(AGENT_SEPARATOR)?;
        Principal::parse(agent).map(|_| Some(agent))
    }
}

/// The adaptive rule of `rules` a class is of: a rule whose own class it is (ids are unique)
/// before a `perAgent` rule it would read as one agent's class of (rule `a` and agent `b:c`
/// against a rule whose id is `a@b:c`), so that each class has one owner.
pub fn class_owner<'r, 'a>(
    rules: &'r [AdaptiveRule],
    class: &'a str,
) -> Option<(&'r AdaptiveRule, Option<&'a str>)> {
    rules
        .iter()
        .find(|r| r.owns(class) == Some(None))
        .map(|r| (r, None))
        .or_else(|| {
            rules
                .iter()
                .find_map(|r| r.owns(class).flatten().map(|agent| (r, Some(agent))))
        })
}

/// Every rule's verdict, precomputed so that deciding only has to find the rule.
#[derive(Debug, Clone)]
pub struct Verdicts {
    pub hitl: Vec<Verdict>,
    pub escalation: Vec<Verdict>,
    /// What either stage decides when none of its rules match.
    pub no_match: Verdict,
}

impl Policy {
    /// Parses and validates YAML text. `origin` names it in diagnostics (a path, or any label).
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        Policy::from_str_in(Language::Yaml, text, origin)
    }

    /// Parses and validates text in the given language.
    pub fn from_str_in(
        language: Language,
        text: &str,
        origin: &str,
    ) -> Result<Policy, PolicyError> {
        let source = Source::new(origin, text);
        let parsed = front::parse(language, text);
        if parsed.diagnostics.is_empty()
            && let Some(doc) = parsed.doc
        {
            return Policy::from_doc(doc, source);
        }
        // Report validation's findings too, so one run shows every problem, except those that
        // may only echo an error the front end found in the same rule.
        let mut diagnostics = parsed.diagnostics;
        if let Some(doc) = &parsed.doc
            && let Err(more) = check::validate(doc)
        {
            let tainted = Tainted::new(&parsed.tainted);
            diagnostics.extend(
                more.into_iter()
                    .filter(|d| !(d.kind.may_echo() && tainted.contains(d.span))),
            );
        }
        Err(PolicyError::new(source, diagnostics))
    }

    /// Reads, parses and validates a policy file; the language follows the extension
    /// (`.yaml`/`.yml` or `.rkl`; any other is refused, see [`Language::of_path`]).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        let path = path.as_ref();
        let source = PolicyError::read_source(path)?;
        let language = Language::of_path(path).map_err(|kind| {
            PolicyError::single(Source::new(&*source.origin, ""), kind, Span::at(1, 1, 1))
        })?;
        Policy::from_str_in(language, &source.text, &source.origin)
    }

    /// Validates an IR (from any front end) and prepares it for deciding.
    pub fn from_doc(doc: PolicyDoc, source: Source) -> Result<Policy, PolicyError> {
        let groups = check::validate(&doc).map_err(|d| PolicyError::new(source.clone(), d))?;
        // From slices, so that each vector is allocated once at its size.
        let hitl = doc.hitl.as_ref().map_or(&[][..], |s| &s.rules[..]);
        let escalation = doc.escalation.as_ref().map_or(&[][..], |s| &s.rules[..]);
        let verdicts = Verdicts {
            hitl: hitl.iter().map(|r| Verdict::for_hitl(r, &groups)).collect(),
            escalation: escalation
                .iter()
                .map(|r| Verdict::for_escalation(r, &groups))
                .collect(),
            no_match: Verdict::for_no_match(doc.defaults.as_ref(), &groups),
        };
        let adaptive: Vec<AdaptiveRule> = doc
            .escalation
            .iter()
            .flat_map(|s| s.rules.iter().enumerate())
            .filter_map(|(i, r)| {
                let a = r.adapt.as_ref()?;
                Some(AdaptiveRule {
                    class: r
                        .id
                        .as_ref()
                        .map_or_else(|| format!("escalation[{i}]"), |id| id.node.clone()),
                    rule: i,
                    settings: a.settings.clone(),
                    approvers: a
                        .approvers
                        .as_ref()
                        .map_or_else(Vec::new, |l| groups.expand(&l.node)),
                    threshold: r.band().0,
                    effective: r.band().0,
                    action: r.action_glob(),
                    resource: r.resource_glob(),
                })
            })
            .collect();
        Ok(Policy {
            doc,
            source,
            verdicts: Arc::new(verdicts),
            adaptive: adaptive.into(),
        })
    }

    /// The escalation rules that adapt, in file order.
    pub fn adaptive_rules(&self) -> &[AdaptiveRule] {
        &self.adaptive
    }

    /// The adaptive rule a class is of, and the agent when it is one agent's class of a
    /// `perAgent` rule; see [`class_owner`].
    pub fn class_owner<'a>(&self, class: &'a str) -> Option<(&AdaptiveRule, Option<&'a str>)> {
        class_owner(&self.adaptive, class)
    }

    /// The policy in effect under an overlay: each adaptive rule's band starts at its class's
    /// threshold in `thresholds` (clamped to the rule's floor and ceiling) instead of its own
    /// `lo`, and the band of the same match that ended at the old `lo` now ends at the new one,
    /// so the boundary between them moves and nothing falls between. Classes not in
    /// `thresholds` keep the policy's value; the text, and so the version, is unchanged.
    pub fn with_thresholds(
        &self,
        thresholds: &std::collections::BTreeMap<String, f64>,
    ) -> Result<Policy, PolicyError> {
        let mut doc = self.doc.clone();
        if let Some(section) = doc.escalation.as_mut() {
            for a in self.adaptive.iter() {
                let Some(&value) = thresholds.get(&a.class) else {
                    continue;
                };
                let new = value.clamp(a.settings.floor, a.settings.ceiling);
                let old = a.effective;
                if new == old {
                    continue;
                }
                let (action, resource) = (a.action.as_str(), a.resource.as_str());
                for (j, rule) in section.rules.iter_mut().enumerate() {
                    let same_match = rule.action_glob().as_str() == action
                        && rule.resource_glob().as_str() == resource;
                    let Some(range) = rule.confidence_range.as_mut() else {
                        continue;
                    };
                    if j == a.rule {
                        range.node.lo.node = new;
                    } else if same_match && range.node.hi.node == old {
                        range.node.hi.node = new.max(range.node.lo.node);
                    }
                }
            }
        }
        let mut effective = Policy::from_doc(doc, self.source.clone())?;
        // The bands moved, but the policy's thresholds are still those it was written with.
        let adaptive: Vec<AdaptiveRule> = effective
            .adaptive
            .iter()
            .zip(self.adaptive.iter())
            .map(|(now, written)| AdaptiveRule {
                threshold: written.threshold,
                ..now.clone()
            })
            .collect();
        effective.adaptive = adaptive.into();
        Ok(effective)
    }

    pub fn doc(&self) -> &PolicyDoc {
        &self.doc
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn verdicts(&self) -> &Verdicts {
        &self.verdicts
    }

    /// The verdicts, shared: compiling does not copy them.
    pub(crate) fn shared_verdicts(&self) -> Arc<Verdicts> {
        Arc::clone(&self.verdicts)
    }

    /// The policy's `name`, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.doc.name.as_ref().map(|n| n.node.as_str())
    }
}

/// The spans the front end reported errors in, sorted so that whether one contains a position
/// costs a binary search: with thousands of errors, asking each span in turn was quadratic.
struct Tainted {
    /// (start, the furthest end among this span and those before it), by start.
    starts: Vec<((u32, u32), (u32, u32))>,
}

impl Tainted {
    fn new(spans: &[crate::source::Span]) -> Self {
        let mut sorted: Vec<_> = spans
            .iter()
            .map(|s| ((s.line, s.col), (s.end_line, s.end_col)))
            .collect();
        sorted.sort_unstable();
        let mut furthest = (0, 0);
        for entry in &mut sorted {
            furthest = furthest.max(entry.1);
            entry.1 = furthest;
        }
        Tainted { starts: sorted }
    }

    /// Whether `inner` starts within one of the spans (as [`crate::source::Span::contains`]).
    fn contains(&self, inner: crate::source::Span) -> bool {
        let start = (inner.line, inner.col);
        let before = self.starts.partition_point(|(s, _)| *s <= start);
        before > 0 && self.starts[before - 1].1 >= start
    }
}

#[cfg(test)]
mod tainted_tests {
    use super::Tainted;
    use crate::source::Span;
    use proptest::prelude::*;

    fn span() -> impl Strategy<Value = Span> {
        (1u32..6, 1u32..6, 0u32..3, 0u32..6)
            .prop_map(|(l, c, dl, w)| Span::new(l, c, l + dl, if dl == 0 { c + w } else { w + 1 }))
    }

    proptest! {
        #[test]
        fn contains_agrees_with_asking_each_span(
            spans in prop::collection::vec(span(), 0..8),
            probe in span(),
        ) {
            let naive = spans.iter().any(|t| t.contains(probe));
            prop_assert_eq!(Tainted::new(&spans).contains(probe), naive);
        }
    }
}
