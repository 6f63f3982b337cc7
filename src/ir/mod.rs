//! The one typed form of a policy that every front end (YAML, DSL) produces and every later
//! stage (validation, lint, evaluation, compilation) reads.
//!
//! The IR keeps what the author wrote, with spans: optional fields stay `None` when absent, so
//! that a policy can be printed back without gaining fields, and values that validation must
//! judge (a `minApprovals` of 0, a reversed range) are kept as written.

mod words;

use crate::glob::Glob;
use crate::source::{Cosmetic, NodeSpan, Span, Spanned};

pub use words::{Duration, OnTimeout, Outcome, Principal, Priority};

/// A whole policy document (spec section 1).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDoc {
    pub version: Spanned<u64>,
    pub name: Option<Spanned<String>>,
    pub groups: Vec<GroupDef>,
    pub defaults: Option<Defaults>,
    pub hitl: Option<Section<HitlRule>>,
    pub escalation: Option<Section<EscalationRule>>,
    /// The whole document, for errors about it as a whole.
    pub span: NodeSpan,
    /// The author's comments, kept so that `fmt` can print them back.
    pub comments: Comments,
}

/// Comments of a source file, each attached to the line where the node it belongs to starts
/// (a full-line comment to the node below it, an end-of-line comment to the node it ends).
/// They carry no meaning, so they never make two policies unequal.
#[derive(Debug, Clone, Default)]
pub struct Comments {
    pub by_line: std::collections::BTreeMap<u32, Vec<String>>,
    /// Comments after the last node.
    pub trailing: Vec<String>,
}

impl PartialEq for Comments {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Comments {
    /// The comments attached to a node that starts on `line`.
    pub fn at(&self, line: u32) -> &[String] {
        self.by_line.get(&line).map_or(&[], Vec::as_slice)
    }
}

/// `NAME: [members]` under `groups`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDef {
    pub name: Spanned<String>,
    pub members: Vec<Spanned<Approver>>,
}

/// A principal, or a reference to a group of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Approver {
    Principal(Principal),
    Group(String),
}

impl Approver {
    /// Reads `group:NAME` or a `kind:name` principal.
    pub fn parse(text: &str) -> Option<Approver> {
        match text.strip_prefix("group:") {
            Some(name) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                Some(Approver::Group(name.to_owned()))
            }
            Some(_) => None,
            None => Principal::parse(text).map(Approver::Principal),
        }
    }
}

impl std::fmt::Display for Approver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Approver::Principal(p) => p.fmt(f),
            Approver::Group(g) => write!(f, "group:{g}"),
        }
    }
}

/// What a stage decides when none of its rules match.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub no_match: Option<Spanned<Outcome>>,
    pub approvers: Option<Spanned<Vec<Spanned<Approver>>>>,
    pub span: NodeSpan,
}

/// A `hitl` or `escalation` section: rules in priority order.
#[derive(Debug, Clone, PartialEq)]
pub struct Section<R> {
    pub rules: Vec<R>,
    pub span: NodeSpan,
}

/// Who resolves a gate and how: shared by HITL rules, chain steps and escalation rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Gate {
    pub approvers: Option<Spanned<Vec<Spanned<Approver>>>>,
    pub min_approvals: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<Duration>>,
    pub on_timeout: Option<Spanned<OnTimeout>>,
    pub escalate_to: Option<Spanned<Vec<Spanned<Approver>>>>,
    pub remind_every: Option<Spanned<Duration>>,
    pub notify_via: Option<Spanned<Vec<Spanned<String>>>>,
}

/// One rule of the HITL stage.
#[derive(Debug, Clone, PartialEq)]
pub struct HitlRule {
    pub id: Option<Spanned<String>>,
    pub action: Spanned<Glob>,
    pub resource: Option<Spanned<Glob>>,
    pub require_approval: Option<Spanned<bool>>,
    pub chain: Option<Spanned<Vec<ChainStep>>>,
    pub priority: Option<Spanned<Priority>>,
    pub gate: Gate,
    /// The whole rule.
    pub span: NodeSpan,
}

/// One step of a multi-step approval chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainStep {
    pub name: Spanned<String>,
    pub gate: Gate,
    pub span: NodeSpan,
}

