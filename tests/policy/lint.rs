//! Lint finds rules that can never fire exactly: shadowing by one earlier rule or by several
//! together, through `?`, classes and alternation, for both stages with the bands, and never
//! reports a rule that some request reaches first.

use std::process::Command;

use proptest::prelude::*;
use rekall_policy::lint::{self, Warning};
use rekall_policy::{Policy, Request};

fn warnings(yaml: &str) -> Vec<Warning> {
    let policy =
        Policy::from_yaml_str(yaml, "lint.yaml").unwrap_or_else(|e| panic!("{}", e.render()));
    lint::lint(&policy)
}

/// `(code, line, related rule indices)` of each warning.
fn summary(yaml: &str) -> Vec<(&'static str, u32, Vec<usize>)> {
    warnings(yaml)
        .into_iter()
        .map(|w| (w.code, w.line, w.related.iter().map(|r| r.rule).collect()))
        .collect()
}

fn hitl(rules: &[(&str, &str)]) -> String {
    let mut out = String::from("version: 1\nhitl:\n  rules:\n");
    for (action, resource) in rules {
        out.push_str(&format!(
            "    - action: \"{action}\"\n      resource: \"{resource}\"\n"
        ));
    }
    out.push_str("    - action: \"*\"\n      resource: \"*\"\n");
    out
}

/// The line of hitl rule `i` in a policy built by [`hitl`].
fn line_of(i: usize) -> u32 {
    4 + 2 * i as u32
}

#[test]
fn shadowed_by_one_earlier_rule() {
    assert_eq!(
        summary(&hitl(&[("deploy*", "*"), ("deploy-*", "prod")])),
        [("shadowed-rule", line_of(1), vec![0])]
    );
    assert_eq!(
        summary(&hitl(&[("prod-*", "*"), ("prod-?", "*")])),
        [("shadowed-rule", line_of(1), vec![0])]
    );
    assert_eq!(
        summary(&hitl(&[("[a-z]*", "*"), ("[b-c]x", "*")])),
        [("shadowed-rule", line_of(1), vec![0])]
    );
    assert_eq!(
        summary(&hitl(&[("delete", "*"), ("delete", "db")])),
        [("shadowed-rule", line_of(1), vec![0])]
    );
}

#[test]
fn shadowed_by_several_earlier_rules_together() {
    // `{a,b}*` is covered by `a*` and `b*` together, though by neither alone.
    assert_eq!(
        summary(&hitl(&[("a*", "*"), ("b*", "*"), ("{a,b}*", "*")])),
        [("shadowed-rule", line_of(2), vec![0, 1])]
    );
    // Both fields: resources `r1`, not starting with `r`, `r` and two more, `r`, and the empty
    // one together cover every resource.
    assert_eq!(
        summary(&hitl(&[
            ("x", "r1"),
            ("x", "[!r]*"),
            ("x", "r?*"),
            ("x", "r"),
            ("x", ""),
            ("x", "*")
        ])),
        [("shadowed-rule", line_of(5), vec![0, 1, 2, 3, 4])]
    );
    // A class split in two: [a-m] and [n-z] cover [a-z].
    assert_eq!(
        summary(&hitl(&[("[a-m]", "*"), ("[n-z]", "*"), ("[a-z]", "*")])),
        [("shadowed-rule", line_of(2), vec![0, 1])]
    );
    // `?` through alternation: `{?,??}` and `???*` cover `?*`, and so every action, which
    // leaves nothing for the catch-all either.
    assert_eq!(
        summary(&hitl(&[("{?,??}", "*"), ("???*", "*"), ("?*", "*")])),
        [
            ("shadowed-rule", line_of(2), vec![0, 1]),
            ("shadowed-rule", line_of(3), vec![0, 1])
        ]
    );
}

#[test]
fn a_rule_only_partly_covered_is_not_reported() {
    assert!(summary(&hitl(&[("deploy-*", "*"), ("deploy*", "*")])).is_empty());
    assert!(summary(&hitl(&[("a*", "*"), ("{a,b}*", "*")])).is_empty());
    assert!(summary(&hitl(&[("prod-?", "*"), ("prod-*", "*")])).is_empty());
    assert!(
        summary(&hitl(&[("x", "r1"), ("x", "[!r]*"), ("x", "*")])).is_empty(),
        "resource `r` is still the third rule's"
    );
    assert!(
        summary(&hitl(&[("[a-m]", "*"), ("[o-z]", "*"), ("[a-z]", "*")])).is_empty(),
        "`n` is left"
    );
    assert!(
        summary(&hitl(&[("é*", "*"), ("??*", "*")])).is_empty(),
        "one-letter actions are left"
    );
    // An action is never empty, so `?*` covers everything the catch-all after it could get.
    assert_eq!(
        summary(&hitl(&[("?*", "*")])),
        [("shadowed-rule", line_of(1), vec![0])]
    );
}

