//! pest's parse errors in words: what was expected (not grammar rule names), what was found,
//! and a hint for the usual slips.

use pest::error::{Error, ErrorVariant, InputLocation, LineColLocation};

use super::Rule;
use crate::diagnostic::{Diagnostic, ErrorKind};
use crate::source::Span;

const DECISION: &str = "a decision (`require approval from [...]`, `require N of [...]`, `chain { ... }`, `allow` or `auto-approve`)";
const OPTION: &str = "an option (`notify [...]`, `timeout 1h`, `on timeout ...`, `remind every 15m`, `priority high`)";

fn words(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        header => "`policy \"NAME\" version 1`",
        name => "a policy name",
        group => "`group NAME = [...]`",
        defaults => "`defaults { ... }`",
        hitl => "`hitl { ... }`",
        escalation => "`escalation { ... }`",
        no_match => "`no match -> OUTCOME`",
        default_approvers => "`approvers [...]`",
        hitl_rule => "a rule (`rule ID: ACTION on RESOURCE -> ...`)",
        escalation_rule => "a rule (`when ... -> OUTCOME`)",
        require_chain | chain | require_quorum | require_from | require_bare | allow
        | auto_approve => DECISION,
        step => "a step (`step \"NAME\": N of [...]`)",
        quorum => "`N of [...]`",
        approval_from => "`approval from [...]`",
        match_clause | resource_only | glob | bare_glob => "a glob",
        band => "`confidence in [lo, hi)`",
        band_close => "`)` or `]`",
        approver_clause => "`from [...]`, `to [...]` or `N of [...]`",
        notify | timeout | on_timeout | remind_every | priority => OPTION,
        on_timeout_escalate | on_timeout_reject => "`escalate to [...]` or `reject`",
        outcome => {
            "an outcome (auto-approve, notify-and-proceed, request-approval, escalate, deny)"
        }
        arrow => "`->`",
        kw_on => "`on`",
        approver_list => "a list of principals such as `[user:adam]`",
        approver | principal => "a principal such as `user:adam`",
        channel_list => "a list of channels such as `[email, slack]`",
        channel => "a channel",
        rule_id => "a rule id",
        duration => "a duration such as `30s` or `1h`",
        integer => "a whole number",
        number => "a number",
        word => "a word",
        string | string_inner => "a quoted string",
        kw_version => "`version`",
        EOI => "the end of the file",
        _ => "something else",
    }
}

/// The keywords a rule starts with: a word found where one of them was expected is most often
/// that keyword misspelled.
fn keywords(rule: Rule) -> &'static [&'static str] {
    use Rule::*;
    match rule {
        header => &["policy"],
        group => &["group"],
        defaults => &["defaults"],
        hitl => &["hitl"],
        escalation => &["escalation"],
        no_match => &["no"],
        default_approvers => &["approvers"],
        hitl_rule => &["rule"],
        escalation_rule => &["when"],
        require_chain | require_quorum | require_from | require_bare => &["require"],
        chain => &["chain"],
        allow => &["allow"],
        auto_approve => &["auto-approve"],
        step => &["step"],
        approval_from => &["approval"],
        notify => &["notify", "via"],
        timeout => &["timeout"],
        on_timeout | kw_on => &["on"],
        remind_every => &["remind"],
        priority => &["priority"],
        on_timeout_escalate => &["escalate"],
        on_timeout_reject => &["reject"],
        kw_version => &["version"],
        _ => &[],
    }
}

/// "Did you mean" for a misspelled keyword: the expected keyword closest to the word found.
fn keyword_typo(positives: &[Rule], found: &str) -> Option<&'static str> {
    let word_end = found
        .find(|c: char| !(c.is_alphanumeric() || c == '-'))
        .unwrap_or(found.len());
    let word = &found[..word_end];
    let expected: Vec<&'static str> = positives
        .iter()
        .flat_map(|r| keywords(*r))
        .copied()
        .collect();
    if word.len() < 2 || expected.contains(&word) {
        return None;
    }
    crate::suggest::closest(word, expected)
}

/// The text at the error position, for "found ...".
fn found_at(text: &str, offset: usize) -> &str {
    let rest = text.get(offset..).unwrap_or("");
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let token = &rest[..end];
    match token.char_indices().nth(24) {
        Some((cut, _)) => &token[..cut],
        None => token,
    }
}

