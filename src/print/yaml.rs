//! The canonical YAML form.

use std::fmt::Write as _;

use crate::front::yaml::tree::{PlainType, plain_type};
use crate::ir::{Adapt, Approver, ChainStep, Comments, EscalationRule, Gate, HitlRule, PolicyDoc};
use crate::source::Spanned;

pub fn to_yaml(doc: &PolicyDoc) -> String {
    let mut out = String::new();
    comments(&mut out, &doc.comments, doc.span.line, "");
    let _ = writeln!(out, "version: {}", doc.version.node);
    if let Some(name) = &doc.name {
        let _ = writeln!(out, "name: {}", scalar(&name.node));
    }
    if !doc.groups.is_empty() {
        out.push_str("\ngroups:\n");
        for group in &doc.groups {
            comments(&mut out, &doc.comments, group.name.span.line, "  ");
            let _ = writeln!(
                out,
                "  {}: {}",
                scalar(&group.name.node),
                approvers(&group.members)
            );
        }
    }
    if let Some(defaults) = &doc.defaults {
        out.push('\n');
        comments(&mut out, &doc.comments, defaults.span.line, "");
        if defaults.no_match.is_none() && defaults.approvers.is_none() {
            out.push_str("defaults: {}\n");
        } else {
            out.push_str("defaults:\n");
        }
        if let Some(o) = &defaults.no_match {
            let _ = writeln!(out, "  noMatch: {}", o.node);
        }
        if let Some(list) = &defaults.approvers {
            let _ = writeln!(out, "  approvers: {}", approvers(&list.node));
        }
    }
    if let Some(hitl) = &doc.hitl {
        out.push('\n');
        comments(&mut out, &doc.comments, hitl.span.line, "");
        out.push_str("hitl:\n");
        if hitl.rules.is_empty() {
            out.push_str("  rules: []\n");
        } else {
            out.push_str("  rules:\n");
        }
        for rule in &hitl.rules {
            hitl_rule(&mut out, rule, &doc.comments);
        }
    }
    if let Some(escalation) = &doc.escalation {
        out.push('\n');
        comments(&mut out, &doc.comments, escalation.span.line, "");
        out.push_str("escalation:\n");
        if escalation.rules.is_empty() {
            out.push_str("  rules: []\n");
        } else {
            out.push_str("  rules:\n");
        }
        for rule in &escalation.rules {
            escalation_rule(&mut out, rule, &doc.comments);
        }
    }
    if !doc.comments.trailing.is_empty() {
        out.push('\n');
    }
    for c in &doc.comments.trailing {
        let _ = writeln!(out, "#{}{c}", if c.is_empty() { "" } else { " " });
    }
    out
}

fn comments(out: &mut String, all: &Comments, line: u32, indent: &str) {
    for c in all.at(line) {
        let _ = writeln!(out, "{indent}#{}{c}", if c.is_empty() { "" } else { " " });
    }
}

/// Writes `key: value` lines of a list item: the first after `- `, the rest aligned under it.
struct Item<'o> {
    out: &'o mut String,
    indent: &'static str,
    first: bool,
}

impl Item<'_> {
    fn field(&mut self, key: &str, value: impl std::fmt::Display) {
        let lead = if self.first { "- " } else { "  " };
        self.first = false;
        let _ = writeln!(self.out, "{}{lead}{key}: {value}", self.indent);
    }
}

fn hitl_rule(out: &mut String, rule: &HitlRule, all: &Comments) {
    comments(out, all, rule.span.line, "    ");
    let mut item = Item {
        out,
        indent: "    ",
        first: true,
    };
    if let Some(id) = &rule.id {
        item.field("id", scalar(&id.node));
    }
    item.field("action", scalar(rule.action.node.as_str()));
    if let Some(r) = &rule.resource {
        item.field("resource", scalar(r.node.as_str()));
    }
    if let Some(flag) = &rule.require_approval {
        item.field("requireApproval", flag.node);
    }
    gate(&mut item, &rule.gate);
    if let Some(p) = &rule.priority {
        item.field("priority", p.node);
    }
    if let Some(chain) = &rule.chain {
        if chain.node.is_empty() {
            item.field("chain", "[]");
        } else {
            item.field("chain", "");
            // `chain: ` with nothing after it would leave a trailing space.
            trim_trailing_space(item.out);
            for step in &chain.node {
                chain_step(item.out, step, all);
            }
        }
    }
}

