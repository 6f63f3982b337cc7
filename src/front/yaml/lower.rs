//! From the YAML tree to the IR: shapes, types, and the local syntax of globs, durations,
//! principals and outcomes. Every problem is recorded and the walk goes on, so one run reports
//! them all. Cross-field rules (groups, ids, quorum) are checked later, in [`crate::check`].

use std::str::FromStr;

use super::tree::{Node, NodeKind, PlainType, plain_type};
use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::glob::Glob;
use crate::ir::{
    Approver, ChainStep, Comments, ConfidenceRange, Defaults, Duration, EscalationRule, Gate,
    GroupDef, HitlRule, OnTimeout, Outcome, PolicyDoc, Principal, Priority, Section,
};
use crate::source::{Cosmetic, Span, Spanned};
use crate::suggest;

mod adapt;

const TOP_KEYS: &[&str] = &[
    "version",
    "name",
    "groups",
    "defaults",
    "hitl",
    "escalation",
];
const DEFAULTS_KEYS: &[&str] = &["noMatch", "approvers"];
const SECTION_KEYS: &[&str] = &["rules"];
const HITL_RULE_KEYS: &[&str] = &[
    "id",
    "action",
    "resource",
    "requireApproval",
    "chain",
    "priority",
    "approvers",
    "minApprovals",
    "timeout",
    "onTimeout",
    "escalateTo",
    "remindEvery",
    "notifyVia",
];
const STEP_KEYS: &[&str] = &[
    "step",
    "approvers",
    "minApprovals",
    "timeout",
    "onTimeout",
    "escalateTo",
    "remindEvery",
    "notifyVia",
];
const ESCALATION_RULE_KEYS: &[&str] = &[
    "id",
    "match",
    "confidenceRange",
    "action",
    "priority",
    "approvers",
    "minApprovals",
    "timeout",
    "onTimeout",
    "escalateTo",
    "remindEvery",
    "notifyVia",
    "adapt",
];
const MATCH_KEYS: &[&str] = &["action", "resource"];

/// The keys of a gate, in the order the lists above hold them.
const GATE_KEYS: [&str; 7] = [
    "approvers",
    "minApprovals",
    "timeout",
    "onTimeout",
    "escalateTo",
    "remindEvery",
    "notifyVia",
];
/// Where [`GATE_KEYS`] start in the lists of keys with a gate.
const HITL_GATE: usize = 6;
const STEP_GATE: usize = 1;
const ESCALATION_GATE: usize = 5;

/// Whether `list` holds [`GATE_KEYS`] from `at` on.
const fn gate_keys_at(list: &[&str], at: usize) -> bool {
    let mut k = 0;
    while k < GATE_KEYS.len() {
        if at + k >= list.len() {
            return false;
        }
        let (a, b) = (list[at + k].as_bytes(), GATE_KEYS[k].as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        k += 1;
    }
    true
}

const _: () = assert!(
    gate_keys_at(HITL_RULE_KEYS, HITL_GATE)
        && gate_keys_at(STEP_KEYS, STEP_GATE)
        && gate_keys_at(ESCALATION_RULE_KEYS, ESCALATION_GATE)
);

/// The most keys a mapping of the policy may have (the longest list above).
const MAX_FIELDS: usize = 16;

const _: () = assert!(
    TOP_KEYS.len() <= MAX_FIELDS
        && DEFAULTS_KEYS.len() <= MAX_FIELDS
        && SECTION_KEYS.len() <= MAX_FIELDS
        && HITL_RULE_KEYS.len() <= MAX_FIELDS
        && STEP_KEYS.len() <= MAX_FIELDS
        && ESCALATION_RULE_KEYS.len() <= MAX_FIELDS
        && MATCH_KEYS.len() <= MAX_FIELDS
);

/// The values of a mapping's known keys, each in the slot of its key in the allowed list: a
/// mapping is read once per rule, so it costs no allocation and no hashing.
struct Fields<'n> {
    allowed: &'static [&'static str],
    values: [Option<&'n Node<'n>>; MAX_FIELDS],
    span: Span,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node<'n>> {
        let slot = self.allowed.iter().position(|k| *k == key)?;
        self.values.get(slot).copied().flatten()
    }
}

