//! The hand-written DSL parser against the pest grammar it follows: on random policies and on
//! token-level mutations of them, it accepts exactly the texts the grammar accepts, and where
//! both accept, the IR (spans included) and the diagnostics are the same.

use proptest::prelude::*;
use rekall_policy::front::dsl;
use rekall_policy::print;

use crate::dsl_roundtrip::policy;

/// Asserts that both parsers agree on `text`; returns whether the grammar accepts it.
fn agree(text: &str) -> Result<bool, TestCaseError> {
    let grammar = dsl::parse_by_grammar(text);
    let accepted = grammar.doc.is_some();
    match dsl::parse_fast(text) {
        None => prop_assert!(
            !accepted,
            "the grammar accepts what the parser refuses:\n{text}"
        ),
        Some(fast) => {
            prop_assert!(
                accepted,
                "the parser accepts what the grammar refuses ({:?}):\n{}",
                grammar.diagnostics,
                text
            );
            // `Debug` shows every span, which equality of the IR ignores.
            prop_assert_eq!(
                format!("{fast:#?}"),
                format!("{grammar:#?}"),
                "text:\n{}",
                text
            );
        }
    }
    Ok(accepted)
}

/// The text in tokens: quoted strings whole, brackets and commas alone (a printed principal
/// or glob holds none), the rest split at whitespace.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                flush(&mut word, &mut out);
                let mut s = String::from('"');
                while let Some(c) = chars.next() {
                    s.push(c);
                    if c == '\\' {
                        s.extend(chars.next());
                    } else if c == '"' {
                        break;
                    }
                }
                out.push(s);
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            '[' | ']' | '{' | '}' | ',' => {
                flush(&mut word, &mut out);
                out.push(c.to_string());
            }
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Words the grammar gives meaning to, and tokens near its edges.
const KEYWORDS: &[&str] = &[
    "policy",
    "version",
    "group",
    "defaults",
    "no",
    "match",
    "approvers",
    "hitl",
    "rule",
    "on",
    "->",
    "require",
    "approval",
    "from",
    "chain",
    "step",
    "of",
    "allow",
    "auto-approve",
    "escalation",
    "when",
    "and",
    "confidence",
    "in",
    "notify",
    "via",
    "timeout",
    "reject",
    "escalate",
    "to",
    "remind",
    "every",
    "priority",
    "adapt",
    "alpha",
    "min-labels",
    "audit-rate",
    "mode",
    "auto",
    "0.05",
    "-3",
    "deny",
    "request-approval",
    "notify-and-proceed",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "(",
    ")",
    "=",
    "\"x\"",
    "\"a\\\"b\"",
    "\"\\\\\"",
    "\"\\*\"",
    "\"\"",
    "\" \"",
    "é",
    "日本",
    "\u{feff}",
    "1",
    "-1",
    "0",
    "2",
    "0.5",
    "1e3",
    "1.5E-2",
    "1h",
    "5ms",
    "30s",
    "0m",
    "99999999999999999999d",
    "high",
    "urgent",
    "user:a",
    "group:g",
    "nobody",
    "*",
    "a*",
    "-x",
    "x-",
    "on\"p\"",
    "#",
    "\\",
];

/// What goes between two tokens: the grammar's whitespace and comments first, then what
/// glues tokens or is not whitespace to it.
const GAPS: &[&str] = &[
    "\n",
    "\t",
    "  ",
    "\r\n",
    " # a comment\n",
    "#\n",
    "\r",
    " #é\u{0}\r\n",
    "",
    "\u{a0}",
    "\u{feff}",
    "#",
];
/// How many of `GAPS` the grammar skips.
const SKIPPED: usize = 8;