#[test]
fn a_rule_that_matches_no_request_is_reported() {
    assert_eq!(
        summary(&hitl(&[("", "*")])),
        [("unmatchable-rule", line_of(0), vec![])]
    );
}

#[test]
fn requests_that_reach_no_rule_are_reported_with_what_they_get() {
    let yaml = "version: 1\ndefaults: {noMatch: escalate, approvers: [user:oncall]}\nhitl:\n  rules:\n    - action: deploy\n";
    let w = warnings(yaml);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].code, "no-catch-all");
    assert!(
        w[0].message
            .contains("they get the default: escalate by user:oncall"),
        "{}",
        w[0].message
    );
    let example = w[0].example.as_ref().unwrap();
    assert_ne!(example.action, "deploy");
    let policy = Policy::from_yaml_str(yaml, "x.yaml").unwrap();
    let d = policy
        .decide(&Request::new(example.action.clone()).resource(example.resource.clone()))
        .unwrap();
    assert_eq!(d.hitl_rule(), None, "the example really reaches no rule");
}

const BANDS: &str = "version: 1
escalation:
  rules:
    - confidenceRange: [0.0, 0.5]
      action: deny
    - match: {action: \"deploy*\"}
      confidenceRange: [0.2, 0.4]
      action: auto-approve
    - confidenceRange: [0.3, 0.8]
      action: notify-and-proceed
    - confidenceRange: [0.5, 1.0]
      action: auto-approve
    - confidenceRange: [0.6, 0.6]
      action: deny
";

#[test]
fn escalation_rules_are_judged_with_their_bands() {
    assert_eq!(
        summary(BANDS),
        [
            ("shadowed-rule", 6, vec![0]),
            ("dead-band-part", 9, vec![0]),
            ("dead-band-part", 11, vec![2]),
            ("empty-band", 13, vec![]),
        ]
    );
    let w = warnings(BANDS);
    assert!(
        w[1].message.contains("the part [0.3, 0.5) of the band"),
        "{}",
        w[1].message
    );
}

#[test]
fn gaps_between_bands_are_reported_per_kind_of_request() {
    let yaml = "version: 1
escalation:
  rules:
    - match: {resource: \"prod*\"}
      confidenceRange: [0.0, 0.9]
      action: escalate
      approvers: [user:carol]
    - confidenceRange: [0.5, 1.0]
      action: auto-approve
";
    let w = warnings(yaml);
    assert_eq!(w.iter().map(|w| w.code).collect::<Vec<_>>(), ["band-gap"]);
    assert!(
        w[0].message
            .contains("confidences [0.0, 0.5) are in no band"),
        "{}",
        w[0].message
    );
    let example = w[0].example.as_ref().unwrap();
    assert!(!example.resource.starts_with("prod"));
    assert!(
        w[0].message.contains("they get the default: deny"),
        "no approvers for the default: it fails closed"
    );
}

#[test]
fn a_file_can_accept_a_code() {
    let yaml = format!(
        "# lint: allow shadowed-rule\n{}",
        hitl(&[("a*", "*"), ("ab", "*")])
    );
    assert!(warnings(&yaml).is_empty());
}

#[test]
fn the_cli_reports_warnings_with_locations_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow.yaml");
    std::fs::write(&path, hitl(&[("deploy*", "*"), ("deploy-*", "prod")])).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
            .args(args)
            .output()
            .unwrap()
    };
    let p = path.to_str().unwrap();
    let out = run(&["lint", p]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings alone do not fail without --deny"
    );
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(p, "shadow.yaml");
    insta::assert_snapshot!("lint_text", text);
    assert_eq!(
        run(&["lint", "--deny", "warnings", p]).status.code(),
        Some(1)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["lint", "--format", "json", p]).stdout).unwrap();
    assert_eq!(json["warnings"], 1);
    assert_eq!(json["files"][0]["warnings"][0]["code"], "shadowed-rule");
    assert_eq!(json["files"][0]["warnings"][0]["related"][0]["rule"], 0);
    std::fs::write(
        &path,
        "version: 1\nhitl: {rules: [{action: x, requireAproval: true}]}\n",
    )
    .unwrap();
    assert_eq!(
        run(&["lint", p]).status.code(),
        Some(2),
        "an invalid policy is an error"
    );
    assert_eq!(
        run(&[
            "lint",
            "--deny",
            "warnings",
            "policies/seed.yaml",
            "policies/data-platform.rkl"
        ])
        .status
        .code(),
        Some(0)
    );
}

