//! The joint language of a list of rules over `(action, resource)`: which sets of rules can
//! match one request together, each with a shortest example request.
//!
//! Each rule is a pair of glob automata. A state of the joint automaton holds, for every rule,
//! the set of glob states its action (then its resource) could be in; reading a request
//! `action SEP resource` walks it, with SEP outside every glob's alphabet so that no glob can
//! match across the two fields. Characters are taken by classes: between two characters any
//! glob names, all characters behave alike, so one stands for all. Exploring every reachable
//! state is exact; a budget bounds
//! the work, and exceeding it is reported, not guessed.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use super::budget::{Budget, OutOfBudget, STATE_OVERHEAD};
use super::nfa::{Consumes, Nfa, Scratch};
use crate::glob::Glob;

/// Rules that can be the complete set of matching rules for one request, and a request that
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchSet {
    /// Indices of the matching rules, ascending.
    pub rules: Vec<usize>,
    pub action: String,
    pub resource: String,
}

/// One character class of the alphabet: `[lo, hi]` and the character that stands for it.
#[derive(Debug, Clone, Copy)]
struct Class {
    lo: u32,
    hi: u32,
    rep: char,
}

/// The classes of characters that every glob with a wildcard treats alike. Plain literals
/// take no part: their characters are followed one by one (see [`explore`]), so a policy of
/// many literal rules does not multiply its alphabet by its size.
fn alphabet(globs: &[&Glob]) -> Vec<Class> {
    let mut points = Vec::new();
    for g in globs.iter().filter(|g| g.as_literal().is_none()) {
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
    let mut classes: Vec<Class> = intervals
        .into_iter()
        .filter_map(|(lo, hi)| {
            Some(Class {
                lo,
                hi,
                rep: representative(lo, hi, &[])?,
            })
        })
        .collect();
    classes.sort_by_key(|c| readable_key(c.rep));
    classes
}

/// A readable character in `[lo, hi]` that is not in `avoid` (sorted), for example requests
/// people can read: a letter or digit if there is one, else visible ASCII, else any character
/// that is not a control. `None` when every character there is avoided.
fn representative(lo: u32, hi: u32, avoid: &[char]) -> Option<char> {
    let ok = |c: char| (lo..=hi).contains(&(c as u32)) && avoid.binary_search(&c).is_err();
    let readable = ['x', 'y', 'z', 'q']
        .into_iter()
        .chain('a'..='z')
        .chain('0'..='9')
        .chain('A'..='Z')
        .chain(['-', '_', '.', '/']);
    for c in readable {
        if ok(c) {
            return Some(c);
        }
    }
    // At most `avoid.len()` avoided characters, plus the surrogate gap, lie before a good one.
    let reach = u32::try_from(avoid.len())
        .unwrap_or(u32::MAX)
        .saturating_add(0x1000);
    let visible = (lo.max(0x21)..=hi.min(0x7e))
        .filter_map(char::from_u32)
        .find(|c| ok(*c));
    visible
        .or_else(|| {
            (lo..=hi.min(lo.saturating_add(reach)))
                .filter_map(char::from_u32)
                .find(|c| ok(*c) && !c.is_control() && !c.is_whitespace())
        })
        .or_else(|| {
            (lo..=hi.min(lo.saturating_add(reach)))
                .filter_map(char::from_u32)
                .find(|c| ok(*c))
        })
}

/// Orders characters so that the shortest example found first reads well.
fn readable_key(c: char) -> (bool, bool, bool, char) {
    (
        !c.is_ascii_lowercase(),
        !c.is_ascii_alphanumeric(),
        !c.is_ascii_graphic(),
        c,
    )
}

/// A joint state, flat: `[flags, trie node, rule, n, state × n, rule, n, ...]` with rules
/// ascending. For each rule still alive (its glob could still match) the glob states it could
/// be in; rules that can no longer match are left out, so rules that part ways early stay
/// cheap. Rules whose action is a plain literal are not listed while the action is read: the
/// node of the [`Trie`] of those literals stands for all of them at once.
type Flat = Rc<[u32]>;

const IN_RESOURCE: u32 = 1;
const ACTION_NONEMPTY: u32 = 2;
/// The separator between action and resource on the path back to the start.
const SEP: u32 = u32::MAX;

/// The live rules of a flat state: (rule, its glob states).
fn entries(flat: &[u32]) -> Vec<(usize, &[u32])> {
    let mut out = Vec::new();
    let mut i = 2;
    while i + 1 < flat.len() {
        let rule = flat[i] as usize;
        let n = flat[i + 1] as usize;
        out.push((rule, &flat[i + 2..i + 2 + n]));
        i += 2 + n;
    }
    out
}

fn encode(flags: u32, node: u32, live: &[(usize, Vec<u32>)]) -> Vec<u32> {
    let mut flat = Vec::with_capacity(2 + live.iter().map(|(_, s)| 2 + s.len()).sum::<usize>());
    flat.push(flags);
    flat.push(node);
    for (rule, set) in live {
        flat.push(u32::try_from(*rule).unwrap_or(u32::MAX));
        flat.push(u32::try_from(set.len()).unwrap_or(u32::MAX));
        flat.extend_from_slice(set);
    }
    flat
}

/// Units per glob automaton state held (its node is about 32 bytes), charged per character of
/// the glob, which makes at most one state.
const NODE_UNITS: usize = 8;

/// Units per trie node held: its child and end lists (about 100 bytes).
const TRIE_NODE_UNITS: usize = 25;

/// No trie node: the action read so far is no literal's prefix, or the resource is being read.
const NO_NODE: u32 = u32::MAX;

/// The rules whose action glob is a plain literal, as a trie of their actions: a request's
/// action is followed through it one character at a time, so that a policy of many literal
/// rules costs the total length of its literals, not their number times each joint state.
struct Trie {
    /// Per node: its children by character (sorted), and the rules whose literal ends there.
    children: Vec<Vec<(char, u32)>>,
    ends: Vec<Vec<usize>>,
}

impl Trie {
    fn new(
        literals: impl Iterator<Item = (usize, String)>,
        budget: &mut Budget,
    ) -> Result<Self, OutOfBudget> {
        let mut trie = Trie {
            children: vec![Vec::new()],
            ends: vec![Vec::new()],
        };
        for (rule, text) in literals {
            budget.charge(text.len() + 1)?;
            let mut node = 0usize;
            for c in text.chars() {
                let kids = &trie.children[node];
                node = match kids.binary_search_by_key(&c, |k| k.0) {
                    Ok(i) => kids[i].1 as usize,
                    Err(i) => {
                        let new = trie.children.len();
                        trie.children[node]
                            .insert(i, (c, u32::try_from(new).map_err(|_| OutOfBudget)?));
                        trie.children.push(Vec::new());
                        trie.ends.push(Vec::new());
                        budget.charge(TRIE_NODE_UNITS)?;
                        new
                    }
                };
            }
            trie.ends[node].push(rule);
        }
        Ok(trie)
    }

    fn child(&self, node: u32, c: char) -> u32 {
        if node == NO_NODE {
            return NO_NODE;
        }
        let kids = &self.children[node as usize];
        kids.binary_search_by_key(&c, |k| k.0)
            .map_or(NO_NODE, |i| kids[i].1)
    }

    fn keys(&self, node: u32) -> impl Iterator<Item = char> + '_ {
        let kids: &[(char, u32)] = if node == NO_NODE {
            &[]
        } else {
            &self.children[node as usize]
        };
        kids.iter().map(|k| k.0)
    }

    fn ends(&self, node: u32) -> &[usize] {
        if node == NO_NODE {
            &[]
        } else {
            &self.ends[node as usize]
        }
    }
}

