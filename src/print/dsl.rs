//! The canonical DSL form.

use std::fmt::Write as _;

use crate::glob::Glob;
use crate::ir::{
    ADAPT_SETTINGS, Adapt, Approver, ChainStep, Comments, EscalationRule, Gate, HitlRule,
    OnTimeout, Outcome, PolicyDoc,
};
use crate::source::Spanned;

/// Words that would be read as syntax where a glob stands, so a glob spelled like one is quoted.
const KEYWORDS: &[&str] = &["on", "and", "confidence", "when", "rule", "->"];

pub fn to_dsl(doc: &PolicyDoc) -> String {
    let mut out = String::new();
    comments(&mut out, &doc.comments, doc.span.line, "");
    out.push_str("policy ");
    if let Some(name) = &doc.name {
        let _ = write!(out, "{} ", word_or_string(&name.node, &["version"]));
    }
    let _ = writeln!(out, "version {}", doc.version.node);
    if !doc.groups.is_empty() {
        out.push('\n');
    }
    for group in &doc.groups {
        comments(&mut out, &doc.comments, group.name.span.line, "");
        let _ = writeln!(
            out,
            "group {} = {}",
            word_or_string(&group.name.node, &[]),
            approvers(&group.members)
        );
    }
    if let Some(defaults) = &doc.defaults {
        out.push('\n');
        comments(&mut out, &doc.comments, defaults.span.line, "");
        out.push_str("defaults {\n");
        match (&defaults.no_match, &defaults.approvers) {
            (Some(outcome), Some(list)) => {
                let _ = writeln!(
                    out,
                    "  no match -> {} from {}",
                    outcome.node,
                    approvers(&list.node)
                );
            }
            (Some(outcome), None) => {
                let _ = writeln!(out, "  no match -> {}", outcome.node);
            }
            (None, Some(list)) => {
                let _ = writeln!(out, "  approvers {}", approvers(&list.node));
            }
            (None, None) => {}
        }
        out.push_str("}\n");
    }
    if let Some(hitl) = &doc.hitl {
        out.push('\n');
        comments(&mut out, &doc.comments, hitl.span.line, "");
        out.push_str("hitl {\n");
        for rule in &hitl.rules {
            hitl_rule(&mut out, rule, &doc.comments);
        }
        out.push_str("}\n");
    }
    if let Some(escalation) = &doc.escalation {
        out.push('\n');
        comments(&mut out, &doc.comments, escalation.span.line, "");
        out.push_str("escalation {\n");
        for rule in &escalation.rules {
            escalation_rule(&mut out, rule, &doc.comments);
        }
        out.push_str("}\n");
    }
    if !doc.comments.trailing.is_empty() {
        out.push('\n');
        for c in &doc.comments.trailing {
            let _ = writeln!(out, "#{}{c}", if c.is_empty() { "" } else { " " });
        }
    }
    out
}

fn comments(out: &mut String, all: &Comments, line: u32, indent: &str) {
    for c in all.at(line) {
        let _ = writeln!(out, "{indent}#{}{c}", if c.is_empty() { "" } else { " " });
    }
}

fn hitl_rule(out: &mut String, rule: &HitlRule, all: &Comments) {
    comments(out, all, rule.span.line, "  ");
    out.push_str("  rule ");
    if let Some(id) = &rule.id {
        let _ = write!(out, "{}: ", word_or_string(&id.node, &[]));
    }
    out.push_str(&glob(&rule.action.node));
    if let Some(resource) = &rule.resource {
        let _ = write!(out, " on {}", glob(&resource.node));
    }
    out.push_str(" -> ");
    let requires = rule.require_approval.map(|r| r.node);
    if let Some(chain) = &rule.chain {
        if requires == Some(true) {
            out.push_str("require ");
        }
        out.push_str("chain {\n");
        for step in &chain.node {
            chain_step(out, step, all);
        }
        out.push_str("  }");
    } else {
        match requires {
            Some(true) => match (&rule.gate.min_approvals, &rule.gate.approvers) {
                (Some(min), list) => {
                    let list = list
                        .as_ref()
                        .map(|l| approvers(&l.node))
                        .unwrap_or_else(|| "[]".into());
                    let _ = write!(out, "require {} of {list}", min.node);
                }
                (None, Some(list)) => {
                    let _ = write!(out, "require approval from {}", approvers(&list.node));
                }
                (None, None) => out.push_str("require approval"),
            },
            Some(false) => out.push_str("allow"),
            None => out.push_str("auto-approve"),
        }
    }
    options(out, &rule.gate, "notify");
    if let Some(p) = &rule.priority {
        let _ = write!(out, " priority {}", p.node);
    }
    out.push('\n');
}

