//! The joint language of a list of rules over `(action, resource)`: which sets of rules can
//! match one request together, each with a shortest example request.
//!
//! Each rule is a pair of glob automata. A state of the joint automaton holds, for every rule,
//! the set of glob states its action (then its resource) could be in; reading a request
//! `action SEP resource` walks it, with SEP outside every glob's alphabet so that no glob can
//! match across the two fields. Characters are taken by classes: between two characters any
//! glob names, all characters behave alike, so one stands for all. Exploring every reachable
//! state is exact; a state budget bounds the work, and exceeding it is reported, not guessed.

use std::collections::{BTreeMap, HashSet, VecDeque};

use crate::glob::{Glob, Program};

/// Rules that can be the complete set of matching rules for one request, and a request that
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSet {
    /// Indices of the matching rules, ascending.
    pub rules: Vec<usize>,
    pub action: String,
    pub resource: String,
}

/// The outcome of an exploration.
#[derive(Debug, Clone)]
pub enum Explored {
    Done(Vec<MatchSet>),
    /// The joint automaton is larger than the budget allows.
    TooLarge {
        budget: usize,
    },
}

/// A joint state: for each rule still alive (its glob could still match), the glob states it
/// could be in. Rules that can no longer match are left out, so large policies whose rules
/// part ways early (distinct literal prefixes) stay cheap.
#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    in_resource: bool,
    action_nonempty: bool,
    live: Vec<(usize, Vec<usize>)>,
}

/// One character for each class of characters that every glob treats alike.
fn alphabet(globs: &[&Glob]) -> Vec<char> {
    let mut points = Vec::new();
    for g in globs {
        g.boundary_chars(&mut points);
    }
    let mut bounds: Vec<u32> = points.iter().map(|c| *c as u32).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut intervals = Vec::new();
    let mut next = 0u32;
    for b in &bounds {
        if *b > next {
            intervals.push((next, b - 1));
        }
        intervals.push((*b, *b));
        next = b + 1;
    }
    if next <= char::MAX as u32 {
        intervals.push((next, char::MAX as u32));
    }
    intervals
        .into_iter()
        .filter_map(|(lo, hi)| representative(lo, hi))
        .collect()
}

/// A readable character in `[lo, hi]`, for example requests people can read: a letter or
/// digit if there is one, else visible ASCII, else any character that is not a control.
fn representative(lo: u32, hi: u32) -> Option<char> {
    let inside = |c: char| (lo..=hi).contains(&(c as u32));
    let readable = ['x', 'y', 'z', 'q']
        .into_iter()
        .chain('a'..='z')
        .chain('0'..='9')
        .chain('A'..='Z')
        .chain(['-', '_', '.', '/']);
    for c in readable {
        if inside(c) {
            return Some(c);
        }
    }
    let visible = (lo.max(0x21)..=hi.min(0x7e)).find_map(char::from_u32);
    visible.or_else(|| {
        (lo..=hi.min(lo.saturating_add(0x1000)))
            .filter_map(char::from_u32)
            .find(|c| !c.is_control() && !c.is_whitespace())
    })
}

/// Orders the class representatives so that the shortest example found first reads well.
fn readable_first(chars: &mut [char]) {
    chars.sort_by_key(|c| {
        (
            !c.is_ascii_lowercase(),
            !c.is_ascii_alphanumeric(),
            !c.is_ascii_graphic(),
            *c,
        )
    });
}