fn trim_trailing_space(out: &mut String) {
    if out.ends_with(" \n") {
        out.truncate(out.len() - 2);
        out.push('\n');
    }
}

fn chain_step(out: &mut String, step: &ChainStep, all: &Comments) {
    comments(out, all, step.span.line, "        ");
    let mut item = Item {
        out,
        indent: "        ",
        first: true,
    };
    item.field("step", scalar(&step.name.node));
    gate(&mut item, &step.gate);
}

fn escalation_rule(out: &mut String, rule: &EscalationRule, all: &Comments) {
    comments(out, all, rule.span.line, "    ");
    let mut item = Item {
        out,
        indent: "    ",
        first: true,
    };
    if let Some(id) = &rule.id {
        item.field("id", scalar(&id.node));
    }
    let mut parts = Vec::new();
    if let Some(a) = &rule.match_action {
        parts.push(format!("action: {}", flow_scalar(a.node.as_str())));
    }
    if let Some(r) = &rule.match_resource {
        parts.push(format!("resource: {}", flow_scalar(r.node.as_str())));
    }
    if rule.match_action.is_some() || rule.match_resource.is_some() {
        item.field("match", format!("{{{}}}", parts.join(", ")));
    }
    if let Some(range) = &rule.confidence_range {
        item.field(
            "confidenceRange",
            format!(
                "[{}, {}]",
                super::number(range.node.lo.node),
                super::number(range.node.hi.node)
            ),
        );
    }
    item.field("action", rule.outcome.node);
    gate(&mut item, &rule.gate);
    if let Some(p) = &rule.priority {
        item.field("priority", p.node);
    }
    if let Some(a) = &rule.adapt {
        adapt(&mut item, a);
    }
}

/// `adapt` as a block under the rule, with only the settings the author wrote.
fn adapt(item: &mut Item<'_>, a: &Adapt) {
    if a.written.is_empty() && a.approvers.is_none() {
        item.field("adapt", "{}");
        return;
    }
    item.field("adapt", "");
    trim_trailing_space(item.out);
    for key in &a.written {
        let Some(value) = a.setting_text(key.node) else {
            continue;
        };
        let _ = writeln!(item.out, "{}    {}: {value}", item.indent, key.node);
    }
    if let Some(list) = &a.approvers {
        let _ = writeln!(
            item.out,
            "{}    approvers: {}",
            item.indent,
            approvers(&list.node)
        );
    }
}

fn gate(item: &mut Item<'_>, gate: &Gate) {
    if let Some(list) = &gate.approvers {
        item.field("approvers", approvers(&list.node));
    }
    if let Some(m) = &gate.min_approvals {
        item.field("minApprovals", m.node);
    }
    if let Some(t) = &gate.timeout {
        item.field("timeout", t.node);
    }
    if let Some(o) = &gate.on_timeout {
        item.field("onTimeout", o.node);
    }
    if let Some(list) = &gate.escalate_to {
        item.field("escalateTo", approvers(&list.node));
    }
    if let Some(t) = &gate.remind_every {
        item.field("remindEvery", t.node);
    }
    if let Some(list) = &gate.notify_via {
        let channels: Vec<String> = list.node.iter().map(|c| flow_scalar(&c.node)).collect();
        item.field("notifyVia", format!("[{}]", channels.join(", ")));
    }
}

fn approvers(list: &[Spanned<Approver>]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|a| flow_scalar(&a.node.to_string()))
        .collect();
    format!("[{}]", items.join(", "))
}

/// A string as a plain scalar when YAML reads it back as the same string, else double-quoted
/// (a JSON string is a valid YAML double-quoted scalar).
fn scalar(text: &str) -> String {
    let plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '/')
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | ' '))
        && !text.ends_with([' ', ':'])
        && !text.contains(": ")
        && plain_type(text) == PlainType::Str;
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

/// The same inside a flow list `[a, b]`, where spaces are not allowed plain.
fn flow_scalar(text: &str) -> String {
    if text.contains(' ') {
        serde_json::to_string(text).unwrap_or_default()
    } else {
        scalar(text)
    }
}
