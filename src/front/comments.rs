//! Comments are not part of a policy's meaning, but `fmt` must not lose them. They are read
//! from the text by line and attached to the nodes of the IR by the lines those start on.

use std::collections::BTreeSet;

use super::Language;
use crate::ir::{Comments, PolicyDoc};

/// Finds comments line by line, remembering a quoted string that runs on to the next line: a
/// `#` inside it is text, not a comment.
struct Scanner {
    language: Language,
    quote: Option<char>,
}

impl Scanner {
    fn new(language: Language) -> Scanner {
        Scanner {
            language,
            quote: None,
        }
    }

    /// Where a `#` comment starts on `line`, if it has one: a `#` at the start or after
    /// whitespace, outside quotes. In YAML a quote opens a scalar only where a scalar can
    /// start (after whitespace or `[{,`), and `''` is a quote inside single quotes; in the DSL
    /// a string is `"..."` wherever it stands.
    fn comment_start(&mut self, line: &str) -> Option<usize> {
        // Most lines hold neither a `#` nor anything that changes the quote state: skip them
        // without reading them character by character.
        let bytes = line.as_bytes();
        let plain = match self.quote {
            None => memchr::memchr3(b'#', b'"', b'\'', bytes).is_none(),
            Some(q) => u8::try_from(q).is_ok_and(|q| memchr::memchr2(q, b'\\', bytes).is_none()),
        };
        if plain {
            return None;
        }
        let mut previous = ' ';
        let mut chars = line.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match self.quote {
                // `\x` escapes in double quotes.
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some('\'') if c == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') => {
                    chars.next();
                }
                Some(q) if c == q => self.quote = None,
                Some(_) => {}
                None => {
                    if c == '#' && previous.is_whitespace() {
                        return Some(i);
                    }
                    let scalar_start =
                        previous.is_whitespace() || matches!(previous, '[' | '{' | ',');
                    self.quote = match (self.language, c) {
                        (Language::Dsl, '"') => Some(c),
                        (Language::Yaml, '"' | '\'') if scalar_start => Some(c),
                        _ => None,
                    };
                }
            }
            previous = c;
        }
        None
    }
}

/// A comment's text as both printers may write it: a character that ends a line in YAML (a
/// lone `\r`) or that YAML refuses to read (NUL and the other controls but tab, a BOM, the
/// non-characters) becomes U+FFFD. Kept as it was, a `\r` in a DSL comment would end the
/// comment in the YAML that `fmt --to yaml` prints, and what followed it would become policy.
fn printable(body: &str) -> String {
    body.chars()
        .map(|c| match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}' => {
                '\u{fffd}'
            }
            _ => c,
        })
        .collect()
}

/// The lines where the document's nodes start: the places comments can be attached to.
fn anchor_lines(doc: &PolicyDoc) -> BTreeSet<u32> {
    let mut lines = BTreeSet::new();
    lines.insert(doc.span.line);
    lines.extend(doc.groups.iter().map(|g| g.name.span.line));
    lines.extend(doc.defaults.iter().map(|d| d.span.line));
    if let Some(hitl) = &doc.hitl {
        lines.insert(hitl.span.line);
        for rule in &hitl.rules {
            lines.insert(rule.span.line);
            for step in rule.chain.iter().flat_map(|c| &c.node) {
                lines.insert(step.span.line);
            }
        }
    }
    if let Some(escalation) = &doc.escalation {
        lines.insert(escalation.span.line);
        lines.extend(escalation.rules.iter().map(|r| r.span.line));
    }
    lines
}

/// Reads the comments of `text` and attaches them to `doc`.
pub fn attach(doc: &mut PolicyDoc, text: &str, language: Language) {
    if memchr::memchr(b'#', text.as_bytes()).is_none() {
        // No comment without a `#`.
        doc.comments = Comments::default();
        return;
    }
    let anchors = anchor_lines(doc);
    let mut comments = Comments::default();
    let mut scanner = Scanner::new(language);
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let Some(start) = scanner.comment_start(line) else {
            continue;
        };
        let body = line[start + 1..].trim_end();
        let body = printable(body.strip_prefix(' ').unwrap_or(body));
        let full_line = line[..start].trim().is_empty();
        let anchor = if full_line {
            anchors.range(number..).next()
        } else {
            anchors.range(..=number).next_back()
        };
        match anchor {
            Some(&at) => comments.by_line.entry(at).or_default().push(body),
            None => comments.trailing.push(body),
        }
    }
    doc.comments = comments;
}

#[cfg(test)]
mod tests {
    use super::{Language, Scanner};

    fn comment_start(line: &str) -> Option<usize> {
        Scanner::new(Language::Yaml).comment_start(line)
    }

    #[test]
    fn finds_comments_outside_quotes() {
        assert_eq!(comment_start("# top"), Some(0));
        assert_eq!(comment_start("  action: delete # why"), Some(17));
        assert_eq!(comment_start("  action: \"a #b\""), None);
        assert_eq!(comment_start("  action: a#b"), None);
        assert_eq!(comment_start("  name: 'it''s # x' # y"), Some(20));
        assert_eq!(comment_start("  name: it's # x"), Some(13));
        assert_eq!(comment_start("  name: say\"hi # x"), Some(15));
    }

    #[test]
    fn a_string_that_runs_on_hides_a_hash_on_the_next_line() {
        for language in [Language::Yaml, Language::Dsl] {
            let mut scanner = Scanner::new(language);
            assert_eq!(scanner.comment_start("  action: \"open # not"), None);
            assert_eq!(
                scanner.comment_start("  # still text\" # a comment"),
                Some(16)
            );
            assert_eq!(scanner.comment_start("# top"), Some(0));
        }
        let mut dsl = Scanner::new(Language::Dsl);
        assert_eq!(
            dsl.comment_start("rule r: it's on x -> allow # c"),
            Some(27)
        );
    }

    #[test]
    fn comments_keep_only_what_every_printer_can_write() {
        assert_eq!(
            super::printable("a\rdefaults:\x00 é\tx"),
            "a\u{fffd}defaults:\u{fffd} é\tx"
        );
        assert_eq!(super::printable("plain # text"), "plain # text");
    }
}
