//! Glob matching by automaton simulation: the glob becomes a list of states, and the text is
//! read once while tracking the set of states it could be in (Thompson's construction).

use super::Token;

enum State<'g> {
    /// Consumes one character that satisfies the test, then goes to the next state.
    One(Test<'g>),
    /// `*`: consumes any character and stays, or moves on without consuming.
    Star,
    /// Moves on without consuming to each of these states.
    Split(Vec<usize>),
    /// Moves on without consuming to that state.
    Jump(usize),
    Match,
}

enum Test<'g> {
    Char(char),
    Any,
    Class(bool, &'g [(char, char)]),
}

impl Test<'_> {
    fn accepts(&self, c: char) -> bool {
        match self {
            Test::Char(x) => *x == c,
            Test::Any => true,
            Test::Class(negated, ranges) => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
        }
    }
}

pub struct Program<'g> {
    states: Vec<State<'g>>,
}

impl<'g> Program<'g> {
    pub fn new(tokens: &'g [Token]) -> Self {
        let mut program = Program { states: Vec::new() };
        program.push_seq(tokens);
        program.states.push(State::Match);
        program
    }

    fn push_seq(&mut self, tokens: &'g [Token]) {
        for token in tokens {
            match token {
                Token::Char(c) => self.states.push(State::One(Test::Char(*c))),
                Token::AnyOne => self.states.push(State::One(Test::Any)),
                Token::Class { negated, ranges } => {
                    self.states.push(State::One(Test::Class(*negated, ranges)))
                }
                Token::AnyRun => self.states.push(State::Star),
                Token::Alt(alternatives) => {
                    let split = self.states.len();
                    self.states.push(State::Split(Vec::new()));
                    let mut starts = Vec::new();
                    let mut jumps = Vec::new();
                    for alt in alternatives {
                        starts.push(self.states.len());
                        self.push_seq(alt);
                        jumps.push(self.states.len());
                        self.states.push(State::Jump(0));
                    }
                    let after = self.states.len();
                    for j in jumps {
                        self.states[j] = State::Jump(after);
                    }
                    self.states[split] = State::Split(starts);
                }
            }
        }
    }

    /// Adds `state` and everything reachable from it without consuming a character. With an
    /// explicit stack: a glob of many stars or empty alternatives (`{,}{,}...`) is a chain of
    /// such moves as long as the glob, and the policy file sets that length.
    fn add(&self, set: &mut Vec<usize>, on: &mut [bool], state: usize) {
        let mut todo = vec![state];
        while let Some(state) = todo.pop() {
            if on[state] {
                continue;
            }
            on[state] = true;
            set.push(state);
            match &self.states[state] {
                State::Split(targets) => todo.extend(targets.iter().rev()),
                State::Jump(t) => todo.push(*t),
                State::Star => todo.push(state + 1),
                State::One(_) | State::Match => {}
            }
        }
    }

    /// The states before reading anything.
    pub fn start(&self) -> Vec<usize> {
        let mut set = Vec::new();
        let mut on = vec![false; self.states.len()];
        self.add(&mut set, &mut on, 0);
        set.sort_unstable();
        set
    }

    /// The states after reading `c` from any of `from` (sorted, so sets compare by value).
    pub fn step(&self, from: &[usize], c: char) -> Vec<usize> {
        let mut set = Vec::new();
        let mut on = vec![false; self.states.len()];
        for &s in from {
            match &self.states[s] {
                State::One(test) if test.accepts(c) => self.add(&mut set, &mut on, s + 1),
                State::Star => self.add(&mut set, &mut on, s),
                _ => {}
            }
        }
        set.sort_unstable();
        set
    }

    /// Whether a text that led to `set` is matched.
    pub fn accepts(&self, set: &[usize]) -> bool {
        set.iter().any(|&s| matches!(self.states[s], State::Match))
    }

    pub fn is_match(&self, text: &str) -> bool {
        let n = self.states.len();
        let (mut current, mut next) = (Vec::new(), Vec::new());
        let (mut on_current, mut on_next) = (vec![false; n], vec![false; n]);
        self.add(&mut current, &mut on_current, 0);
        for c in text.chars() {
            for &s in &current {
                match &self.states[s] {
                    State::One(test) if test.accepts(c) => self.add(&mut next, &mut on_next, s + 1),
                    State::Star => self.add(&mut next, &mut on_next, s),
                    _ => {}
                }
            }
            if next.is_empty() {
                return false;
            }
            std::mem::swap(&mut current, &mut next);
            std::mem::swap(&mut on_current, &mut on_next);
            next.clear();
            on_next.iter_mut().for_each(|b| *b = false);
        }
        current
            .iter()
            .any(|&s| matches!(self.states[s], State::Match))
    }
}
