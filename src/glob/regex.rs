//! Translation of a glob to regular-expression syntax, for the compiled matcher.

use std::fmt::Write as _;

use super::Token;

pub(super) fn to_regex(tokens: &[Token]) -> String {
    let mut out = String::new();
    push_seq(&mut out, tokens);
    out
}

fn push_seq(out: &mut String, tokens: &[Token]) {
    for token in tokens {
        match token {
            Token::Char(c) => push_char(out, *c),
            Token::AnyOne => out.push_str("(?s:.)"),
            Token::AnyRun => out.push_str("(?s:.*)"),
            Token::Class { negated, ranges } => {
                out.push('[');
                if *negated {
                    out.push('^');
                }
                for (lo, hi) in ranges {
                    push_class_char(out, *lo);
                    if lo != hi {
                        out.push('-');
                        push_class_char(out, *hi);
                    }
                }
                out.push(']');
            }
            Token::Alt(alternatives) => {
                out.push_str("(?:");
                for (i, alt) in alternatives.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    push_seq(out, alt);
                }
                out.push(')');
            }
        }
    }
}

fn push_char(out: &mut String, c: char) {
    if c.is_alphanumeric() || c == '_' {
        out.push(c);
    } else {
        push_class_char(out, c);
    }
}

/// Any character written by code point, which is valid both inside and outside a class and
/// never a meta character.
fn push_class_char(out: &mut String, c: char) {
    let _ = write!(out, "\\x{{{:X}}}", c as u32);
}