/// The whole line an offset is on.
fn current_line(text: &str, offset: usize) -> &str {
    let start = text
        .get(..offset)
        .and_then(|b| b.rfind('\n'))
        .map_or(0, |i| i + 1);
    let end = text
        .get(offset..)
        .and_then(|a| a.find('\n'))
        .map_or(text.len(), |i| offset + i);
    text.get(start..end).unwrap_or("")
}

pub(super) fn describe(error: &Error<Rule>, text: &str) -> Diagnostic {
    let (line, col) = match error.line_col {
        LineColLocation::Pos(p) | LineColLocation::Span(p, _) => p,
    };
    let offset = match error.location {
        InputLocation::Pos(p) | InputLocation::Span((p, _)) => p,
    };
    let found = found_at(text, offset);
    let mut expected: Vec<&str> = Vec::new();
    let positives: &[Rule] = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
    for rule in positives {
        let w = words(*rule);
        if !expected.contains(&w) {
            expected.push(w);
        }
    }
    let expected_text = match expected.as_slice() {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    let found_text = if found.is_empty() {
        "the end of the file".to_owned()
    } else {
        format!("`{found}`")
    };
    let before = text.get(..offset).unwrap_or("");
    let after_space = before.ends_with([' ', '\t']);
    let starts_word = found.starts_with(|c: char| c.is_alphanumeric() || c == '*' || c == '?');
    let previous = before
        .trim_end()
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or("");
    let decision_word = [
        "require",
        "allow",
        "auto-approve",
        "chain",
        "deny",
        "escalate",
    ]
    .iter()
    .any(|w| found == *w || found.starts_with(&format!("{w}-")));
    let in_band = current_line(text, offset).contains("confidence in");
    let hint = if in_band && !positives.contains(&Rule::outcome) {
        Some("a band is `confidence in [lo, hi)` with two numbers between 0.0 and 1.0".to_owned())
    } else if positives.contains(&Rule::arrow) && decision_word {
        Some(format!("a `->` is missing before `{found}`"))
    } else if positives.contains(&Rule::arrow) && after_space && starts_word {
        Some(format!(
            "if `{previous} {found}` is one glob, quote it: `\"{previous} {found}\"`; otherwise a `->` is missing before `{found}`"
        ))
    } else if positives.contains(&Rule::arrow) {
        Some("write `->` between what a rule matches and what it decides".to_owned())
    } else if positives.contains(&Rule::approver_list) && before.trim_end().ends_with("approval") {
        Some("write `require approval from [user:NAME]`".to_owned())
    } else if positives.contains(&Rule::glob) && found.starts_with(['[', '{', ',', ':', '"']) {
        Some(
            "a glob with `[`, `{`, `,`, `:` or spaces must be quoted: `\"db/{users,orders}\"`"
                .to_owned(),
        )
    } else if let Some(keyword) = keyword_typo(positives, found) {
        Some(format!("did you mean `{keyword}`?"))
    } else if positives.contains(&Rule::outcome) {
        let suggestion = crate::suggest::outcome(found);
        Some(suggestion.map_or_else(
            || {
                "outcomes are auto-approve, notify-and-proceed, request-approval, escalate, deny"
                    .to_owned()
            },
            |s| format!("did you mean `{s}`?"),
        ))
    } else if positives.contains(&Rule::duration) {
        Some("a duration is a whole number with one unit: 500ms, 30s, 5m, 1h, 1d".to_owned())
    } else if positives.contains(&Rule::string) && before.trim_end().ends_with("step") {
        Some(format!(
            "step names are quoted: `step \"{}\": ...`",
            found.trim_end_matches(':')
        ))
    } else if found.is_empty() && text.matches('{').count() > text.matches('}').count() {
        Some("a `{` is not closed: add the `}` that ends the section".to_owned())
    } else if positives.contains(&Rule::header) {
        Some("a policy starts with `policy \"NAME\" version 1`".to_owned())
    } else if positives.contains(&Rule::number) {
        Some("a band is `confidence in [lo, hi)` with numbers between 0.0 and 1.0".to_owned())
    } else {
        None
    };
    let width = u32::try_from(found.chars().count()).unwrap_or(1);
    Diagnostic::new(
        ErrorKind::Syntax {
            reason: format!("expected {expected_text}, found {found_text}"),
            hint,
        },
        Span::at(
            u32::try_from(line).unwrap_or(0),
            u32::try_from(col).unwrap_or(0),
            width,
        ),
    )
}