fn chain_step(out: &mut String, step: &ChainStep, all: &Comments) {
    comments(out, all, step.span.line, "    ");
    let _ = write!(out, "    step {}: ", string(&step.name.node));
    let list = step
        .gate
        .approvers
        .as_ref()
        .map(|l| approvers(&l.node))
        .unwrap_or_else(|| "[]".into());
    match &step.gate.min_approvals {
        Some(min) => {
            let _ = write!(out, "{} of {list}", min.node);
        }
        None => {
            let _ = write!(out, "approval from {list}");
        }
    }
    options(out, &step.gate, "notify");
    out.push('\n');
}

fn escalation_rule(out: &mut String, rule: &EscalationRule, all: &Comments) {
    comments(out, all, rule.span.line, "  ");
    out.push_str("  when");
    if let Some(id) = &rule.id {
        let _ = write!(out, " {}:", word_or_string(&id.node, &[]));
    }
    let mut matched = false;
    match (&rule.match_action, &rule.match_resource) {
        (Some(action), resource) => {
            let _ = write!(out, " {}", glob(&action.node));
            if let Some(resource) = resource {
                let _ = write!(out, " on {}", glob(&resource.node));
            }
            matched = true;
        }
        (None, Some(resource)) => {
            let _ = write!(out, " on {}", glob(&resource.node));
            matched = true;
        }
        (None, None) => {}
    }
    if let Some(range) = &rule.confidence_range {
        let (lo, hi) = (range.node.lo.node, range.node.hi.node);
        // The closing bracket says what the semantics say: 1.0 is in the band that ends there,
        // any other upper bound is not.
        let close = if hi == 1.0 { ']' } else { ')' };
        let _ = write!(
            out,
            "{} confidence in [{}, {}{close}",
            if matched { " and" } else { "" },
            super::number(lo),
            super::number(hi)
        );
    }
    let _ = write!(out, " -> {}", rule.outcome.node);
    match (&rule.gate.min_approvals, &rule.gate.approvers) {
        (Some(min), list) => {
            let list = list
                .as_ref()
                .map(|l| approvers(&l.node))
                .unwrap_or_else(|| "[]".into());
            let _ = write!(out, " {} of {list}", min.node);
        }
        (None, Some(list)) => {
            let word = if rule.outcome.node == Outcome::Escalate {
                "to"
            } else {
                "from"
            };
            let _ = write!(out, " {word} {}", approvers(&list.node));
        }
        (None, None) => {}
    }
    options(out, &rule.gate, "via");
    if let Some(p) = &rule.priority {
        let _ = write!(out, " priority {}", p.node);
    }
    if let Some(a) = &rule.adapt {
        adapt(out, a);
    }
    out.push('\n');
}

/// `adapt { ... }` with the settings the author wrote, in their canonical order.
fn adapt(out: &mut String, a: &Adapt) {
    out.push_str(" adapt {");
    for key in &a.written {
        let word = ADAPT_SETTINGS.iter().find(|(name, _)| *name == key.node);
        if let (Some((_, word)), Some(value)) = (word, a.setting_text(key.node)) {
            let _ = write!(out, " {word} {value}");
        }
    }
    if let Some(list) = &a.approvers {
        let _ = write!(out, " approvers {}", approvers(&list.node));
    }
    out.push_str(" }");
}

/// The gate's options after the decision, in a fixed order.
fn options(out: &mut String, gate: &Gate, notify_word: &str) {
    if let Some(list) = &gate.notify_via {
        let channels: Vec<String> = list
            .node
            .iter()
            .map(|c| word_or_string(&c.node, &[]))
            .collect();
        let _ = write!(out, " {notify_word} [{}]", channels.join(", "));
    }
    if let Some(t) = &gate.timeout {
        let _ = write!(out, " timeout {}", t.node);
    }
    if let Some(on) = &gate.on_timeout {
        match on.node {
            OnTimeout::Reject => out.push_str(" on timeout reject"),
            OnTimeout::Escalate => {
                out.push_str(" on timeout escalate");
                if let Some(list) = &gate.escalate_to {
                    let _ = write!(out, " to {}", approvers(&list.node));
                }
            }
        }
    }
    if let Some(t) = &gate.remind_every {
        let _ = write!(out, " remind every {}", t.node);
    }
}

fn approvers(list: &[Spanned<Approver>]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|a| {
            let text = a.node.to_string();
            let bare = !text.is_empty()
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, ',' | '[' | ']' | '#' | '"'));
            if bare { text } else { string(&text) }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn is_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn word_or_string(text: &str, reserved: &[&str]) -> String {
    if is_word(text) && !reserved.contains(&text) {
        text.to_owned()
    } else {
        string(text)
    }
}

fn glob(g: &Glob) -> String {
    let text = g.as_str();
    let bare = !text.is_empty()
        && !text.starts_with('-')
        && !KEYWORDS.contains(&text)
        && !text.chars().any(|c| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '#' | ',' | ':' | '(' | ')' | '[' | ']' | '{' | '}' | '>' | '\\'
                )
        });
    if bare { text.to_owned() } else { string(text) }
}

/// A double-quoted string: `"` and `\` are escaped, nothing else.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
