//! Globs over action and resource names (spec section 2).
//!
//! A glob matches a whole string, case-sensitively, over Unicode scalar values:
//! `*` any run of characters (`/` included), `?` one character, `[abc]` / `[a-z]` / `[!a-z]` /
//! `[^a-z]` one character of (not of) a class, `{a,b}` one of several alternatives (which may
//! hold globs, but not braces), `\x` the character `x` itself.
//!
//! This module parses globs and matches them the plain way, by backtracking. It is the
//! reference that the compiled decision tree is tested against; the fast path lives in
//! [`crate::compile`].

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

    /// Whether the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        match_seq(&self.tokens, &Continuation::End, &chars)
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

/// What remains to be matched after the current sequence: the tail of an enclosing sequence
/// that an alternative was spliced into.
enum Continuation<'a> {
    End,
    Then(&'a [Token], &'a Continuation<'a>),
}

fn match_seq(tokens: &[Token], rest: &Continuation<'_>, text: &[char]) -> bool {
    let Some((first, tail)) = tokens.split_first() else {
        return match rest {
            Continuation::End => text.is_empty(),
            Continuation::Then(next, outer) => match_seq(next, outer, text),
        };
    };
    match first {
        Token::Char(c) => text.first() == Some(c) && match_seq(tail, rest, &text[1..]),
        Token::AnyOne => !text.is_empty() && match_seq(tail, rest, &text[1..]),
        Token::Class { negated, ranges } => match text.first() {
            Some(ch) => {
                let inside = ranges.iter().any(|(lo, hi)| lo <= ch && ch <= hi);
                inside != *negated && match_seq(tail, rest, &text[1..])
            }
            None => false,
        },
        Token::AnyRun => (0..=text.len()).any(|skip| match_seq(tail, rest, &text[skip..])),
        Token::Alt(alternatives) => {
            let after = Continuation::Then(tail, rest);
            alternatives.iter().any(|alt| match_seq(alt, &after, text))
        }
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
}