/// The joint states found so far, in the order found (which is the breadth-first queue), with
/// the step each was first reached by.
struct Visited {
    states: Vec<Flat>,
    index: HashMap<Flat, u32>,
    /// (state reached from, character or [`SEP`]).
    parent: Vec<(u32, u32)>,
}

impl Visited {
    fn add(
        &mut self,
        flat: Vec<u32>,
        from: u32,
        via: u32,
        budget: &mut Budget,
    ) -> Result<(), OutOfBudget> {
        // Looking it up costs its length, even when it was seen before.
        budget.charge(flat.len())?;
        if self.index.contains_key(&flat[..]) {
            return Ok(());
        }
        budget.charge(flat.len() + STATE_OVERHEAD)?;
        let flat: Flat = flat.into();
        let id = u32::try_from(self.states.len()).map_err(|_| OutOfBudget)?;
        self.index.insert(flat.clone(), id);
        self.states.push(flat);
        self.parent.push((from, via));
        Ok(())
    }

    /// The request that first reached `state`, charged by its length.
    fn request(&self, state: u32, budget: &mut Budget) -> Result<(String, String), OutOfBudget> {
        let mut path = Vec::new();
        let mut at = state;
        while at != 0 {
            budget.charge(1)?;
            let (from, via) = self.parent[at as usize];
            path.push(via);
            at = from;
        }
        path.reverse();
        let (mut action, mut resource) = (String::new(), String::new());
        let mut in_resource = false;
        for via in path {
            if via == SEP {
                in_resource = true;
            } else if let Some(c) = char::from_u32(via) {
                if in_resource {
                    resource.push(c)
                } else {
                    action.push(c)
                }
            }
        }
        Ok((action, resource))
    }
}