// ---------------------------------------------------------------------------------------------
// Property: a rule reported as shadowed is never the first match, over requests drawn from its
// own globs' languages.

const PIECES: &[&str] = &[
    "a", "b", "ab", "*", "?", "[ab]", "[!a]", "{a,b}", "{a,bb*}", "é",
];

fn glob() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 1..3).prop_map(|p| p.concat())
}

/// A random string the glob matches (or close to it), built from its parts.
fn sample(glob: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut pick = |n: usize| {
        let c = choices.get(i).copied().unwrap_or(0) as usize;
        i += 1;
        c % n.max(1)
    };
    let mut rest = glob;
    while !rest.is_empty() {
        let part = PIECES
            .iter()
            .filter(|p| rest.starts_with(**p))
            .max_by_key(|p| p.len())
            .copied()
            .unwrap_or("a");
        rest = &rest[part.len()..];
        let text: &str = match part {
            "*" => ["", "a", "b", "ab", "ba", "é", "zz"][pick(7)],
            "?" => ["a", "b", "é", "z"][pick(4)],
            "[ab]" => ["a", "b"][pick(2)],
            "[!a]" => ["b", "é", "z"][pick(3)],
            "{a,b}" => ["a", "b"][pick(2)],
            "{a,bb*}" => ["a", "bb", "bba", "bbb"][pick(4)],
            other => other,
        };
        out.push_str(text);
    }
    out
}

fn policy_text(rules: &[(String, String)]) -> String {
    let mut out = String::from("version: 1\nhitl:\n  rules:\n");
    for (a, r) in rules {
        out.push_str(&format!("    - action: \"{a}\"\n      resource: \"{r}\"\n"));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rules_reported_shadowed_are_never_first(
        rules in prop::collection::vec((glob(), glob()), 2..5),
        choices in prop::collection::vec(any::<u8>(), 64),
    ) {
        let policy = Policy::from_yaml_str(&policy_text(&rules), "p.yaml").unwrap();
        let report = lint::lint(&policy);
        let rule_of = |w: &Warning| (w.line as usize - 4) / 2;
        let about_a_rule = |w: &&Warning| matches!(w.code, "shadowed-rule" | "unmatchable-rule");
        for w in report.iter().filter(about_a_rule) {
            let k = rule_of(w);
            let (a, r) = &rules[k];
            for n in 0..16 {
                let action = sample(a, &choices[n * 2..]);
                let resource = sample(r, &choices[n * 2 + 1..]);
                if action.is_empty() {
                    continue;
                }
                let d = policy.decide(&Request::new(action.clone()).resource(resource.clone())).unwrap();
                prop_assert_ne!(d.hitl_rule(), Some(k), "{:?} on {:?} reaches rule {} reported shadowed", action, resource, k);
            }
        }
        // Exactness the other way: every rule not reported has a request that reaches it first.
        let examples = lint::hitl_first_match_examples(&policy).expect("small policies are decided");
        for (k, example) in examples.iter().enumerate() {
            let reported = report.iter().filter(about_a_rule).any(|w| rule_of(w) == k);
            match example {
                Some(e) => {
                    prop_assert!(!reported, "rule {} is reported but {:?} reaches it first", k, e);
                    let d = policy.decide(&Request::new(e.action.clone()).resource(e.resource.clone())).unwrap();
                    prop_assert_eq!(d.hitl_rule(), Some(k));
                }
                None => prop_assert!(reported, "rule {} is reached by no request but not reported", k),
            }
        }
    }
}

#[test]
fn a_dsl_band_closed_below_one_is_flagged_and_means_the_same_as_half_open() {
    use rekall_policy::front::Language;
    let closed = "policy version 1\nescalation {\n  when confidence in [0.4, 0.7] -> deny\n  when confidence in [0.0, 0.4) -> auto-approve\n  when confidence in [0.7, 1.0] -> auto-approve\n}\n";
    let open = closed.replace("0.7]", "0.7)");
    let a = Policy::from_str_in(Language::Dsl, closed, "a.rkl").unwrap();
    let b = Policy::from_str_in(Language::Dsl, &open, "b.rkl").unwrap();
    assert_eq!(a.doc(), b.doc(), "the bracket does not change the meaning");
    let at = |p: &Policy, c: f64| {
        p.decide(&Request::new("x").confidence(c))
            .unwrap()
            .escalation_rule()
    };
    assert_eq!(
        (at(&a, 0.7), at(&b, 0.7)),
        (Some(2), Some(2)),
        "0.7 is not in [0.4, 0.7]"
    );
    let w = lint::lint(&a);
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].code, w[0].line, w[0].col), ("closed-band", 3, 31));
    assert!(w[0].help.as_deref().unwrap().contains("`[0.4, 0.7)`"));
    assert!(lint::lint(&b).is_empty());
}

