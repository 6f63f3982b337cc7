//! Globs over action and resource names (spec section 2).
//!
//! A glob matches a whole string, case-sensitively, over Unicode scalar values:
//! `*` any run of characters (`/` included), `?` one character, `[abc]` / `[a-z]` / `[!a-z]` /
//! `[^a-z]` one character of (not of) a class, `{a,b}` one of several alternatives (which may
//! hold globs, but not braces), `\x` the character `x` itself.
//!
//! This module parses globs and matches them the plain way, by simulating the glob as a
//! small automaton one character at a time. It is the reference that the compiled decision
//! tree is tested against.

mod nfa;

pub use nfa::Program;
mod parse;
mod regex;

use std::fmt;

pub use parse::GlobError;

/// One element of a parsed glob.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Token {
    /// A character that stands for itself.
    Char(char),
    /// `?`
    AnyOne,
    /// `*`
    AnyRun,
    /// `[...]`: inclusive character ranges (a single char `c` is `(c, c)`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `{a,b,...}`: each alternative is a sequence without further `Alt`s.
    Alt(Vec<Vec<Token>>),
}

/// A parsed glob. Two globs are equal when they are written the same.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Glob {}

impl std::hash::Hash for Glob {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state)
    }
}

impl Glob {
    /// Parses a glob, or says what is malformed and at which character.
    pub fn new(text: &str) -> Result<Glob, GlobError> {
        let tokens = parse::parse(text)?;
        Ok(Glob {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The glob that matches everything.
    pub fn any() -> Glob {
        Glob {
            text: "*".into(),
            tokens: vec![Token::AnyRun],
        }
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// True when the glob is exactly `*`.
    pub fn is_any(&self) -> bool {
        self.tokens == [Token::AnyRun]
    }

    /// The string this glob matches, when it matches exactly one (no wildcard at all).
    pub fn as_literal(&self) -> Option<String> {
        self.tokens
            .iter()
            .map(|t| match t {
                Token::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Whether the whole of `text` matches. Runs in time proportional to the text's length
    /// times the glob's, whatever the glob: request strings come from agents, and a pattern
    /// like `*a*a*a*b` must not make a backtracking matcher explode on them.
    pub fn is_match(&self, text: &str) -> bool {
        nfa::Program::new(&self.tokens).is_match(text)
    }

    /// The glob as an automaton that can be stepped one character at a time, for analyses
    /// that explore the languages of several globs together.
    pub fn program(&self) -> Program<'_> {
        Program::new(&self.tokens)
    }

    /// Every character the glob names (in literals and class bounds): the points where its
    /// behaviour can change, so that characters between two of them are all treated alike.
    pub fn boundary_chars(&self, out: &mut Vec<char>) {
        fn walk(tokens: &[Token], out: &mut Vec<char>) {
            for t in tokens {
                match t {
                    Token::Char(c) => out.push(*c),
                    Token::Class { ranges, .. } => {
                        for (lo, hi) in ranges {
                            out.push(*lo);
                            out.push(*hi);
                        }
                    }
                    Token::Alt(alts) => alts.iter().for_each(|a| walk(a, out)),
                    Token::AnyOne | Token::AnyRun => {}
                }
            }
        }
        walk(&self.tokens, out);
    }

    /// The glob as a regular expression (regex-automata / regex syntax), without anchors.
    pub fn to_regex(&self) -> String {
        regex::to_regex(&self.tokens)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, text: &str) -> bool {
        Glob::new(glob).unwrap().is_match(text)
    }

    #[test]
    fn the_spec_features() {
        assert!(m("*", ""));
        assert!(m("*", "a/b/c"));
        assert!(m("deploy*", "deploy-prod"));
        assert!(!m("deploy*", "redeploy"));
        assert!(m("prod-?", "prod-1"));
        assert!(!m("prod-?", "prod-12"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("{db,cache}/*", "cache/users"));
        assert!(m("{a*,b?}z", "bqz"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("é?", "éü"));
        assert!(!m("Deploy", "deploy"));
        assert!(m("{,x}y", "y"));
    }

    #[test]
    fn many_stars_do_not_backtrack_exponentially() {
        let glob = Glob::new("*a*a*a*a*a*a*a*a*a*a*b").unwrap();
        let text = "a".repeat(2000);
        assert!(!glob.is_match(&text));
        assert!(glob.is_match(&(text + "b")));
    }
}
