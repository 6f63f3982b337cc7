//! Sorting globs into the cheapest way to match them, as globset's `MatchStrategy` does.
//!
//! Most globs in real policies are exact names (`delete`, `db/users`) or a name and a star
//! (`deploy*`, `svc_42/env_*`, `*`, `*/env`, `svc_*/env`). Such a glob matches `s` exactly
//! when `s` equals, or starts and ends with, fixed strings: hash lookups, not an automaton
//! walk. Small alternations (`{db,cache}/*`) expand into a few of these. Everything else
//! (`?`, classes, two stars apart) is left to the complex-glob matcher.

use crate::glob::{Glob, Token};

use super::table::{bytes_eq, ends_with, starts_with};

/// The most simple forms one glob may expand to; more goes to the automaton.
pub(crate) const MAX_FORMS: usize = 16;

/// A glob the index can match without an automaton.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Simple {
    /// Matches this string only.
    Exact(String),
    /// Matches every string that starts with this one (`""` matches everything).
    Prefix(String),
    /// Matches every string that starts with the first, ends with the second (not empty),
    /// and is at least as long as both: one star between two texts (`*/env`, `svc_*/env`).
    /// Only resources take this form: the index finds rules by their action's start.
    Affix(String, String),
}

impl Simple {
    #[cfg(test)]
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        match self {
            Simple::Exact(e) => e.as_bytes() == s,
            Simple::Prefix(p) => s.starts_with(p.as_bytes()),
            Simple::Affix(p, x) => {
                s.len() >= p.len() + x.len()
                    && s.starts_with(p.as_bytes())
                    && s.ends_with(x.as_bytes())
            }
        }
    }

    /// Whether the form is a start of the string (exact or prefix): what an action's form
    /// must be for the index to find its rule.
    pub(crate) fn is_head(&self) -> bool {
        !matches!(self, Simple::Affix(..))
    }
}

/// The simple forms whose union matches what `glob` matches, or `None` when the glob needs
/// the automaton.
pub(crate) fn simple_forms(glob: &Glob) -> Option<Vec<Simple>> {
    if !glob.tokens().iter().any(|t| matches!(t, Token::Alt(_))) {
        let tokens: Vec<&Token> = glob.tokens().iter().collect();
        return simple(&tokens).map(|form| vec![form]);
    }
    let mut sequences: Vec<Vec<&Token>> = vec![Vec::new()];
    for token in glob.tokens() {
        match token {
            Token::Alt(alternatives) => {
                if sequences.len().saturating_mul(alternatives.len()) > MAX_FORMS {
                    return None;
                }
                sequences = sequences
                    .iter()
                    .flat_map(|seq| {
                        alternatives.iter().map(move |alt| {
                            let mut longer = seq.clone();
                            longer.extend(alt.iter());
                            longer
                        })
                    })
                    .collect();
            }
            other => sequences.iter_mut().for_each(|seq| seq.push(other)),
        }
    }
    let mut forms = sequences
        .into_iter()
        .map(|seq| simple(&seq))
        .collect::<Option<Vec<_>>>()?;
    forms.sort();
    forms.dedup();
    Some(forms)
}

/// A glob of literal text and stars only (`svc_1*.delete`, `*/env_prod`), as its pieces
/// between the stars: matched by finding the pieces in order, without an automaton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stars {
    /// One more piece than stars; pieces may be empty.
    pieces: Vec<String>,
}

impl Stars {
    pub(crate) fn new(glob: &Glob) -> Option<Stars> {
        let mut pieces = vec![String::new()];
        for token in glob.tokens() {
            match token {
                Token::AnyRun => pieces.push(String::new()),
                Token::Char(c) => pieces.last_mut()?.push(*c),
                Token::Class {
                    negated: false,
                    ranges,
                } if ranges.len() == 1 && ranges[0].0 == ranges[0].1 => {
                    pieces.last_mut()?.push(ranges[0].0)
                }
                _ => return None,
            }
        }
        Some(Stars { pieces })
    }

    /// Whether the whole of `s` matches. Finding each middle piece at its leftmost place is
    /// enough: a star can always take what comes before.
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        let Some((first, rest)) = self.pieces.split_first() else {
            return s.is_empty();
        };
        let Some((last, middle)) = rest.split_last() else {
            return bytes_eq(s, first.as_bytes());
        };
        let (first, last) = (first.as_bytes(), last.as_bytes());
        if s.len() < first.len() + last.len() || !starts_with(s, first) || !ends_with(s, last) {
            return false;
        }
        let mut s = s.get(first.len()..s.len() - last.len()).unwrap_or_default();
        for piece in middle {
            let piece = piece.as_bytes();
            if piece.is_empty() {
                continue;
            }
            // memchr's two-way search: linear in the text whatever the piece, where trying
            // every place would be their product.
            match memchr::memmem::find(s, piece) {
                Some(at) => s = s.get(at + piece.len()..).unwrap_or_default(),
                None => return false,
            }
        }
        true
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.pieces.capacity() * std::mem::size_of::<String>()
            + self.pieces.iter().map(String::capacity).sum::<usize>()
    }
}

/// The characters every string the glob matches starts with (`""` when it starts with a
/// wildcard): a cheap test before an automaton walk.
pub(crate) fn literal_prefix(glob: &Glob) -> String {
    let mut out = String::new();
    for token in glob.tokens() {
        match token {
            Token::Char(c) => out.push(*c),
            Token::Class {
                negated: false,
                ranges,
            } if ranges.len() == 1 && ranges[0].0 == ranges[0].1 => out.push(ranges[0].0),
            _ => break,
        }
    }
    out
}