#[derive(Debug, Clone)]
enum Edit {
    Drop(usize),
    Duplicate(usize),
    Swap(usize),
    Insert(usize, &'static str),
    Replace(usize, &'static str),
    Glue(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let keyword = prop::sample::select(KEYWORDS);
    prop_oneof![
        any::<usize>().prop_map(Edit::Drop),
        any::<usize>().prop_map(Edit::Duplicate),
        any::<usize>().prop_map(Edit::Swap),
        (any::<usize>(), keyword.clone()).prop_map(|(i, k)| Edit::Insert(i, k)),
        (any::<usize>(), keyword).prop_map(|(i, k)| Edit::Replace(i, k)),
        any::<usize>().prop_map(Edit::Glue),
    ]
}

/// `text` in tokens, edited, joined again by spaces but at the joints given, where the gap
/// is the one given (indices into `GAPS`).
fn mutate(text: &str, edits: &[Edit], gaps: &[(usize, usize)]) -> String {
    let mut tokens = tokens(text);
    let mut glued = Vec::new();
    for edit in edits {
        let n = tokens.len().max(1);
        match *edit {
            Edit::Drop(i) if !tokens.is_empty() => {
                tokens.remove(i % n);
            }
            Edit::Duplicate(i) if !tokens.is_empty() => {
                let t = tokens[i % n].clone();
                tokens.insert(i % n, t);
            }
            Edit::Swap(i) if tokens.len() > 1 => tokens.swap(i % (n - 1), i % (n - 1) + 1),
            Edit::Insert(i, k) => tokens.insert(i % (tokens.len() + 1), k.to_owned()),
            Edit::Replace(i, k) if !tokens.is_empty() => tokens[i % n] = k.to_owned(),
            Edit::Glue(i) => glued.push(i % n),
            _ => {}
        }
    }
    let mut out = String::new();
    let n = tokens.len().max(1);
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            let odd = gaps.iter().find(|(at, _)| at % n == i);
            let gap = match odd {
                Some(&(_, gap)) => GAPS[gap % GAPS.len()],
                None if glued.contains(&i) => "",
                None => " ",
            };
            out.push_str(gap);
        }
        out.push_str(t);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn both_parsers_read_a_printed_policy_alike(doc in policy()) {
        let text = print::to_dsl(&doc);
        prop_assert!(agree(&text)?, "printed DSL refused:\n{}", text);
    }

    #[test]
    fn both_parsers_read_a_policy_with_odd_gaps_alike(
        doc in policy(),
        gaps in prop::collection::vec((any::<usize>(), 0..SKIPPED), 0..8),
    ) {
        // Only gaps change, so the grammar accepts most of these: the spans move.
        let text = mutate(&print::to_dsl(&doc), &[], &gaps);
        agree(&text)?;
    }

    #[test]
    fn both_parsers_accept_and_refuse_the_same_mutated_policies(
        doc in policy(),
        edits in prop::collection::vec(edit(), 1..4),
        gaps in prop::collection::vec((any::<usize>(), 0..GAPS.len()), 0..3),
        bom in prop::bool::weighted(0.05),
    ) {
        let mut text = mutate(&print::to_dsl(&doc), &edits, &gaps);
        if bom {
            text.insert(0, '\u{feff}');
        }
        agree(&text)?;
    }

    #[test]
    fn both_parsers_agree_on_keyword_soup(
        words in prop::collection::vec(prop::sample::select(KEYWORDS), 0..24),
        gaps in prop::collection::vec((any::<usize>(), 0..GAPS.len()), 0..3),
    ) {
        let text = format!("policy version 1\n{}", mutate(&words.join(" "), &[], &gaps));
        agree(&text)?;
    }
}

/// Texts the grammar accepts at its edges: literals without word boundaries, comments and
/// whitespace a rule's extent takes in, ids that are globs, bands that are globs.
const EDGES: &[&str] = &[
    "policyversion 1",
    "policy\"n\"version1",
    "policy versionx version 1 group sre=[user:a,]",
    "policy version 1 # c\nhitl{rule a:b ->allow}",
    "policy version 1\nhitl {\n  rule a -> allow   # trailing\n\n  rule b on \"c\" -> auto-approve\n}",
    "policy version 1 hitl { rule on on on -> allownotify[a,b,]timeout 5ms }",
    "policy version 1 hitl { rule x on\"p\" -> require approval }",
    "policy version 1 hitl { rule x -> require approval from [ ] on timeout escalate # c\n }",
    "policy version 1 hitl { rule x -> require 2 of [user:a, \"user:b\"] on timeout escalate to [x] priority urgent }",
    "policy version 1 hitl { rule x -> require chain { step \" \": 1 of [nobody] priority bogus step \"b\": approval from [user:a] remind every 99999999999999999999 } }",
    "policy version 1 hitl { rule \"dep[loy\" -> chain { } timeout 99999999999999999999d }",
    "policy version 1 escalation { when on -> deny when confidence -> escalate when confidence in [0,1] -> deny }",
    "policy version 1 escalation { when id: on db/* and confidence in [0.1e1, 1.0] -> escalate to [group:g] via [pagerduty] }",
    "policy version 1 escalation { when x andconfidence in [-1,0.5] -> deny from [a] }",
    "policy version 1 escalation { when \"a\": x on y -> deny 99999999999999999999 of [user:a] on timeout reject }",
    "policy version 1 defaults { no match -> deny 2 of [user:a] approvers [nobody] nomatch->escalate to [user:b] }",
    "policy version 2 defaults { } defaults { approvers [user:x] } hitl { } hitl { rule a -> allow }",
    "policy version 1\n# only a comment",
    "policy version 1 hitl { rule a -> allow priority high priority low }",
];

#[test]
fn both_parsers_read_texts_at_the_grammars_edges_alike() {
    let refused: Vec<&str> = EDGES
        .iter()
        .copied()
        .filter(|text| !agree(text).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(refused.is_empty(), "the grammar refuses: {refused:#?}");
}
