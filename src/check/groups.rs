//! Group expansion: `group:NAME` references resolved to the principals they stand for,
//! recursively, with unknown groups and cycles reported.

use std::collections::{BTreeSet, HashMap};

use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::ir::{Approver, GroupDef, Principal};
use crate::source::Spanned;
use crate::suggest;

/// The most principals all groups may expand to, summed over the groups: expansion copies a
/// group's members into every group that contains it, so a long chain of groups would
/// otherwise cost memory quadratic in its length.
pub const MAX_EXPANDED: usize = 1_000_000;

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
        let mut budget = MAX_EXPANDED;
        for def in defs {
            table.visit(
                &def.name.node,
                &by_name,
                &mut state,
                &mut budget,
                diagnostics,
            );
        }
        table
    }

    /// Expands `root` and every group it reaches, depth first with an explicit stack: a chain
    /// of groups as long as the file allows must not be able to exhaust the call stack.
    fn visit<'d>(
        &mut self,
        root: &'d str,
        by_name: &HashMap<&'d str, &'d GroupDef>,
        state: &mut HashMap<&'d str, Visit>,
        budget: &mut usize,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        if state.contains_key(root) || !by_name.contains_key(root) {
            return;
        }
        state.insert(root, Visit::InProgress);
        // The groups being expanded, each with the index of its next member to look at.
        let mut path: Vec<(&'d str, usize)> = vec![(root, 0)];
        while let Some((name, next)) = path.last_mut() {
            let name: &'d str = name;
            let Some(def) = by_name.get(name) else {
                path.pop();
                continue;
            };
            if let Some(member) = def.members.get(*next) {
                *next += 1;
                let Approver::Group(inner) = &member.node else {
                    continue;
                };
                let Some((&inner, _)) = by_name.get_key_value(inner.as_str()) else {
                    diagnostics.push(unknown_group(inner, member, by_name.keys().copied()));
                    continue;
                };
                match state.get(inner) {
                    Some(Visit::Done) => {}
                    Some(Visit::InProgress) => {
                        // Report the cycle once, at the definition of the group it starts from.
                        let start = path.iter().position(|(g, _)| *g == inner).unwrap_or(0);
                        let mut cycle: Vec<&str> = path[start..].iter().map(|(g, _)| *g).collect();
                        cycle.push(inner);
                        if let Some(def) = by_name.get(inner) {
                            diagnostics.push(Diagnostic::new(
                                ErrorKind::GroupCycle {
                                    name: inner.to_owned(),
                                    path: cycle.join(" -> "),
                                },
                                def.name.span,
                            ));
                        }
                    }
                    None => {
                        state.insert(inner, Visit::InProgress);
                        path.push((inner, 0));
                    }
                }
                continue;
            }
            // Every member is expanded (or in a cycle, and then reported): collect them.
            let mut members = BTreeSet::new();
            for member in &def.members {
                match &member.node {
                    Approver::Principal(p) => {
                        members.insert(p.clone());
                    }
                    Approver::Group(inner) => {
                        if let Some(expanded) = self.expanded.get(inner.as_str()) {
                            members.extend(expanded.iter().cloned());
                        }
                    }
                }
            }
            if members.len() > *budget {
                if *budget > 0 {
                    diagnostics.push(Diagnostic::new(
                        ErrorKind::GroupsTooLarge {
                            name: name.to_owned(),
                            limit: MAX_EXPANDED,
                        },
                        def.name.span,
                    ));
                }
                *budget = 0;
                members.clear();
            } else {
                *budget -= members.len();
            }
            path.pop();
            state.insert(name, Visit::Done);
            self.expanded.insert(name.to_owned(), members);
        }
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
        // A sorted vector, not a set: most lists name one or two principals, and a set would
        // allocate a node for them and a vector again to hand them out.
        let mut out: Vec<Principal> = Vec::with_capacity(list.len());
        for item in list {
            match &item.node {
                Approver::Principal(p) => out.push(p.clone()),
                Approver::Group(name) => {
                    if let Some(members) = self.expanded.get(name) {
                        out.extend(members.iter().cloned());
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// How many distinct principals a list stands for: [`GroupTable::expand`]'s length,
    /// without copying them.
    pub fn distinct(&self, list: &[Spanned<Approver>]) -> usize {
        // Most gates name one principal or one group: counted without a vector.
        if let [one] = list {
            return match &one.node {
                Approver::Principal(_) => 1,
                Approver::Group(name) => self.expanded.get(name).map_or(0, BTreeSet::len),
            };
        }
        let mut all: Vec<&Principal> = Vec::with_capacity(list.len());
        for item in list {
            match &item.node {
                Approver::Principal(p) => all.push(p),
                Approver::Group(name) => {
                    if let Some(members) = self.expanded.get(name) {
                        all.extend(members.iter());
                    }
                }
            }
        }
        all.sort_unstable();
        all.dedup();
        all.len()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Span;
    use proptest::prelude::*;

    fn approver(i: u8) -> Spanned<Approver> {
        let node = if i.is_multiple_of(3) {
            Approver::Group(format!("g{}", i % 4))
        } else {
            Approver::Principal(Principal::parse(&format!("user:u{}", i % 5)).unwrap())
        };
        Spanned::new(node, Span::default())
    }

    /// The expansion as a set of sets would have it: each group's members by a walk of the
    /// definitions, every principal once.
    fn oracle(defs: &[GroupDef], list: &[Spanned<Approver>]) -> BTreeSet<Principal> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<&Approver> = list.iter().map(|a| &a.node).collect();
        let mut seen = BTreeSet::new();
        while let Some(a) = todo.pop() {
            match a {
                Approver::Principal(p) => {
                    out.insert(p.clone());
                }
                Approver::Group(name) => {
                    if seen.insert(name.clone())
                        && let Some(def) = defs.iter().find(|d| d.name.node == *name)
                    {
                        todo.extend(def.members.iter().map(|m| &m.node));
                    }
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn expand_and_distinct_agree_with_a_set(
            groups in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..5), 0..4),
            list in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let defs: Vec<GroupDef> = groups
                .iter()
                .enumerate()
                .map(|(i, members)| GroupDef {
                    name: Spanned::new(format!("g{i}"), Span::default()),
                    members: members.iter().map(|&m| approver(m)).collect(),
                })
                .collect();
            let mut diagnostics = Vec::new();
            let table = GroupTable::build(&defs, &mut diagnostics);
            // Cycles are reported and then expand to what was reached; only compare where
            // the definitions are sound.
            prop_assume!(diagnostics.is_empty());
            let list: Vec<_> = list.iter().map(|&m| approver(m)).collect();
            let expected: Vec<Principal> = oracle(&defs, &list).into_iter().collect();
            prop_assert_eq!(&table.expand(&list), &expected);
            prop_assert_eq!(table.distinct(&list), expected.len());
        }
    }
}
