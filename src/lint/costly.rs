//! `costly-globs`: rules whose decision cost the compiled policy cannot bound as it does for
//! the others (see [`crate::compile::CompiledPolicy::work_bound`]).
//!
//! The compiled policy decides complex globs in work linear in the request and the rules,
//! with a constant per byte that depends on the globs: how many of their literals can end at
//! one place (`1`, `21`, `321` all end in `1`), and how many segments of only `?` and classes
//! must be tried at every character. Past a fixed limit, or for a glob with more alternatives
//! than the matcher expands, the rules to blame are named here, one warning each, so that the
//! author can split or simplify them or accept the cost knowingly.

use crate::compile::CostlyRule;
use crate::decision::Stage;
use crate::policy::Policy;

use super::{Warning, head, rule_label};

/// At most this many rules are named; the last warning says how many more there are.
const MAX_NAMED: usize = 20;

/// Appends a `costly-globs` warning for each rule the compiled policy cannot bound.
pub(super) fn costly_globs(policy: &Policy, out: &mut Vec<Warning>) {
    let costly: Vec<CostlyRule> = policy.compile().costly_rules();
    let doc = policy.doc();
    let total = costly.len();
    for (n, c) in costly.iter().take(MAX_NAMED).enumerate() {
        let located = match c.stage {
            Stage::Hitl => doc
                .hitl
                .as_ref()
                .and_then(|s| s.rules.get(c.rule))
                .map(|r| {
                    (
                        *r.span,
                        rule_label(
                            "hitl",
                            c.rule,
                            r.id.as_deref().map(String::as_str),
                            &r.action.node,
                            &r.resource_glob(),
                        ),
                    )
                }),
            Stage::Escalation => doc
                .escalation
                .as_ref()
                .and_then(|s| s.rules.get(c.rule))
                .map(|r| {
                    (
                        *r.span,
                        rule_label(
                            "escalation",
                            c.rule,
                            r.id.as_deref().map(String::as_str),
                            &r.action_glob(),
                            &r.resource_glob(),
                        ),
                    )
                }),
        };
        let Some((span, label)) = located else {
            continue;
        };
        let mut w = Warning::new(
            "costly-globs",
            head(span),
            format!(
                "{label} may make decisions cost more than the compiled policy bounds: {}",
                c.reason
            ),
        );
        let more = if n + 1 == MAX_NAMED && total > MAX_NAMED {
            format!(" ({} more rules are affected)", total - MAX_NAMED)
        } else {
            String::new()
        };
        w.help = Some(format!(
            "give rules literals that do not end inside one another, fewer `?`-and-class-only segments and fewer alternatives, or accept the code with `# lint: allow costly-globs`{more}"
        ));
        out.push(w);
    }
}