// ---------------------------------------------------------------------------------------------
// The same exactness for escalation rules, where bands take part.

const ENDPOINTS: &[f64] = &[0.0, 0.25, 0.5, 0.75, 1.0];

fn band() -> impl Strategy<Value = (f64, f64)> {
    (0..ENDPOINTS.len(), 0..ENDPOINTS.len())
        .prop_map(|(a, b)| (ENDPOINTS[a.min(b)], ENDPOINTS[a.max(b)]))
}

/// An escalation rule's `match` action and resource, if given, and its band.
type EscalationSpec = (Option<String>, Option<String>, (f64, f64));

fn escalation_text(rules: &[EscalationSpec]) -> String {
    let mut out = String::from("version: 1\nescalation:\n  rules:\n");
    for (action, resource, (lo, hi)) in rules {
        let mut m = Vec::new();
        if let Some(a) = action {
            m.push(format!("action: \"{a}\""));
        }
        if let Some(r) = resource {
            m.push(format!("resource: \"{r}\""));
        }
        out.push_str(&format!(
            "    - match: {{{}}}\n      confidenceRange: [{lo:?}, {hi:?}]\n      action: deny\n",
            m.join(", ")
        ));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn escalation_rules_are_reported_exactly_when_no_request_reaches_them_first(
        rules in prop::collection::vec((prop::option::of(glob()), prop::option::of(glob()), band()), 1..5),
        choices in prop::collection::vec(any::<u8>(), 64),
    ) {
        let policy = Policy::from_yaml_str(&escalation_text(&rules), "e.yaml").unwrap();
        let report = lint::lint(&policy);
        let doc_rules = &policy.doc().escalation.as_ref().unwrap().rules;
        let reported = |k: usize| {
            let r = &doc_rules[k];
            let lines = [r.span.line, r.confidence_range.as_ref().map_or(0, |c| c.span.line)];
            report.iter().any(|w| matches!(w.code, "shadowed-rule" | "empty-band" | "unmatchable-rule") && lines.contains(&w.line))
        };
        let examples = lint::escalation_first_match_examples(&policy).expect("small policies are decided");
        for (k, example) in examples.iter().enumerate() {
            match example {
                Some(e) => {
                    prop_assert!(!reported(k), "rule {} is reported but {:?} reaches it first", k, e);
                    let request = Request::new(e.action.clone()).resource(e.resource.clone()).confidence(e.confidence.unwrap());
                    prop_assert_eq!(policy.decide(&request).unwrap().escalation_rule(), Some(k));
                }
                None => {
                    prop_assert!(reported(k), "rule {} is reached by no request but not reported", k);
                    let (action, resource, (lo, hi)) = &rules[k];
                    for n in 0..16 {
                        let a = sample(action.as_deref().unwrap_or("*"), &choices[n * 2..]);
                        let r = sample(resource.as_deref().unwrap_or("*"), &choices[n * 2 + 1..]);
                        if a.is_empty() {
                            continue;
                        }
                        for c in [*lo, (lo + hi) / 2.0, *hi] {
                            let d = policy.decide(&Request::new(a.clone()).resource(r.clone()).confidence(c)).unwrap();
                            prop_assert_ne!(d.escalation_rule(), Some(k), "{:?} on {:?} at {} reaches rule {}", a, r, c, k);
                        }
                    }
                }
            }
        }
    }
}