pub struct Lowering {
    pub diagnostics: Vec<Diagnostic>,
    /// Rules that had errors here. They are lowered with stand-ins so the rest of the policy
    /// can still be validated, and validation's findings inside them are not reported (they
    /// would only echo the first error).
    pub tainted: Vec<Span>,
}

impl Lowering {
    pub fn new() -> Self {
        Lowering {
            diagnostics: Vec::new(),
            tainted: Vec::new(),
        }
    }

    /// Runs `lower` and marks `span` tainted if it reported anything.
    fn watch<T>(&mut self, span: Span, lower: impl FnOnce(&mut Self) -> T) -> T {
        let before = self.diagnostics.len();
        let out = lower(self);
        if self.diagnostics.len() > before {
            self.tainted.push(span);
        }
        out
    }

    /// Lowers each item, keeping those that lower, in a vector sized for all of them: a
    /// section's rules are large, and growing their vector would copy each several times.
    fn each<T>(
        &mut self,
        items: &[Node<'_>],
        mut lower: impl FnMut(&mut Self, &Node<'_>) -> Option<T>,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(lowered) = lower(self, item) {
                out.push(lowered);
            }
        }
        out
    }

    fn error(&mut self, kind: ErrorKind, span: Span) {
        self.diagnostics.push(Diagnostic::new(kind, span));
    }

    /// Lowers the whole document. `None` when it is not a mapping at all; otherwise a document
    /// (with stand-ins where parts were wrong) that validation can still look at.
    pub fn document(&mut self, root: &Node) -> Option<PolicyDoc> {
        let fields = self.fields(root, "the policy", TOP_KEYS)?;
        let version = match fields.get("version") {
            Some(node) => self.version(node),
            None => {
                self.error(
                    ErrorKind::MissingVersion,
                    Span::at(root.span.line, root.span.col, 1),
                );
                None
            }
        };
        let name = fields.get("name").and_then(|n| self.string(n, "name"));
        let groups = fields
            .get("groups")
            .map(|n| self.groups(n))
            .unwrap_or_default();
        let defaults = fields.get("defaults").and_then(|n| self.defaults(n));
        // A section that is present but malformed stays present (with no rules), so that
        // validation does not also say the policy has no sections.
        let hitl = fields.get("hitl").map(|n| {
            self.section(n, "the `hitl` section", Self::hitl_rule)
                .unwrap_or_else(|| Section {
                    rules: Vec::new(),
                    span: n.span.into(),
                })
        });
        let escalation = fields.get("escalation").map(|n| {
            self.section(n, "the `escalation` section", Self::escalation_rule)
                .unwrap_or_else(|| Section {
                    rules: Vec::new(),
                    span: n.span.into(),
                })
        });
        Some(PolicyDoc {
            version: version.unwrap_or(Spanned::new(1, root.span)),
            name,
            groups,
            defaults,
            hitl,
            escalation,
            span: root.span.into(),
            comments: Comments::default(),
        })
    }

    /// Lowers a `hitl` section (`{rules: [...]}`) read by another reader: the JSON rule lists.
    pub fn hitl_section(&mut self, node: &Node) -> Option<Section<HitlRule>> {
        self.section(node, "the `hitl` section", Self::hitl_rule)
    }

    /// Lowers an `escalation` section read by another reader: the JSON rule lists.
    pub fn escalation_section(&mut self, node: &Node) -> Option<Section<EscalationRule>> {
        self.section(node, "the `escalation` section", Self::escalation_rule)
    }

    fn version(&mut self, node: &Node) -> Option<Spanned<u64>> {
        let text = match &node.kind {
            NodeKind::Scalar { value, .. } => value.to_string(),
            _ => node.describe(),
        };
        match text.parse::<u64>() {
            Ok(1) => Some(Spanned::new(1, node.span)),
            _ => {
                self.error(ErrorKind::UnsupportedVersion { found: text }, node.span);
                None
            }
        }
    }

