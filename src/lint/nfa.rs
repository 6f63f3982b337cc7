//! A glob as an automaton for the lint's joint exploration. Unlike the matcher's, a step here
//! costs only the states it touches (visited marks are stamped, not cleared), the closure is a
//! loop rather than a recursion, and every step is charged to the analysis budget, so a glob of
//! a million characters or of thousands of stars costs what it is used for and no more.

use super::budget::{Budget, OutOfBudget};
use crate::glob::{Glob, Token};

/// What a glob state does with the next character.
enum Node {
    /// Consumes exactly this character.
    Char(char),
    /// Consumes one character of the class (sorted, merged ranges), or of its complement.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `?`: consumes any one character.
    Any,
    /// `*`: consumes any character and stays, or moves on without consuming.
    Star,
    /// Moves on without consuming to each of these.
    Split(Vec<u32>),
    /// Moves on without consuming to this one.
    Jump(u32),
    /// The whole text matched; always the last node.
    Match,
}

/// How the states of a set can consume the next character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumes {
    /// Nothing: the set dies on any character.
    Nothing,
    /// Only the characters of its `Char` states, listed by [`Nfa::keys`].
    Keys,
    /// Some state takes a class, `?` or `*`.
    Wild,
}

/// A glob's automaton. States are numbered; sets of states are sorted `u32` lists.
pub struct Nfa {
    nodes: Vec<Node>,
}

/// Reusable scratch space for stepping any automaton up to `len` states.
pub struct Scratch {
    stamp: Vec<u32>,
    generation: u32,
    stack: Vec<u32>,
}

impl Scratch {
    pub fn new(len: usize) -> Self {
        Scratch {
            stamp: vec![0; len],
            generation: 0,
            stack: Vec::new(),
        }
    }

