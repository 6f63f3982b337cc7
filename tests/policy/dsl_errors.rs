//! Errors in `.rkl` files point where the problem is and say, in words, what was expected.

use rekall_policy::Policy;
use rekall_policy::front::Language;

fn errors(text: &str) -> String {
    match Policy::from_str_in(Language::Dsl, text, "broken.rkl") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.render(),
    }
}

macro_rules! broken {
    ($name:ident, $text:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(errors($text));
        }
    };
}

broken!(
    missing_arrow,
    "policy version 1\nhitl {\n  rule a: delete on db allow\n}\n"
);
broken!(
    glob_with_a_space_unquoted,
    "policy version 1\nhitl {\n  rule a: delete on my db -> allow\n}\n"
);
broken!(
    require_approval_without_approvers,
    "policy version 1\nhitl {\n  rule a: delete -> require approval\n}\n"
);
broken!(
    band_outside_zero_one,
    "policy version 1\nescalation {\n  when confidence in [0.5, 1.5) -> deny\n}\n"
);
broken!(missing_header, "hitl {\n  rule a: delete -> allow\n}\n");
broken!(
    unsupported_version,
    "policy \"x\" version 2\nhitl {\n  rule a: delete -> allow\n}\n"
);
broken!(
    unclosed_section,
    "policy version 1\nhitl {\n  rule a: delete -> allow\n"
);
broken!(
    unknown_outcome,
    "policy version 1\nescalation {\n  when confidence in [0.0, 1.0] -> approve\n}\n"
);
broken!(
    principal_without_kind,
    "policy version 1\nhitl {\n  rule a: delete -> require approval from [adam]\n}\n"
);
broken!(
    malformed_glob,
    "policy version 1\nhitl {\n  rule a: \"dep[loy\" -> allow\n}\n"
);
broken!(
    unknown_priority,
    "policy version 1\nhitl {\n  rule a: delete -> allow priority urgent\n}\n"
);
broken!(
    duration_with_unknown_unit,
    "policy version 1\nhitl {\n  rule a: delete -> require approval from [user:a] timeout 5w\n}\n"
);
broken!(
    brace_glob_unquoted,
    "policy version 1\nhitl {\n  rule a: {drop,truncate} -> allow\n}\n"
);
broken!(
    step_name_unquoted,
    "policy version 1\nhitl {\n  rule m: migrate -> chain {\n    step Review: 1 of [user:a]\n  }\n}\n"
);
broken!(
    band_with_one_bound,
    "policy version 1\nescalation {\n  when confidence in [0.5] -> deny\n}\n"
);
broken!(
    unknown_group,
    "policy version 1\ngroup sre = [user:a]\nhitl {\n  rule a: delete -> require approval from [group:sres]\n}\n"
);
broken!(
    several_errors_at_once,
    "policy version 1\ngroup a = [group:b]\ngroup b = [group:a]\nhitl {\n  rule x: delete -> require 3 of [user:a, user:b]\n  rule x: deploy -> require approval from [adam]\n}\n"
);

/// An option given twice, and a priority on a chain step, are refused by both parsers alike
/// (YAML refuses the same as a duplicate key and an unknown step key); before, the last one
/// was silently kept and a step's priority silently dropped.
mod twice {
    use rekall_policy::front::dsl;

    fn codes(text: &str) -> Vec<(String, u32, u32)> {
        let fast = dsl::parse_fast(text).expect("the grammar accepts it");
        let grammar = dsl::parse_by_grammar(text);
        assert_eq!(
            format!("{:?}", fast.diagnostics),
            format!("{:?}", grammar.diagnostics),
            "both parsers report alike"
        );
        fast.diagnostics
            .iter()
            .map(|d| (d.kind.code().to_owned(), d.span.line, d.span.col))
            .collect()
    }

    #[test]
    fn an_option_given_twice_points_at_the_second_and_names_the_first() {
        let text = "policy version 1\nhitl {\n  rule deploy -> require approval from [user:a] timeout 1h timeout 2h\n}\n";
        assert_eq!(codes(text), vec![("duplicate-key".into(), 3, 68)]);
        for option in [
            "notify [slack] notify [email]",
            "remind every 5m remind every 6m",
            "on timeout reject on timeout reject",
            "priority high priority low",
        ] {
            let text = format!(
                "policy version 1\nescalation {{\n  when deploy -> escalate to [user:a] {option}\n}}\n"
            );
            let found = codes(&text);
            assert_eq!(found.len(), 1, "{option}: {found:?}");
            assert_eq!(found[0].0, "duplicate-key", "{option}");
        }
        let once = "policy version 1\nhitl {\n  rule deploy -> require approval from [user:a] timeout 1h remind every 5m\n}\n";
        assert!(codes(once).is_empty());
    }

    #[test]
    fn a_chain_step_has_no_priority() {
        let text = "policy version 1\nhitl {\n  rule migrate -> require chain {\n    step \"review\": approval from [user:a] priority high\n  }\n}\n";
        assert_eq!(codes(text), vec![("unknown-key".into(), 4, 52)]);
    }
}