    fn fields<'n>(
        &mut self,
        node: &'n Node<'n>,
        place: &'static str,
        allowed: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.error(
                ErrorKind::NotAMapping {
                    place,
                    found: node.describe(),
                },
                node.span,
            );
            return None;
        };
        let mut values = [None; MAX_FIELDS];
        // Where each kept key was first written, for the duplicate's error.
        let mut first_at: [Option<Span>; MAX_FIELDS] = [None; MAX_FIELDS];
        for (key, value) in entries {
            let NodeKind::Scalar { value: name, .. } = &key.kind else {
                self.error(
                    ErrorKind::WrongType {
                        key: "a key".into(),
                        expected: "a plain word",
                        found: key.describe(),
                    },
                    key.span,
                );
                continue;
            };
            let Some(slot) = allowed.iter().position(|k| *k == name) else {
                self.error(
                    ErrorKind::UnknownKey {
                        key: name.to_string(),
                        place,
                        suggestion: suggest::closest(name, allowed.iter().copied()),
                        allowed,
                    },
                    key.span,
                );
                continue;
            };
            let (Some(kept), Some(first)) = (values.get_mut(slot), first_at.get_mut(slot)) else {
                continue;
            };
            // The last one stands, as a map's insert would keep it.
            *kept = Some(value);
            match first {
                Some(first) => self.error(
                    ErrorKind::DuplicateKey {
                        key: name.to_string(),
                        place,
                        first: *first,
                    },
                    key.span,
                ),
                None => *first = Some(key.span),
            }
        }
        Some(Fields {
            allowed,
            values,
            span: node.span,
        })
    }

    fn require<'n>(
        &mut self,
        fields: &Fields<'n>,
        key: &'static str,
        place: &'static str,
    ) -> Option<&'n Node<'n>> {
        let node = fields.get(key);
        if node.is_none() {
            self.error(
                ErrorKind::MissingKey { key, place },
                Span::at(fields.span.line, fields.span.col, 1),
            );
        }
        node
    }

    fn wrong_type(&mut self, node: &Node, key: &str, expected: &'static str) {
        self.error(
            ErrorKind::WrongType {
                key: key.to_owned(),
                expected,
                found: node.describe(),
            },
            node.span,
        );
    }

    /// A string. Plain scalars that YAML would read as numbers are taken as their text (an id
    /// `1` is the string "1"), but nulls and booleans are refused: `action: yes` is a mistake.
    fn string(&mut self, node: &Node, key: &str) -> Option<Spanned<String>> {
        let text = self.text(node, key)?;
        Some(Spanned::new(text.to_owned(), node.span))
    }

    /// [`Lowering::string`]'s text, borrowed from the tree, for what is parsed further and
    /// need not be copied first.
    fn text<'n>(&mut self, node: &'n Node<'_>, key: &str) -> Option<&'n str> {
        match &node.kind {
            NodeKind::Scalar { value, plain }
                if !*plain || !matches!(plain_type(value), PlainType::Null | PlainType::Bool) =>
            {
                Some(value)
            }
            _ => {
                self.wrong_type(node, key, "a string");
                None
            }
        }
    }

    fn nonempty_string(&mut self, node: &Node, key: &'static str) -> Option<Spanned<String>> {
        let s = self.string(node, key)?;
        if s.node.trim().is_empty() {
            self.error(ErrorKind::Empty { key }, node.span);
            return None;
        }
        Some(s)
    }

    fn plain_scalar<'n>(
        &mut self,
        node: &'n Node<'n>,
        key: &str,
        expected: &'static str,
        want: &[PlainType],
    ) -> Option<&'n str> {
        match &node.kind {
            NodeKind::Scalar { value, plain: true } if want.contains(&plain_type(value)) => {
                Some(value)
            }
            _ => {
                self.wrong_type(node, key, expected);
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, key: &str) -> Option<Spanned<bool>> {
        let v = self.plain_scalar(node, key, "true or false", &[PlainType::Bool])?;
        Some(Spanned::new(v.eq_ignore_ascii_case("true"), node.span))
    }

    fn int(&mut self, node: &Node, key: &str) -> Option<Spanned<i64>> {
        let v = self.plain_scalar(node, key, "a whole number", &[PlainType::Int])?;
        v.parse().ok().map(|n| Spanned::new(n, node.span))
    }

    fn number(&mut self, node: &Node, key: &str) -> Option<Spanned<f64>> {
        let v = self.plain_scalar(node, key, "a number", &[PlainType::Int, PlainType::Float])?;
        match v.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(Spanned::new(n, node.span)),
            _ => {
                self.wrong_type(node, key, "a finite number");
                None
            }
        }
    }

    fn glob(&mut self, node: &Node, key: &str) -> Option<Spanned<Glob>> {
        let text = self.text(node, key)?;
        match Glob::new(text) {
            Ok(glob) => Some(Spanned::new(glob, node.span)),
            Err(e) => {
                // Point at the offending character when the glob is written verbatim on one
                // line. An escape (`\\`, `\u00e9`, `''`) or a folded or block scalar makes the
                // source longer than the value, and then the offset means nothing in the
                // source: point at the whole value instead.
                let quoted = matches!(node.kind, NodeKind::Scalar { plain: false, .. });
                let written = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
                let verbatim = node.span.end_line == node.span.line
                    && node.span.end_col.checked_sub(node.span.col)
                        == written.checked_add(2 * u32::from(quoted));
                let span = if verbatim {
                    let offset = u32::try_from(e.offset).unwrap_or(0);
                    Span::at(
                        node.span.line,
                        node.span.col + u32::from(quoted) + offset,
                        1,
                    )
                } else {
                    node.span
                };
                self.error(
                    ErrorKind::MalformedGlob {
                        glob: text.to_owned(),
                        reason: e.reason,
                    },
                    span,
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, key: &str) -> Option<Spanned<Duration>> {
        let NodeKind::Scalar { value, .. } = &node.kind else {
            self.wrong_type(node, key, "a duration such as 30s or 3600000");
            return None;
        };
        match Duration::parse(value) {
            Ok(d) => Some(Spanned::new(d, node.span)),
            Err(reason) => {
                // `1.5h` fails on its unit `.5h`; say what is really wrong.
                let fraction = value.trim().split_once('.').is_some_and(|(whole, rest)| {
                    !whole.is_empty()
                        && whole.chars().all(|c| c.is_ascii_digit())
                        && rest.starts_with(|c: char| c.is_ascii_digit())
                });
                let reason = if fraction {
                    "the number must be whole; use a smaller unit (90m, not 1.5h)"
                } else {
                    reason
                };
                self.error(
                    ErrorKind::MalformedDuration {
                        text: value.to_string(),
                        reason,
                    },
                    node.span,
                );
                None
            }
        }
    }

    fn word<T: FromStr>(
        &mut self,
        node: &Node,
        key: &str,
        what: &'static str,
        allowed: &'static [&'static str],
    ) -> Option<Spanned<T>> {
        let text = self.text(node, key)?;
        match text.parse::<T>() {
            Ok(v) => Some(Spanned::new(v, node.span)),
            Err(_) => {
                let suggestion = suggest::closest(text, allowed.iter().copied());
                self.error(
                    ErrorKind::UnknownWord {
                        what,
                        found: text.to_owned(),
                        allowed,
                        suggestion,
                    },
                    node.span,
                );
                None
            }
        }
    }

    fn outcome(&mut self, node: &Node, key: &str) -> Option<Spanned<Outcome>> {
        let text = self.text(node, key)?;
        match text.parse::<Outcome>() {
            Ok(v) => Some(Spanned::new(v, node.span)),
            Err(()) => {
                let suggestion = crate::suggest::outcome(text);
                self.error(
                    ErrorKind::UnknownOutcome {
                        found: text.to_owned(),
                        suggestion,
                    },
                    node.span,
                );
                None
            }
        }
    }

    fn list<'n>(
        &mut self,
        node: &'n Node<'n>,
        key: &str,
        expected: &'static str,
    ) -> Option<&'n [Node<'n>]> {
        match &node.kind {
            NodeKind::Seq(items) => Some(items),
            _ => {
                self.wrong_type(node, key, expected);
                None
            }
        }
    }

    fn approver(&mut self, node: &Node, key: &str) -> Option<Spanned<Approver>> {
        let text = self.text(node, key)?;
        let approver = match text.strip_prefix("group:") {
            Some(name) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                Some(Approver::Group(name.to_owned()))
            }
            Some(_) => None,
            None => Principal::parse(text).map(Approver::Principal),
        };
        if approver.is_none() {
            self.error(
                ErrorKind::BadPrincipal {
                    text: text.to_owned(),
                },
                node.span,
            );
        }
        approver.map(|a| Spanned::new(a, node.span))
    }

    fn approvers(&mut self, node: &Node, key: &str) -> Option<Spanned<Vec<Spanned<Approver>>>> {
        let items = self.list(node, key, "a list of principals such as [user:adam]")?;
        let list = self.each(items, |this, item| this.approver(item, key));
        Some(Spanned::new(list, node.span))
    }

    fn channels(&mut self, node: &Node, key: &str) -> Option<Spanned<Vec<Spanned<String>>>> {
        let items = self.list(node, key, "a list of channels such as [email, slack]")?;
        let list = self.each(items, |this, item| this.nonempty_string(item, "notifyVia"));
        Some(Spanned::new(list, node.span))
    }

    fn groups(&mut self, node: &Node) -> Vec<GroupDef> {
        let NodeKind::Map(entries) = &node.kind else {
            self.wrong_type(node, "groups", "a mapping of group names to member lists");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.nonempty_string(key, "a group name") else {
                continue;
            };
            let Some(items) = self.list(value, &name.node, "a list of members") else {
                continue;
            };
            let members = self.each(items, |this, m| this.approver(m, &name.node));
            out.push(GroupDef { name, members });
        }
        out
    }

    fn defaults(&mut self, node: &Node) -> Option<Defaults> {
        let f = self.fields(node, "`defaults`", DEFAULTS_KEYS)?;
        Some(Defaults {
            no_match: f.get("noMatch").and_then(|n| self.outcome(n, "noMatch")),
            approvers: f
                .get("approvers")
                .and_then(|n| self.approvers(n, "approvers")),
            span: node.span.into(),
        })
    }

    fn section<R>(
        &mut self,
        node: &Node,
        place: &'static str,
        rule: fn(&mut Self, &Node) -> Option<R>,
    ) -> Option<Section<R>> {
        let f = self.fields(node, place, SECTION_KEYS)?;
        let rules_node = self.require(&f, "rules", place)?;
        let items = self.list(rules_node, "rules", "a list of rules")?;
        let rules = self.each(items, |this, item| {
            this.watch(item.span, |this| rule(this, item))
        });
        Some(Section {
            rules,
            span: node.span.into(),
        })
    }

    /// The gate's keys, which every list of keys with a gate holds in [`GATE_KEYS`]' order
    /// from the slot `at`: found by slot, not by name, as rules are many.
    fn gate(&mut self, f: &Fields<'_>, at: usize) -> Gate {
        let key = |i: usize| f.values.get(at + i).copied().flatten();
        Gate {
            approvers: key(0).and_then(|n| self.approvers(n, "approvers")),
            min_approvals: key(1).and_then(|n| self.int(n, "minApprovals")),
            timeout: key(2).and_then(|n| self.duration(n, "timeout")),
            on_timeout: key(3).and_then(|n| {
                self.word::<OnTimeout>(n, "onTimeout", "onTimeout", &OnTimeout::NAMES)
            }),
            escalate_to: key(4).and_then(|n| self.approvers(n, "escalateTo")),
            remind_every: key(5).and_then(|n| self.duration(n, "remindEvery")),
            notify_via: key(6).and_then(|n| self.channels(n, "notifyVia")),
        }
    }

    fn priority(&mut self, f: &Fields<'_>) -> Option<Spanned<Priority>> {
        f.get("priority")
            .and_then(|n| self.word::<Priority>(n, "priority", "priority", &Priority::NAMES))
    }

    fn hitl_rule(&mut self, node: &Node) -> Option<HitlRule> {
        let f = self.fields(node, "a hitl rule", HITL_RULE_KEYS)?;
        let id = f.get("id").and_then(|n| self.nonempty_string(n, "id"));
        let action = self
            .require(&f, "action", "a hitl rule")
            .and_then(|n| self.glob(n, "action"));
        let resource = f.get("resource").and_then(|n| self.glob(n, "resource"));
        let require_approval = f
            .get("requireApproval")
            .and_then(|n| self.bool(n, "requireApproval"));
        let chain = f.get("chain").and_then(|n| self.chain(n));
        let priority = self.priority(&f);
        let gate = self.gate(&f, HITL_GATE);
        Some(HitlRule {
            id,
            action: action.unwrap_or_else(|| Spanned::new(Glob::any(), node.span)),
            resource,
            require_approval,
            chain,
            priority,
            gate,
            span: node.span.into(),
        })
    }

    fn chain(&mut self, node: &Node) -> Option<Spanned<Vec<ChainStep>>> {
        let items = self.list(node, "chain", "a list of steps")?;
        let steps = self.each(items, |this, item| {
            this.watch(item.span, |this| this.step(item))
        });
        Some(Spanned::new(steps, node.span))
    }

    fn step(&mut self, node: &Node) -> Option<ChainStep> {
        let f = self.fields(node, "a chain step", STEP_KEYS)?;
        let name = self
            .require(&f, "step", "a chain step")
            .and_then(|n| self.nonempty_string(n, "step"));
        let gate = self.gate(&f, STEP_GATE);
        Some(ChainStep {
            name: name.unwrap_or_else(|| Spanned::new(String::new(), node.span)),
            gate,
            span: node.span.into(),
        })
    }

    fn escalation_rule(&mut self, node: &Node) -> Option<EscalationRule> {
        let f = self.fields(node, "an escalation rule", ESCALATION_RULE_KEYS)?;
        let id = f.get("id").and_then(|n| self.nonempty_string(n, "id"));
        let (mut match_action, mut match_resource) = (None, None);
        if let Some(m) = f.get("match")
            && let Some(mf) = self.fields(m, "`match`", MATCH_KEYS)
        {
            match_action = mf.get("action").and_then(|n| self.glob(n, "action"));
            match_resource = mf.get("resource").and_then(|n| self.glob(n, "resource"));
        }
        let confidence_range = f.get("confidenceRange").and_then(|n| self.range(n));
        let outcome = self
            .require(&f, "action", "an escalation rule")
            .and_then(|n| self.outcome(n, "action"));
        let priority = self.priority(&f);
        let gate = self.gate(&f, ESCALATION_GATE);
        let adapt = f.get("adapt").and_then(|n| self.adapt(n));
        Some(EscalationRule {
            id,
            match_action,
            match_resource,
            confidence_range,
            outcome: outcome.unwrap_or(Spanned::new(Outcome::Deny, node.span)),
            priority,
            gate,
            adapt,
            span: node.span.into(),
        })
    }

    fn range(&mut self, node: &Node) -> Option<Spanned<ConfidenceRange>> {
        let items = self.list(node, "confidenceRange", "a pair [lo, hi]")?;
        let [lo, hi] = items else {
            self.error(ErrorKind::RangeShape { found: items.len() }, node.span);
            return None;
        };
        let lo = self.number(lo, "confidenceRange");
        let hi = self.number(hi, "confidenceRange");
        Some(Spanned::new(
            ConfidenceRange {
                lo: lo?,
                hi: hi?,
                closed_below_one: Cosmetic(None),
            },
            node.span,
        ))
    }
}
