//! `adapt` on an escalation rule: the learning settings, each typed here; whether the values
//! make sense together is [`crate::check`]'s (so that every front end gets the same checks).

use super::{Lowering, Node};
use crate::diagnostic::ErrorKind;
use crate::ir::Adapt;
use crate::learn::{Mode, Settings};
use crate::source::Spanned;
use crate::suggest;

const ADAPT_KEYS: &[&str] = &[
    "alpha",
    "delta",
    "floor",
    "ceiling",
    "step",
    "minLabels",
    "auditRate",
    "window",
    "mode",
    "perAgent",
    "approvers",
];

const MODES: &[&str] = &["propose", "auto"];

impl Lowering {
    pub(super) fn adapt(&mut self, node: &Node) -> Option<Adapt> {
        let f = self.fields(node, "`adapt`", ADAPT_KEYS)?;
        let mut settings = Settings::default();
        let mut written = Vec::new();
        let mut approvers = None;
        for &key in ADAPT_KEYS {
            let Some(value) = f.get(key) else { continue };
            let ok = match key {
                "alpha" => self.number(value, key).map(|v| settings.alpha = v.node),
                "delta" => self.number(value, key).map(|v| settings.delta = v.node),
                "floor" => self.number(value, key).map(|v| settings.floor = v.node),
                "ceiling" => self.number(value, key).map(|v| settings.ceiling = v.node),
                "step" => self.number(value, key).map(|v| settings.step = v.node),
                "auditRate" => self
                    .number(value, key)
                    .map(|v| settings.audit_rate = v.node),
                "minLabels" => self.count(value, key).map(|v| settings.min_labels = v),
                "window" => self.count(value, key).map(|v| settings.window = v),
                "mode" => self.mode(value).map(|m| settings.mode = m),
                "perAgent" => self.bool(value, key).map(|b| settings.per_agent = b.node),
                _ => self
                    .approvers(value, "approvers")
                    .map(|list| approvers = Some(list)),
            };
            if ok.is_some() && key != "approvers" {
                written.push(Spanned::new(key, value.span));
            }
        }
        Some(Adapt {
            settings,
            approvers,
            written,
            span: node.span.into(),
        })
    }

    /// A whole number of labels: negative counts are refused here, since the settings hold
    /// them unsigned.
    fn count(&mut self, node: &Node, key: &'static str) -> Option<u64> {
        let n = self.int(node, key)?;
        match u64::try_from(n.node) {
            Ok(v) => Some(v),
            Err(_) => {
                self.error(
                    ErrorKind::AdaptSetting {
                        key,
                        message: format!("must be a count of labels, not {}", n.node),
                    },
                    node.span,
                );
                None
            }
        }
    }

    fn mode(&mut self, node: &Node) -> Option<Mode> {
        let text = self.string(node, "mode")?;
        let mode = Mode::parse(&text.node);
        if mode.is_none() {
            self.error(
                ErrorKind::UnknownWord {
                    what: "mode",
                    suggestion: suggest::closest(&text.node, MODES.iter().copied()),
                    found: text.node,
                    allowed: MODES,
                },
                node.span,
            );
        }
        mode
    }
}
