//! The DSL front end (`.rkl`): text -> the same IR as YAML, with spans into the `.rkl` text.
//!
//! The pest grammar in `grammar/policy.pest` defines the syntax. A hand-written parser that
//! follows it (`parser`, on the tokens of `lexer`) reads the texts the grammar accepts, several
//! times faster than pest's parse and walk of its tree (`build`); on any text it refuses, pest
//! parses it again so that syntax errors are described as the grammar sees them. Both read
//! tokens into the IR through `words`, so they report alike.

mod build;
mod lexer;
mod parser;
mod positions;
mod syntax_error;
mod words;

use pest::Parser as _;

use super::Parsed;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/policy.pest"]
pub(crate) struct PolicyParser;

/// Parses DSL policy text into the IR, with every problem found on the way.
pub fn parse(text: &str) -> Parsed {
    parse_fast(text).unwrap_or_else(|| parse_by_grammar(text))
}

/// The hand-written parser alone: `None` for a text the grammar refuses. [`parse`] gives the
/// same for every text the grammar accepts.
pub fn parse_fast(text: &str) -> Option<Parsed> {
    parser::parse(text)
}

/// The pest grammar's parse and a walk of its tree, the definition [`parse_fast`] follows.
pub fn parse_by_grammar(text: &str) -> Parsed {
    match PolicyParser::parse(Rule::file, text) {
        Ok(mut pairs) => {
            let mut builder = build::Builder::new(text);
            let doc = pairs.next().and_then(|file| builder.file(file));
            Parsed {
                doc,
                diagnostics: builder.diagnostics,
                tainted: builder.tainted,
            }
        }
        Err(e) => Parsed::failed(syntax_error::describe(&e, text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::scanned;

    /// A DSL policy of `n` rules, each with globs, approvers and options to locate.
    pub(crate) fn policy_of(n: usize, principal: &str) -> String {
        let mut out = String::from("policy \"big\" version 1\nhitl {\n");
        for i in 0..n {
            out.push_str(&format!(
                "  rule r{i}: \"deploy-{i}*\" on \"prod/{i}\" -> require approval from [{principal}{i}] timeout 1h notify [slack]\n"
            ));
        }
        out.push_str("}\n");
        out
    }

    /// Bytes read to locate every node of a parse of `text`.
    fn located(text: &str) -> (usize, Parsed) {
        scanned::take();
        let parsed = parse(text);
        (scanned::take(), parsed)
    }

    #[test]
    fn locating_nodes_costs_the_same_per_rule_at_any_size() {
        // A non-ASCII principal, so that lines are scanned (an ASCII line's column is a byte
        // count, with nothing to scan).
        let (small, parsed) = located(&policy_of(500, "user:é"));
        assert!(parsed.diagnostics.is_empty());
        let (large, parsed) = located(&policy_of(2_000, "user:é"));
        assert!(parsed.diagnostics.is_empty());
        let rules = &parsed.doc.unwrap().hitl.unwrap().rules;
        assert_eq!(rules.len(), 2_000);
        assert_eq!(rules[1_999].span.line, 2_002);
        assert_eq!(
            (rules[1_999].action.span.line, rules[1_999].action.span.col),
            (2_002, 15)
        );
        // Four times the rules, about four times the work: reading from the file's start for
        // each position would be sixteen.
        assert!(
            large <= small * 9 / 2,
            "500 rules: {small} bytes, 2,000 rules: {large}"
        );
        assert!(large > 0);
    }

    #[test]
    fn many_errors_are_located_and_rendered_in_linear_work() {
        let render = |n: usize| {
            let text = policy_of(n, "nobody");
            let parsed = parse(&text);
            assert_eq!(parsed.diagnostics.len(), n, "one bad principal per rule");
            let error = crate::diagnostic::PolicyError::new(
                crate::source::Source::new("big.rkl", text.as_str()),
                parsed.diagnostics,
            );
            scanned::take();
            let out = error.render();
            (scanned::take(), out)
        };
        let (small, _) = render(500);
        let (large, out) = render(2_000);
        assert!(
            out.contains("big.rkl:2002:"),
            "the last rule's error is rendered"
        );
        assert_eq!(out.matches(": error: ").count(), 2_000);
        assert!(
            large <= small * 9 / 2,
            "500 errors: {small} bytes, 2,000 errors: {large}"
        );
    }

    /// Whether `text` is one whole token of `rule`.
    fn whole(rule: Rule, text: &str) -> bool {
        PolicyParser::parse(rule, text)
            .ok()
            .and_then(|mut pairs| pairs.next())
            .is_some_and(|pair| pair.as_str() == text)
    }

    #[test]
    fn bare_globs_principals_and_strings_take_every_character_but_their_stops() {
        // The characters that end each token, as the grammar first said them with lookaheads.
        let glob_stops = " \t\r\n\"#,:()[]{}>\\";
        let principal_stops = " \t\r\n,[]#\"";
        let samples = (0u32..0x300)
            .chain([
                0x7ff, 0x800, 0xfeff, 0xfffd, 0xffff, 0x1_0000, 0x1f600, 0x10_ffff,
            ])
            .filter_map(char::from_u32);
        for c in samples {
            let glob_takes = !glob_stops.contains(c);
            assert_eq!(
                whole(Rule::bare_glob, &format!("a{c}b")),
                glob_takes,
                "{c:?}"
            );
            assert_eq!(
                whole(Rule::bare_glob, &format!("{c}b")),
                glob_takes && c != '-',
                "{c:?}"
            );
            let principal_takes = !principal_stops.contains(c);
            assert_eq!(
                whole(Rule::principal, &format!("a{c}b")),
                principal_takes,
                "{c:?}"
            );
            let in_string = match c {
                '"' => false,
                '\\' => whole(Rule::string, "\"a\\\\b\""),
                _ => true,
            };
            assert_eq!(
                whole(Rule::string, &format!("\"a{c}b\"")),
                in_string,
                "{c:?}"
            );
        }
        assert!(whole(Rule::string, "\"a\\\"b\""));
    }

    /// Where `token` ends when it matches the start of `text`, as the lexer says and as the
    /// grammar's `rule` says.
    fn both_ends(rule: Rule, token: lexer::Token, text: &str) -> (Option<usize>, Option<usize>) {
        let grammar = PolicyParser::parse(rule, text)
            .ok()
            .and_then(|mut pairs| pairs.next())
            .map(|pair| pair.as_span().end());
        (token(text.as_bytes(), 0), grammar)
    }

    #[test]
    fn the_lexer_ends_each_token_where_the_grammar_does() {
        let samples: Vec<char> = (0u32..0x300)
            .chain([0x7ff, 0x800, 0xfeff, 0xfffd, 0x1f600, 0x10_ffff])
            .filter_map(char::from_u32)
            .collect();
        let mut compared = 0;
        for c in &samples {
            for text in [
                format!("a{c}b"),
                format!("{c}b"),
                format!("\"a{c}b\" x"),
                format!("\"a\\{c}\"{c}"),
                format!("1{c}"),
                format!("12ms{c}"),
                format!("5m{c}"),
                format!("-1.5e{c}3"),
                format!("1.{c}"),
                format!("deny{c}"),
                format!("version{c}"),
                format!("on{c}x"),
            ] {
                let classes: [(Rule, lexer::Token); 10] = [
                    (Rule::bare_glob, lexer::bare_glob),
                    (Rule::principal, lexer::principal),
                    (Rule::word, lexer::word),
                    (Rule::string, lexer::string),
                    (Rule::integer, lexer::integer),
                    (Rule::number, lexer::number),
                    (Rule::duration, lexer::duration),
                    (Rule::outcome, lexer::outcome),
                    (Rule::kw_version, lexer::kw_version),
                    (Rule::kw_on, lexer::kw_on),
                ];
                for (rule, token) in classes {
                    let (lexer, grammar) = both_ends(rule, token, &text);
                    assert_eq!(lexer, grammar, "{rule:?} on {text:?}");
                    compared += usize::from(grammar.is_some());
                }
            }
        }
        // Most comparisons are of tokens that match, not of two refusals.
        assert!(compared > samples.len() * 12, "{compared}");
    }

    #[test]
    fn the_grammar_skips_what_the_lexer_skips() {
        for gap in [" ", "\t\r\n", "# c\n", "# c\n  # d\r\n\t", "#\u{0}é\r \n"] {
            let text = format!("policy{gap}version{gap}1{gap}");
            let at = lexer::skip(text.as_bytes(), "policy".len());
            assert_eq!(&text[at..at + "version".len()], "version", "{gap:?}");
            assert_eq!(
                lexer::skip(text.as_bytes(), text.len() - gap.len()),
                text.len()
            );
            assert!(PolicyParser::parse(Rule::file, &text).is_ok(), "{gap:?}");
        }
        // A form feed or a non-breaking space is not whitespace to either.
        for odd in ["\u{c}", "\u{a0}", "\u{feff}"] {
            assert_eq!(lexer::skip(odd.as_bytes(), 0), 0);
            assert!(PolicyParser::parse(Rule::file, &format!("policy version 1{odd}")).is_err());
        }
    }

    #[test]
    fn a_valid_text_never_reaches_the_grammar_and_an_invalid_one_always_does() {
        let valid = policy_of(3, "user:a");
        assert!(parse_fast(&valid).is_some());
        let broken = valid.replace("-> require", "require");
        assert!(parse_fast(&broken).is_none());
        let parsed = parse(&broken);
        assert!(parsed.doc.is_none());
        assert!(matches!(
            parsed.diagnostics[0].kind,
            crate::diagnostic::ErrorKind::Syntax { .. }
        ));
    }

    #[test]
    fn errors_on_one_long_line_quote_a_window_of_it() {
        let text = policy_of(3_000, "nobody").replace('\n', " ");
        let parsed = parse(&text);
        assert_eq!(parsed.diagnostics.len(), 3_000);
        let last = parsed.diagnostics.last().unwrap().span;
        let error = crate::diagnostic::PolicyError::new(
            crate::source::Source::new("one.rkl", text.as_str()),
            parsed.diagnostics,
        );
        scanned::take();
        let out = error.render();
        assert!(scanned::take() <= 3_000 * 8 * crate::source::LineIndex::STRIDE);
        // Each message quotes at most its context, not the 300 KB line.
        assert!(out.len() <= 3_000 * 700, "{} bytes", out.len());
        let tail = &out[out.rfind("one.rkl:").unwrap()..];
        assert!(
            tail.starts_with(&format!("one.rkl:1:{}: error:", last.col)),
            "{tail}"
        );
        let quoted: Vec<&str> = tail.lines().collect();
        let caret = quoted[3].find('^').unwrap();
        assert_eq!(&quoted[2][caret..caret + 7], "nobody2", "{tail}");
        assert!(
            quoted[2].contains("| ...") && quoted[2].ends_with("} "),
            "{tail}"
        );
        let head: Vec<&str> = out.lines().take(3).collect();
        assert!(
            head[2].starts_with("1 | ...") && head[2].ends_with("..."),
            "{}",
            head[2]
        );
    }
}