/// Explores the joint language of `rules` (action glob, resource glob), within a budget of
/// `budget` rule-states (the live rules summed over the joint states visited).
/// Only requests with a non-empty action count, as only those can be decided.
pub fn explore(rules: &[(&Glob, &Glob)], budget: usize) -> Explored {
    let actions: Vec<Program<'_>> = rules.iter().map(|(a, _)| a.program()).collect();
    let resources: Vec<Program<'_>> = rules.iter().map(|(_, r)| r.program()).collect();
    let globs: Vec<&Glob> = rules.iter().flat_map(|(a, r)| [*a, *r]).collect();
    let mut chars = alphabet(&globs);
    readable_first(&mut chars);

    let start = State {
        in_resource: false,
        action_nonempty: false,
        live: actions.iter().map(Program::start).enumerate().collect(),
    };
    let mut seen: HashSet<State> = HashSet::new();
    let mut work = start.live.len();
    let mut queue: VecDeque<(State, String, String)> = VecDeque::new();
    seen.insert(start.clone());
    queue.push_back((start, String::new(), String::new()));
    let mut found: BTreeMap<Vec<usize>, (String, String)> = BTreeMap::new();

    while let Some((state, action, resource)) = queue.pop_front() {
        let mut next_states = Vec::new();
        if state.in_resource {
            let matching: Vec<usize> = state
                .live
                .iter()
                .filter(|(j, set)| resources[*j].accepts(set))
                .map(|(j, _)| *j)
                .collect();
            found
                .entry(matching)
                .or_insert_with(|| (action.clone(), resource.clone()));
        } else if state.action_nonempty {
            let live = state
                .live
                .iter()
                .filter(|(j, set)| actions[*j].accepts(set))
                .map(|(j, _)| (*j, resources[*j].start()))
                .collect();
            next_states.push((
                State {
                    in_resource: true,
                    action_nonempty: true,
                    live,
                },
                action.clone(),
                resource.clone(),
            ));
        }
        let programs = if state.in_resource {
            &resources
        } else {
            &actions
        };
        for &c in &chars {
            let live = state
                .live
                .iter()
                .filter_map(|(j, set)| {
                    let next = programs[*j].step(set, c);
                    (!next.is_empty()).then_some((*j, next))
                })
                .collect();
            let (mut a, mut r) = (action.clone(), resource.clone());
            if state.in_resource {
                r.push(c);
            } else {
                a.push(c);
            }
            next_states.push((
                State {
                    in_resource: state.in_resource,
                    action_nonempty: true,
                    live,
                },
                a,
                r,
            ));
        }
        for (next, a, r) in next_states {
            if seen.contains(&next) {
                continue;
            }
            work += next.live.len().max(1);
            if work > budget {
                return Explored::TooLarge { budget };
            }
            seen.insert(next.clone());
            queue.push_back((next, a, r));
        }
    }
    Explored::Done(
        found
            .into_iter()
            .map(|(rules, (action, resource))| MatchSet {
                rules,
                action,
                resource,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(rules: &[(&str, &str)]) -> Vec<Vec<usize>> {
        let globs: Vec<(Glob, Glob)> = rules
            .iter()
            .map(|(a, r)| (Glob::new(a).unwrap(), Glob::new(r).unwrap()))
            .collect();
        let refs: Vec<(&Glob, &Glob)> = globs.iter().map(|(a, r)| (a, r)).collect();
        match explore(&refs, 10_000) {
            Explored::Done(found) => {
                for m in &found {
                    for (j, (a, r)) in globs.iter().enumerate() {
                        let hit = a.is_match(&m.action) && r.is_match(&m.resource);
                        assert_eq!(hit, m.rules.contains(&j), "witness {m:?} for rule {j}");
                    }
                }
                found.into_iter().map(|m| m.rules).collect()
            }
            Explored::TooLarge { .. } => panic!("too large"),
        }
    }

    #[test]
    fn finds_the_sets_of_rules_that_match_together() {
        let found = sets(&[("deploy*", "*"), ("deploy-*", "prod"), ("*", "*")]);
        assert!(found.contains(&vec![0, 1, 2]));
        assert!(found.contains(&vec![0, 2]));
        assert!(found.contains(&vec![2]));
        assert!(
            !found.iter().any(|s| s.first() == Some(&1)),
            "rule 1 is never first"
        );
        assert!(!found.contains(&vec![]), "the catch-all matches everything");
    }

    #[test]
    fn a_walk_beyond_the_budget_says_so() {
        let globs: Vec<Glob> = ["*a*b*", "*b*a*", "*ab*"]
            .iter()
            .map(|g| Glob::new(g).unwrap())
            .collect();
        let refs: Vec<(&Glob, &Glob)> = globs.iter().map(|g| (g, g)).collect();
        assert!(matches!(
            explore(&refs, 20),
            Explored::TooLarge { budget: 20 }
        ));
        assert!(matches!(explore(&refs, 1_000_000), Explored::Done(_)));
    }

    #[test]
    fn an_empty_action_is_not_a_request() {
        let found = sets(&[("", "*")]);
        assert_eq!(found, vec![Vec::<usize>::new()]);
    }
}