/// One sequence without alternations: literal characters, at most one run of stars, and
/// literal characters again.
fn simple(tokens: &[&Token]) -> Option<Simple> {
    let mut head = String::new();
    let mut tail = String::new();
    let mut star = false;
    for token in tokens {
        let c = match token {
            Token::AnyRun if tail.is_empty() => {
                star = true;
                continue;
            }
            Token::Char(c) => *c,
            Token::Class {
                negated: false,
                ranges,
            } if ranges.len() == 1 && ranges[0].0 == ranges[0].1 => ranges[0].0,
            _ => return None,
        };
        if star { &mut tail } else { &mut head }.push(c);
    }
    Some(match (star, tail.is_empty()) {
        (false, _) => Simple::Exact(head),
        (true, true) => Simple::Prefix(head),
        (true, false) => Simple::Affix(head, tail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(g: &str) -> Option<Vec<Simple>> {
        simple_forms(&Glob::new(g).unwrap())
    }

    fn e(s: &str) -> Simple {
        Simple::Exact(s.into())
    }

    fn p(s: &str) -> Simple {
        Simple::Prefix(s.into())
    }

    fn a(head: &str, tail: &str) -> Simple {
        Simple::Affix(head.into(), tail.into())
    }

    #[test]
    fn globs_sort_into_exact_prefix_or_automaton() {
        assert_eq!(forms("delete"), Some(vec![e("delete")]));
        assert_eq!(forms(""), Some(vec![e("")]));
        assert_eq!(forms("*"), Some(vec![p("")]));
        assert_eq!(forms("svc_42/env_*"), Some(vec![p("svc_42/env_")]));
        assert_eq!(forms("{db,cache}/*"), Some(vec![p("cache/"), p("db/")]));
        assert_eq!(forms("a{*,b}"), Some(vec![e("ab"), p("a")]));
        assert_eq!(forms("a{*,}*"), Some(vec![p("a")]));
        assert_eq!(forms("\\*x"), Some(vec![e("*x")]));
        assert_eq!(forms("[x]é"), Some(vec![e("xé")]));
        assert_eq!(forms("*.delete"), Some(vec![a("", ".delete")]));
        assert_eq!(forms("svc_*/env"), Some(vec![a("svc_", "/env")]));
        assert_eq!(forms("svc_**/env"), Some(vec![a("svc_", "/env")]));
        assert_eq!(forms("{a,b*}c"), Some(vec![e("ac"), a("b", "c")]));
        assert_eq!(forms("*a*"), None);
        assert_eq!(forms("a*b*"), None);
        assert_eq!(forms("*a?"), None);
        assert_eq!(forms("a?"), None);
        assert_eq!(forms("[ab]"), None);
        assert_eq!(forms("[!a]"), None);
        assert_eq!(forms("{a,b}{c,d}{e,f}{g,h}{i,j}"), None);
        assert_eq!(forms("{a,b}{c,d}{e,f}{g,h}").map(|f| f.len()), Some(16));
    }

    #[test]
    fn star_globs_match_as_the_glob_does() {
        let texts = [
            "",
            "a",
            "svc_1.delete",
            "svc_1x.delete",
            "svc_2.delete",
            "svc_1.deletex",
            "x/env_prod",
            "/env_prod",
            "env_prod",
            "aXbXc",
            "abc",
            "ac",
            "a*c",
            "ééé",
        ];
        for g in [
            "svc_1*.delete",
            "*/env_prod",
            "*",
            "",
            "a*b*c",
            "a**c",
            "*é*",
            "a\\*c",
            "[a]*",
            "*a*a*",
            "abc",
        ] {
            let glob = Glob::new(g).unwrap();
            let stars = Stars::new(&glob).unwrap();
            for t in texts {
                assert_eq!(stars.matches(t.as_bytes()), glob.is_match(t), "{g} on {t}");
            }
        }
        assert_eq!(Stars::new(&Glob::new("a?").unwrap()), None);
        assert_eq!(Stars::new(&Glob::new("{a,b}").unwrap()), None);
    }

    #[test]
    fn literal_prefixes_stop_at_the_first_wildcard() {
        let prefix = |g: &str| literal_prefix(&Glob::new(g).unwrap());
        assert_eq!(prefix("svc_1*.delete"), "svc_1");
        assert_eq!(prefix("a[b]c?d"), "abc");
        assert_eq!(prefix("{a,b}c"), "");
        assert_eq!(prefix("*x"), "");
        assert_eq!(prefix("\\*é[!x]"), "*é");
    }

    #[test]
    fn simple_forms_match_as_the_glob_does() {
        for (g, texts) in [
            ("svc_*", &["svc_", "svc_1", "svc", "xsvc_1", ""][..]),
            ("{db,cache}/*", &["db/", "cache/x", "db", "dbx/", "x/"][..]),
            ("a{*,b}", &["a", "ab", "abc", "b"][..]),
            (
                "*/env",
                &["/env", "x/env", "/env/", "env", "x/envx", ""][..],
            ),
            (
                "svc_*/env",
                &["svc_/env", "svc_1/env", "svc/env", "svc_/en", "svc_env"][..],
            ),
            ("ab*ba", &["abba", "aba", "ab", "abxba", "abab"][..]),
        ] {
            let glob = Glob::new(g).unwrap();
            let forms = simple_forms(&glob).unwrap();
            for t in texts {
                assert_eq!(
                    forms.iter().any(|f| f.matches(t.as_bytes())),
                    glob.is_match(t),
                    "{g} on {t}"
                );
            }
        }
    }
}