    fn next_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
    }
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Nfa {
    pub fn new(glob: &Glob) -> Self {
        let mut nodes = Vec::new();
        for token in glob.tokens() {
            match token {
                Token::Alt(alternatives) => {
                    let split = nodes.len();
                    nodes.push(Node::Split(Vec::new()));
                    let mut starts = Vec::new();
                    let mut jumps = Vec::new();
                    for alt in alternatives {
                        starts.push(index(nodes.len()));
                        alt.iter().for_each(|t| push_simple(&mut nodes, t));
                        jumps.push(nodes.len());
                        nodes.push(Node::Jump(0));
                    }
                    let after = index(nodes.len());
                    for j in jumps {
                        nodes[j] = Node::Jump(after);
                    }
                    nodes[split] = Node::Split(starts);
                }
                simple => push_simple(&mut nodes, simple),
            }
        }
        nodes.push(Node::Match);
        Nfa { nodes }
    }

    /// A stand-in for a glob that is followed another way (a literal, through the trie): it
    /// holds no state worth stepping.
    pub fn unused() -> Self {
        Nfa {
            nodes: vec![Node::Match],
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The states before reading anything.
    pub fn start(
        &self,
        scratch: &mut Scratch,
        budget: &mut Budget,
    ) -> Result<Vec<u32>, OutOfBudget> {
        scratch.next_generation();
        let mut out = Vec::new();
        self.close(0, scratch, &mut out, budget)?;
        out.sort_unstable();
        Ok(out)
    }

    /// The states after reading `c` from any of `from`, sorted.
    pub fn step(
        &self,
        from: &[u32],
        c: char,
        scratch: &mut Scratch,
        budget: &mut Budget,
    ) -> Result<Vec<u32>, OutOfBudget> {
        budget.charge(from.len())?;
        scratch.next_generation();
        let mut out = Vec::new();
        for &s in from {
            let to = match &self.nodes[s as usize] {
                Node::Char(x) if *x == c => s + 1,
                Node::Any => s + 1,
                Node::Class { negated, ranges } if in_ranges(ranges, c) != *negated => s + 1,
                Node::Star => s,
                _ => continue,
            };
            self.close(to, scratch, &mut out, budget)?;
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Adds `state` and everything reachable from it without consuming, charging each state
    /// looked at.
    fn close(
        &self,
        state: u32,
        scratch: &mut Scratch,
        out: &mut Vec<u32>,
        budget: &mut Budget,
    ) -> Result<(), OutOfBudget> {
        scratch.stack.clear();
        scratch.stack.push(state);
        while let Some(s) = scratch.stack.pop() {
            budget.charge(1)?;
            let mark = &mut scratch.stamp[s as usize];
            if *mark == scratch.generation {
                continue;
            }
            *mark = scratch.generation;
            out.push(s);
            match &self.nodes[s as usize] {
                Node::Split(targets) => scratch.stack.extend(targets.iter().rev()),
                Node::Jump(t) => scratch.stack.push(*t),
                Node::Star => scratch.stack.push(s + 1),
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether a text that led to `set` is matched (the match state is the last, and sets are
    /// sorted).
    pub fn accepts(&self, set: &[u32]) -> bool {
        set.last()
            .is_some_and(|&s| s as usize + 1 == self.nodes.len())
    }

    /// How the set can consume the next character.
    pub fn consumes(&self, set: &[u32]) -> Consumes {
        let mut out = Consumes::Nothing;
        for &s in set {
            match self.nodes[s as usize] {
                Node::Char(_) => out = Consumes::Keys,
                Node::Any | Node::Class { .. } | Node::Star => return Consumes::Wild,
                _ => {}
            }
        }
        out
    }

    /// The characters the set's `Char` states consume (with repeats).
    pub fn keys<'a>(&'a self, set: &'a [u32]) -> impl Iterator<Item = char> + 'a {
        set.iter().filter_map(|&s| match self.nodes[s as usize] {
            Node::Char(c) => Some(c),
            _ => None,
        })
    }
}

fn push_simple(nodes: &mut Vec<Node>, token: &Token) {
    nodes.push(match token {
        Token::Char(c) => Node::Char(*c),
        Token::AnyOne => Node::Any,
        Token::AnyRun => Node::Star,
        Token::Class { negated, ranges } => Node::Class {
            negated: *negated,
            ranges: merged(ranges),
        },
        // Alternatives do not nest (the glob parser refuses it); an empty one matches nothing
        // more than the empty string, which is what a jump to the next state does.
        Token::Alt(_) => Node::Jump(index(nodes.len() + 1)),
    });
}

fn merged(ranges: &[(char, char)]) -> Vec<(char, char)> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut out: Vec<(char, char)> = Vec::with_capacity(sorted.len());
    for (lo, hi) in sorted {
        match out.last_mut() {
            Some(last) if (lo as u32) <= (last.1 as u32).saturating_add(1) => {
                last.1 = last.1.max(hi);
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

fn in_ranges(ranges: &[(char, char)], c: char) -> bool {
    let i = ranges.partition_point(|r| r.1 < c);
    ranges.get(i).is_some_and(|r| r.0 <= c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(nfa: &Nfa, text: &str) -> bool {
        let mut scratch = Scratch::new(nfa.len());
        let mut budget = Budget::new(usize::MAX);
        let mut set = nfa.start(&mut scratch, &mut budget).unwrap();
        for c in text.chars() {
            set = nfa.step(&set, c, &mut scratch, &mut budget).unwrap();
        }
        nfa.accepts(&set)
    }

    fn glob() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "b", "*", "?", "[ab]", "[!a]", "{a,b*}", "{,b}", "[b-c]",
            ]),
            0..6,
        )
        .prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn steps_match_what_the_glob_matches(g in glob(), text in "[abc]{0,6}") {
            let glob = Glob::new(&g).unwrap();
            prop_assert_eq!(matches(&Nfa::new(&glob), &text), glob.is_match(&text), "{} on {:?}", g, text);
        }
    }

    #[test]
    fn a_long_literal_steps_in_constant_work() {
        let glob = Glob::new(&"x".repeat(100_000)).unwrap();
        let nfa = Nfa::new(&glob);
        let mut scratch = Scratch::new(nfa.len());
        let mut budget = Budget::new(usize::MAX);
        let mut set = nfa.start(&mut scratch, &mut budget).unwrap();
        for _ in 0..100_000 {
            set = nfa.step(&set, 'x', &mut scratch, &mut budget).unwrap();
        }
        assert!(nfa.accepts(&set));
        assert!(budget.used() <= 3 * 100_001, "{}", budget.used());
    }
}