/// Explores the joint language of `rules` (action glob, resource glob), charging all of its
/// work to `budget`. Only requests with a non-empty action count, as only those can be
/// decided.
///
/// From each joint state, the characters tried are those the live rules' literal positions
/// name (rules expecting exactly one character survive only on it, so they are looked up, not
/// stepped by every class) and one character of each class for the rules at a wildcard. A
/// literal rule thus costs its length, not its length times the alphabet.
pub fn explore(
    rules: &[(&Glob, &Glob)],
    budget: &mut Budget,
) -> Result<Vec<MatchSet>, OutOfBudget> {
    // The automata are held for the whole walk: charge them before building them. Literal
    // actions need none (the trie follows them).
    let built = |g: &Glob| (g.as_literal().is_none()).then_some(g.as_str().len() + 1);
    for (a, r) in rules {
        let nodes = built(a).unwrap_or(0) + r.as_str().len() + 1;
        budget.charge(nodes * NODE_UNITS)?;
    }
    let actions: Vec<Nfa> = rules
        .iter()
        .map(|(a, _)| match built(a) {
            Some(_) => Nfa::new(a),
            None => Nfa::unused(),
        })
        .collect();
    let resources: Vec<Nfa> = rules.iter().map(|(_, r)| Nfa::new(r)).collect();
    let globs: Vec<&Glob> = rules.iter().flat_map(|(a, r)| [*a, *r]).collect();
    let classes = alphabet(&globs);
    budget.charge(classes.len())?;
    let longest = actions
        .iter()
        .chain(&resources)
        .map(Nfa::len)
        .max()
        .unwrap_or(1);
    let mut scratch = Scratch::new(longest);

    let literal: Vec<bool> = rules
        .iter()
        .map(|(a, _)| a.as_literal().is_some())
        .collect();
    let trie = Trie::new(
        rules
            .iter()
            .enumerate()
            .filter_map(|(j, (a, _))| Some((j, a.as_literal()?))),
        budget,
    )?;
    let mut start = Vec::with_capacity(rules.len());
    for (j, nfa) in actions.iter().enumerate() {
        if !literal[j] {
            start.push((j, nfa.start(&mut scratch, budget)?));
        }
    }
    let mut visited = Visited {
        states: Vec::new(),
        index: HashMap::new(),
        parent: Vec::new(),
    };
    visited.add(encode(0, 0, &start), 0, 0, budget)?;
    let mut found: BTreeMap<Vec<usize>, u32> = BTreeMap::new();

    let mut next = 0usize;
    while let Some(flat) = visited.states.get(next).cloned() {
        let id = u32::try_from(next).map_err(|_| OutOfBudget)?;
        next += 1;
        let flags = flat[0];
        let node = flat[1];
        let in_resource = flags & IN_RESOURCE != 0;
        let live = entries(&flat);
        budget.charge(live.len() + 1)?;
        if in_resource {
            let matching: Vec<usize> = live
                .iter()
                .filter(|(j, set)| resources[*j].accepts(set))
                .map(|(j, _)| *j)
                .collect();
            budget.charge(matching.len())?;
            found.entry(matching).or_insert(id);
        } else if flags & ACTION_NONEMPTY != 0 {
            let mut accepted: Vec<usize> = live
                .iter()
                .filter(|(j, set)| actions[*j].accepts(set))
                .map(|(j, _)| *j)
                .chain(trie.ends(node).iter().copied())
                .collect();
            accepted.sort_unstable();
            budget.charge(accepted.len())?;
            let mut after = Vec::with_capacity(accepted.len());
            for j in accepted {
                after.push((j, resources[j].start(&mut scratch, budget)?));
            }
            visited.add(
                encode(IN_RESOURCE | ACTION_NONEMPTY, NO_NODE, &after),
                id,
                SEP,
                budget,
            )?;
        }
        let programs = if in_resource { &resources } else { &actions };

        // Rules at a literal position, by the character they expect; the others step by
        // every class.
        let mut keyed: Vec<(char, usize)> = Vec::new();
        let mut wild: Vec<usize> = Vec::new();
        for (e, (j, set)) in live.iter().enumerate() {
            match programs[*j].consumes(set) {
                Consumes::Nothing => {}
                Consumes::Wild => wild.push(e),
                Consumes::Keys => {
                    let before = keyed.len();
                    keyed.extend(programs[*j].keys(set).map(|c| (c, e)));
                    budget.charge(keyed.len() - before)?;
                }
            }
        }
        keyed.sort_unstable();
        keyed.dedup();
        let mut keys: Vec<char> = keyed.iter().map(|(c, _)| *c).collect();
        let before = keys.len();
        keys.extend(trie.keys(node));
        budget.charge(keys.len() - before)?;
        keys.sort_unstable();
        keys.dedup();
        let mut tried: Vec<char> = keys.clone();
        for class in &classes {
            let rep = if keys.binary_search(&class.rep).is_err() {
                Some(class.rep)
            } else {
                budget.charge(keys.len())?;
                representative(class.lo, class.hi, &keys)
            };
            if let Some(rep) = rep {
                tried.push(rep);
                // With no rule at a wildcard, every other character leads to the same state.
                if wild.is_empty() {
                    break;
                }
            }
        }
        tried.sort_by_key(|c| readable_key(*c));
        budget.charge(tried.len())?;

        for c in tried {
            let from_keys = keyed
                .iter()
                .skip(keyed.partition_point(|(k, _)| *k < c))
                .take_while(|(k, _)| *k == c)
                .map(|(_, e)| *e);
            let mut stepping: Vec<usize> = from_keys.chain(wild.iter().copied()).collect();
            stepping.sort_unstable();
            budget.charge(stepping.len())?;
            let mut after = Vec::with_capacity(stepping.len());
            for e in stepping {
                let (j, set) = live[e];
                let set = programs[j].step(set, c, &mut scratch, budget)?;
                if !set.is_empty() {
                    after.push((j, set));
                }
            }
            let flags = (flags & IN_RESOURCE) | ACTION_NONEMPTY;
            let node = trie.child(node, c);
            visited.add(encode(flags, node, &after), id, c as u32, budget)?;
        }
    }
    let mut out = Vec::with_capacity(found.len());
    for (rules, state) in found {
        let (action, resource) = visited.request(state, budget)?;
        out.push(MatchSet {
            rules,
            action,
            resource,
        });
    }
    Ok(out)
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
        match explore(&refs, &mut Budget::new(100_000)) {
            Ok(found) => {
                for m in &found {
                    for (j, (a, r)) in globs.iter().enumerate() {
                        let hit = a.is_match(&m.action) && r.is_match(&m.resource);
                        assert_eq!(hit, m.rules.contains(&j), "witness {m:?} for rule {j}");
                    }
                }
                found.into_iter().map(|m| m.rules).collect()
            }
            Err(OutOfBudget) => panic!("too large"),
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
        let mut small = Budget::new(20);
        assert_eq!(explore(&refs, &mut small), Err(OutOfBudget));
        assert!(small.used() <= 20);
        assert!(explore(&refs, &mut Budget::new(1_000_000)).is_ok());
    }

    #[test]
    fn an_empty_action_is_not_a_request() {
        let found = sets(&[("", "*")]);
        assert_eq!(found, vec![Vec::<usize>::new()]);
    }
}
