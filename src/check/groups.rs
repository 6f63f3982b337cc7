//! Group expansion: `group:NAME` references resolved to the principals they stand for,
//! recursively, with unknown groups and cycles reported.

use std::collections::{BTreeSet, HashMap};

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::ir::{Approver, GroupDef, Principal};
use crate::source::Spanned;
use crate::suggest;

/// Every group's members, expanded to principals. Built once per policy.
#[derive(Debug, Clone, Default)]
pub struct GroupTable {
    expanded: HashMap<String, BTreeSet<Principal>>,
}

enum Visit {
    InProgress,
    Done,
}

impl GroupTable {
    /// Expands every group, reporting duplicate names, unknown members and cycles.
    pub fn build(defs: &[GroupDef], diagnostics: &mut Vec<Diagnostic>) -> GroupTable {
        let mut by_name: HashMap<&str, &GroupDef> = HashMap::new();
        for def in defs {
            if let Some(first) = by_name.get(def.name.node.as_str()) {
                diagnostics.push(Diagnostic::new(
                    ErrorKind::DuplicateGroup {
                        name: def.name.node.clone(),
                        first: first.name.span,
                    },
                    def.name.span,
                ));
            } else {
                by_name.insert(&def.name.node, def);
            }
        }
        let mut table = GroupTable::default();
        let mut state: HashMap<&str, Visit> = HashMap::new();
        for def in defs {
            let mut path = Vec::new();
            table.visit(&def.name.node, &by_name, &mut state, &mut path, diagnostics);
        }
        table
    }

    fn visit<'d>(
        &mut self,
        name: &'d str,
        by_name: &HashMap<&'d str, &'d GroupDef>,
        state: &mut HashMap<&'d str, Visit>,
        path: &mut Vec<&'d str>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        match state.get(name) {
            Some(Visit::Done) => return,
            Some(Visit::InProgress) => {
                // Report the cycle once, at the definition of the group it starts from.
                let start = path.iter().position(|g| *g == name).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(name);
                if let Some(def) = by_name.get(name) {
                    diagnostics.push(Diagnostic::new(
                        ErrorKind::GroupCycle {
                            name: name.to_owned(),
                            path: cycle.join(" -> "),
                        },
                        def.name.span,
                    ));
                }
                return;
            }
            None => {}
        }
        let Some(def) = by_name.get(name) else { return };
        state.insert(name, Visit::InProgress);
        path.push(name);
        let mut members = BTreeSet::new();
        for member in &def.members {
            match &member.node {
                Approver::Principal(p) => {
                    members.insert(p.clone());
                }
                Approver::Group(inner) => {
                    if by_name.contains_key(inner.as_str()) {
                        let inner: &'d str =
                            by_name.get_key_value(inner.as_str()).map_or("", |(k, _)| k);
                        self.visit(inner, by_name, state, path, diagnostics);
                        if let Some(expanded) = self.expanded.get(inner) {
                            members.extend(expanded.iter().cloned());
                        }
                    } else {
                        diagnostics.push(unknown_group(inner, member, by_name.keys().copied()));
                    }
                }
            }
        }
        path.pop();
        state.insert(name, Visit::Done);
        self.expanded.insert(name.to_owned(), members);
    }

    /// Checks that every group a list names exists; true when they all do.
    pub fn check_refs(
        &self,
        list: &[Spanned<Approver>],
        diagnostics: &mut Vec<Diagnostic>,
    ) -> bool {
        let mut all_known = true;
        for item in list {
            if let Approver::Group(name) = &item.node
                && !self.expanded.contains_key(name)
            {
                all_known = false;
                diagnostics.push(unknown_group(
                    name,
                    item,
                    self.expanded.keys().map(String::as_str),
                ));
            }
        }
        all_known
    }

    /// The distinct principals a list stands for, sorted.
    pub fn expand(&self, list: &[Spanned<Approver>]) -> Vec<Principal> {
        let mut out = BTreeSet::new();
        for item in list {
            match &item.node {
                Approver::Principal(p) => {
                    out.insert(p.clone());
                }
                Approver::Group(name) => {
                    if let Some(members) = self.expanded.get(name) {
                        out.extend(members.iter().cloned());
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}

fn unknown_group<'a>(
    name: &str,
    at: &Spanned<Approver>,
    known: impl Iterator<Item = &'a str>,
) -> Diagnostic {
    let known: Vec<&str> = known.collect();
    Diagnostic::new(
        ErrorKind::UnknownGroup {
            name: name.to_owned(),
            suggestion: suggest::closest(name, known.iter().copied()).map(str::to_owned),
        },
        at.span,
    )
}
