//! Comments are not part of a policy's meaning, but `fmt` must not lose them. They are read
//! from the text by line and attached to the nodes of the IR by the lines those start on.

use std::collections::BTreeSet;

use crate::ir::{Comments, PolicyDoc};

/// Where a `#` comment starts on a line, if it has one: a `#` at the start or after
/// whitespace, outside quotes.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            // `\x` escapes in double quotes; `''` is a quote inside single quotes.
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some('\'') if c == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') => {
                chars.next();
            }
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => {
                if c == '#' && previous.is_whitespace() {
                    return Some(i);
                }
                if c == '"' || (c == '\'' && previous.is_whitespace()) {
                    quote = Some(c);
                }
            }
        }
        previous = c;
    }
    None
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
pub fn attach(doc: &mut PolicyDoc, text: &str) {
    let anchors = anchor_lines(doc);
    let mut comments = Comments::default();
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let Some(start) = comment_start(line) else {
            continue;
        };
        let body = line[start + 1..].trim_end();
        let body = body.strip_prefix(' ').unwrap_or(body).to_owned();
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
    use super::comment_start;

    #[test]
    fn finds_comments_outside_quotes() {
        assert_eq!(comment_start("# top"), Some(0));
        assert_eq!(comment_start("  action: delete # why"), Some(17));
        assert_eq!(comment_start("  action: \"a #b\""), None);
        assert_eq!(comment_start("  action: a#b"), None);
        assert_eq!(comment_start("  name: 'it''s # x' # y"), Some(20));
    }
}