/// One rule of the escalation stage.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationRule {
    pub id: Option<Spanned<String>>,
    pub match_action: Option<Spanned<Glob>>,
    pub match_resource: Option<Spanned<Glob>>,
    /// `None` means the whole of [0, 1].
    pub confidence_range: Option<Spanned<ConfidenceRange>>,
    pub outcome: Spanned<Outcome>,
    pub priority: Option<Spanned<Priority>>,
    pub gate: Gate,
    /// `adapt`: the rule's auto-approve threshold may learn from resolutions.
    pub adapt: Option<Adapt>,
    pub span: NodeSpan,
}

/// `adapt`'s settings: the policy's name (YAML's key, and the name errors and the runtime
/// use) and the DSL's, in the order both languages print them.
pub const ADAPT_SETTINGS: [(&str, &str); 10] = [
    ("alpha", "alpha"),
    ("delta", "delta"),
    ("floor", "floor"),
    ("ceiling", "ceiling"),
    ("step", "step"),
    ("minLabels", "min-labels"),
    ("auditRate", "audit-rate"),
    ("window", "window"),
    ("mode", "mode"),
    ("perAgent", "per-agent"),
];

/// What an escalation rule's `adapt` declares: the learning settings (defaults for the keys
/// not written), who receives the audit sample, and where each key was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapt {
    pub settings: crate::learn::Settings,
    pub approvers: Option<Spanned<Vec<Spanned<Approver>>>>,
    /// The settings the author wrote, by their policy name, in the keys' canonical order (both
    /// front ends give them so): printing gives back only these, and an error about one points at
    /// it.
    pub written: Vec<Spanned<&'static str>>,
    pub span: NodeSpan,
}

impl Adapt {
    /// Where a setting was written, or the whole `adapt` when it was left to its default.
    pub fn span_of(&self, key: &str) -> Span {
        self.written
            .iter()
            .find(|k| k.node == key)
            .map_or(*self.span, |k| k.span)
    }

    /// Whether the author wrote this setting.
    pub fn wrote(&self, key: &str) -> bool {
        self.written.iter().any(|k| k.node == key)
    }

    /// A setting's value as both languages write it, by its policy name.
    pub fn setting_text(&self, name: &str) -> Option<String> {
        let s = &self.settings;
        let number = |v: f64| format!("{v:?}");
        Some(match name {
            "alpha" => number(s.alpha),
            "delta" => number(s.delta),
            "floor" => number(s.floor),
            "ceiling" => number(s.ceiling),
            "step" => number(s.step),
            "minLabels" => s.min_labels.to_string(),
            "auditRate" => number(s.audit_rate),
            "window" => s.window.to_string(),
            "mode" => s.mode.name().to_owned(),
            "perAgent" => s.per_agent.to_string(),
            _ => return None,
        })
    }
}

/// `[lo, hi]` as written; see [`ConfidenceRange::holds`] for what it means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceRange {
    pub lo: Spanned<f64>,
    pub hi: Spanned<f64>,
    /// Where the DSL closed a band ending below 1.0 with `]`, which reads as if `hi` were in
    /// the band though it is not (lint warns).
    pub closed_below_one: Cosmetic<Option<Span>>,
}

impl ConfidenceRange {
    /// Spec section 4: `lo <= c < hi`, or `c == hi == 1.0`, so that bands sharing a boundary
    /// never overlap and 1.0 belongs to the band that ends there.
    pub fn holds(&self, c: f64) -> bool {
        let (lo, hi) = (self.lo.node, self.hi.node);
        (lo <= c && c < hi) || (c == hi && hi == 1.0)
    }
}

impl HitlRule {
    pub fn resource_glob(&self) -> Glob {
        self.resource
            .as_ref()
            .map_or_else(Glob::any, |g| g.node.clone())
    }
}

impl EscalationRule {
    pub fn action_glob(&self) -> Glob {
        self.match_action
            .as_ref()
            .map_or_else(Glob::any, |g| g.node.clone())
    }

    pub fn resource_glob(&self) -> Glob {
        self.match_resource
            .as_ref()
            .map_or_else(Glob::any, |g| g.node.clone())
    }

    /// The band `[lo, hi]` the rule covers, `[0, 1]` when it names none.
    pub fn band(&self) -> (f64, f64) {
        self.confidence_range
            .as_ref()
            .map_or((0.0, 1.0), |r| (r.lo.node, r.hi.node))
    }

    pub fn holds(&self, c: f64) -> bool {
        match &self.confidence_range {
            Some(r) => r.holds(c),
            None => true,
        }
    }
}
