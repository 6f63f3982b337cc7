//! The one-line summary of what a new version changes, for the history and the audit log.
//!
//! Rules are compared by meaning (the IR's equality ignores layout and comments). Each
//! section's common first and last rules are matched, and what lies between counts as removed
//! and added: linear in the rules, and exact for the usual edit (rules added, removed or
//! changed in one place).

use crate::ir::{PolicyDoc, Section};

/// What `new` changes from `old` (`None`: it is the first version).
pub fn summary(old: Option<&PolicyDoc>, new: &PolicyDoc) -> String {
    let Some(old) = old else {
        return format!(
            "first version: {}, {}",
            rules(new.hitl.as_ref(), "hitl"),
            rules(new.escalation.as_ref(), "escalation")
        );
    };
    let mut parts = Vec::new();
    if old.name != new.name {
        parts.push("name changed".to_owned());
    }
    if old.groups != new.groups {
        parts.push("groups changed".to_owned());
    }
    if old.defaults != new.defaults {
        parts.push("defaults changed".to_owned());
    }
    parts.extend(section("hitl", old.hitl.as_ref(), new.hitl.as_ref()));
    parts.extend(section(
        "escalation",
        old.escalation.as_ref(),
        new.escalation.as_ref(),
    ));
    if parts.is_empty() {
        "no rule changed (layout or comments only)".to_owned()
    } else {
        parts.join("; ")
    }
}

fn rules<R>(section: Option<&Section<R>>, name: &str) -> String {
    let n = section.map_or(0, |s| s.rules.len());
    format!("{n} {name} rule{}", if n == 1 { "" } else { "s" })
}

fn section<R: PartialEq>(
    name: &str,
    old: Option<&Section<R>>,
    new: Option<&Section<R>>,
) -> Option<String> {
    match (old, new) {
        (None, None) => None,
        (Some(_), None) => Some(format!("{name} section removed")),
        (None, Some(s)) => Some(format!("{name} section added ({})", rules(Some(s), name))),
        (Some(a), Some(b)) => {
            let (a, b) = (&a.rules, &b.rules);
            let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            let suffix = a[prefix..]
                .iter()
                .rev()
                .zip(b[prefix..].iter().rev())
                .take_while(|(x, y)| x == y)
                .count();
            let removed = a.len() - prefix - suffix;
            let added = b.len() - prefix - suffix;
            (removed > 0 || added > 0).then(|| {
                format!(
                    "{name}: +{added} -{removed} rules ({} -> {})",
                    a.len(),
                    b.len()
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    fn doc(text: &str) -> PolicyDoc {
        Policy::from_yaml_str(text, "t.yaml").unwrap().doc().clone()
    }

    const BASE: &str = "version: 1\nhitl:\n  rules:\n    - action: a\n      requireApproval: false\n    - action: b\n      requireApproval: false\n    - action: c\n      requireApproval: false\n";

    #[test]
    fn an_edit_in_one_place_is_counted_exactly() {
        let base = doc(BASE);
        assert_eq!(
            summary(None, &base),
            "first version: 3 hitl rules, 0 escalation rules"
        );
        let changed = doc(&BASE.replace("action: b", "action: bb"));
        assert_eq!(summary(Some(&base), &changed), "hitl: +1 -1 rules (3 -> 3)");
        let inserted = doc(&BASE.replace(
            "    - action: c",
            "    - action: x\n      requireApproval: false\n    - action: c",
        ));
        assert_eq!(
            summary(Some(&base), &inserted),
            "hitl: +1 -0 rules (3 -> 4)"
        );
        let commented = doc(&format!("# reviewed\n{BASE}"));
        assert_eq!(
            summary(Some(&base), &commented),
            "no rule changed (layout or comments only)"
        );
        let named = doc(&BASE.replace("version: 1\n", "version: 1\nname: n\n"));
        assert_eq!(summary(Some(&base), &named), "name changed");
    }
}
