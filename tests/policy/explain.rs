//! `rekall-policy explain` and the library trace behind it: the text a policy author reads,
//! the JSON a tool reads, exit codes, and that a trace always ends in the decision the
//! evaluator gives.

use std::path::Path;
use std::process::{Command, Output};

use proptest::prelude::*;
use rekall_policy::eval::explain::{Part, RuleStatus, Trace, explain};
use rekall_policy::{Outcome, Policy, Request, Stage};
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The example policies other than the seed are edited as the project grows; their snapshots
/// leave line numbers out (`line #`), and `line_numbers_point_at_the_rules_in_yaml_and_dsl`
/// checks those numbers against the files instead.
fn without_line_numbers(text: &str) -> String {
    regex::Regex::new(r"line \d+")
        .expect("a valid regex")
        .replace_all(text, "line #")
        .into_owned()
}

/// `explain` as text, checked to succeed.
fn explain_text(args: &[&str]) -> String {
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

fn load(path: &str) -> Policy {
    Policy::from_path(path).unwrap_or_else(|e| panic!("{path}: {}", e.render()))
}

fn request(action: &str, resource: &str, confidence: Option<f64>) -> Request {
    let mut r = Request::new(action).resource(resource);
    r.confidence = confidence;
    r
}

// --- text output --------------------------------------------------------------------------

#[test]
fn seed_tie_on_auto_approve() {
    let text = explain_text(&[
        "policies/seed.yaml",
        "--action",
        "deploy",
        "--resource",
        "staging",
        "--confidence",
        "0.9",
    ]);
    insta::assert_snapshot!(text);
}

#[test]
fn seed_hitl_gate_is_stricter_than_a_confident_band() {
    let text = explain_text(&[
        "policies/seed.yaml",
        "--action",
        "delete",
        "--resource",
        "db/users",
        "--confidence",
        "0.95",
        "--context",
        r#"{"ticket": "OPS-7"}"#,
    ]);
    insta::assert_snapshot!(text);
}

#[test]
fn seed_without_confidence_escalates() {
    let text = explain_text(&[
        "policies/seed.yaml",
        "--action",
        "deploy",
        "--resource",
        "staging",
    ]);
    insta::assert_snapshot!(text);
}

#[test]
fn data_platform_tie_keeps_the_hitl_approvers_over_the_default() {
    let text = explain_text(&[
        "policies/data-platform.yaml",
        "--action",
        "drop-table",
        "--resource",
        "db/staging-events",
        "--confidence",
        "0.3",
    ]);
    insta::assert_snapshot!(without_line_numbers(&text));
}

#[test]
fn data_platform_nothing_matches_so_both_defaults_apply() {
    let text = explain_text(&[
        "policies/data-platform.yaml",
        "--action",
        "frobnicate",
        "--resource",
        "warehouse/events",
        "--confidence",
        "0.2",
    ]);
    insta::assert_snapshot!(without_line_numbers(&text));
}

#[test]
fn data_platform_upper_bound_of_a_band_is_excluded() {
    let text = explain_text(&[
        "policies/data-platform.yaml",
        "--action",
        "migrate",
        "--resource",
        "db/prod-orders",
        "--confidence",
        "0.8",
    ]);
    assert!(
        text.contains("confidence 0.8 is not in [0.0, 0.8): the upper bound is excluded"),
        "{text}"
    );
    insta::assert_snapshot!(without_line_numbers(&text));
}

#[test]
fn a_default_without_approvers_fails_closed() {
    let text = explain_text(&[
        "tests/fixtures/explain/fail-closed.yaml",
        "--action",
        "restart",
        "--resource",
        "prod-1",
        "--confidence",
        "0.7",
    ]);
    assert!(text.contains("so it fails closed: deny"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn one_belongs_to_the_band_that_ends_at_one() {
    let text = explain_text(&[
        "tests/fixtures/explain/fail-closed.yaml",
        "--action",
        "deploy-api",
        "--resource",
        "prod-1",
        "--confidence",
        "1",
    ]);
    assert!(
        text.contains(
            "confidence 1.0 is in [0.7, 1.0]: 1.0 belongs to the band that ends at 1.0 -> auto-approve"
        ),
        "{text}"
    );
    assert!(text.contains(
        "combined: hitl's request-approval is stricter than escalation's auto-approve, so it stands"
    ));
}

// --- JSON ---------------------------------------------------------------------------------

#[test]
fn json_has_both_stages_the_combination_and_the_eval_decision() {
    let args = [
        "policies/seed.yaml",
        "--action",
        "deploy",
        "--resource",
        "staging",
        "--confidence",
        "0.8999",
        "--format",
        "json",
    ];
    let out = run(&[&["explain"][..], &args[..]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("explain prints JSON");

    assert_eq!(json["request"]["action"], "deploy");
    assert_eq!(json["confidence"], 0.8999);

    let hitl = &json["hitl"];
    assert_eq!(hitl["stage"], "hitl");
    assert_eq!(hitl["matched"], 2);
    assert_eq!(hitl["default"], Value::Null);
    let statuses: Vec<&str> = hitl["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["not-matched", "not-matched", "matched"]);
    let rule1 = &hitl["rules"][1];
    assert_eq!(rule1["id"], "deploy-production");
    assert_eq!(rule1["line"], 12);
    assert_eq!(rule1["checks"][1]["part"], "resource");
    assert_eq!(rule1["checks"][1]["holds"], false);
    assert_eq!(rule1["checks"][1]["pattern"], "production");

    let esc = &json["escalation"];
    assert_eq!(esc["matched"], 1);
    assert_eq!(esc["rules"][0]["checks"][2]["pattern"], "[0.9, 1.0]");
    assert_eq!(esc["rules"][1]["checks"][2]["pattern"], "[0.7, 0.9)");
    assert_eq!(esc["rules"][2]["status"], "not-tried");
    assert_eq!(esc["rules"][2]["checks"], serde_json::json!([]));
    assert_eq!(esc["verdict"]["outcome"], "notify-and-proceed");

    let comb = &json["combination"];
    assert_eq!(comb["hitl"], "auto-approve");
    assert_eq!(comb["escalation"], "notify-and-proceed");
    assert_eq!(comb["decidedBy"], "escalation");
    assert_eq!(comb["tie"], false);

    // The trace's decision is the one `eval` gives, field for field.
    let eval = run(&[&["eval"][..], &args[..]].concat());
    let eval: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(json["decision"], eval);
}

#[test]
fn json_shows_the_default_and_whether_it_failed_closed() {
    let out = run(&[
        "explain",
        "tests/fixtures/explain/fail-closed.yaml",
        "--action",
        "restart",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let default = &json["hitl"]["default"];
    assert_eq!(default["noMatch"], "request-approval");
    assert_eq!(default["line"], Value::Null);
    assert_eq!(default["failClosed"], true);
    assert_eq!(default["outcome"], "deny");
    assert_eq!(json["hitl"]["matched"], Value::Null);
    assert_eq!(json["decision"]["outcome"], "deny");
    // No confidence means 0.0, which the notify band holds; deny is stricter.
    assert_eq!(json["escalation"]["matched"], 1);
    assert_eq!(json["combination"]["escalation"], "notify-and-proceed");
    assert_eq!(json["combination"]["decidedBy"], "hitl");
    assert_eq!(json["combination"]["tie"], false);
}

// --- exit codes and bad input -------------------------------------------------------------

#[test]
fn a_refused_request_exits_1_naming_the_field() {
    for (flag, value, field) in [
        ("--confidence", "NaN", "confidence"),
        ("--confidence", "1.5", "confidence"),
        ("--confidence", "-0.1", "confidence"),
        ("--confidence", "high", "confidence"),
        ("--context", "{not json", "context"),
    ] {
        let out = run(&[
            "explain",
            "policies/seed.yaml",
            "--action",
            "deploy",
            flag,
            value,
        ]);
        assert_eq!(out.status.code(), Some(1), "{flag} {value}");
        assert!(
            stderr(&out).starts_with(&format!("error: invalid request: {field}: ")),
            "{flag} {value}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
    let out = run(&["explain", "policies/seed.yaml", "--action", ""]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("action: must not be empty"));

    let out = run(&[
        "explain",
        "policies/seed.yaml",
        "--action",
        "deploy",
        "--confidence",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error"]["field"], "confidence");
}

#[test]
fn an_invalid_or_missing_policy_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "version: 1\nhitl:\n  rules:\n    - action: deploy\n      requireAproval: true\n",
    )
    .unwrap();
    let out = run(&["explain", broken.to_str().unwrap(), "--action", "deploy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown key `requireAproval`"));
    assert!(stdout(&out).is_empty());

    let out = run(&["explain", "no/such/policy.yaml", "--action", "deploy"]);
    assert_eq!(out.status.code(), Some(2));

    // --action is required.
    let out = run(&["explain", "policies/seed.yaml"]);
    assert_eq!(out.status.code(), Some(2));
}

// --- the library trace --------------------------------------------------------------------

#[test]
fn line_numbers_point_at_the_rules_in_yaml_and_dsl() {
    for path in example_policies() {
        let policy = load(&path);
        let trace = explain(&policy, &Request::new("anything").confidence(0.5)).unwrap();
        for stage in [&trace.hitl, &trace.escalation].into_iter().flatten() {
            if let Some(line) = stage.default.as_ref().and_then(|d| d.line) {
                let text = policy.source().line(line).unwrap_or_default();
                let word = if path.ends_with(".rkl") {
                    "no match"
                } else {
                    "noMatch"
                };
                assert!(text.contains(word), "{path}: line {line}: {text:?}");
            }
            for rule in &stage.rules {
                let Some(id) = &rule.id else { continue };
                let line = policy.source().line(rule.line).unwrap_or_default();
                assert!(
                    line.contains(id.as_str()),
                    "{path}: rule {} `{id}` is said to be on line {}: {line:?}",
                    rule.index,
                    rule.line
                );
            }
        }
    }
}

#[test]
fn the_dsl_twin_explains_the_same_way() {
    let yaml = load("policies/data-platform.yaml");
    let dsl = load("policies/data-platform.rkl");
    let r = request("drop-table", "db/prod-orders", Some(0.85));
    let strip_lines = |t: &Trace| {
        let mut v = serde_json::to_value(t).unwrap();
        for stage in ["hitl", "escalation"] {
            if let Some(rules) = v[stage]["rules"].as_array_mut() {
                for rule in rules {
                    rule["line"] = Value::Null;
                }
            }
            v[stage]["message"] = Value::Null;
            v[stage]["default"] = Value::Null;
        }
        v
    };
    let (a, b) = (explain(&yaml, &r).unwrap(), explain(&dsl, &r).unwrap());
    assert_eq!(strip_lines(&a), strip_lines(&b));
    assert_eq!(a.decision, yaml.decide(&r).unwrap());
}

#[test]
fn a_refused_request_is_refused_like_decide_refuses_it() {
    let policy = load("policies/seed.yaml");
    for r in [
        request("", "x", Some(0.5)),
        request("deploy", "x", Some(f64::NAN)),
        request("deploy", "x", Some(f64::INFINITY)),
        request("deploy", "x", Some(-0.0001)),
    ] {
        let e = explain(&policy, &r).unwrap_err();
        assert_eq!(Some(e), policy.decide(&r).err());
    }
}

fn example_policies() -> Vec<String> {
    let mut paths: Vec<String> = std::fs::read_dir("policies")
        .expect("policies/ is there")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".rkl") || (name.ends_with(".yaml") && !name.ends_with(".test.yaml"))
        })
        .map(|p| p.display().to_string())
        .collect();
    paths.push("tests/fixtures/explain/fail-closed.yaml".into());
    paths.sort();
    paths
}

/// Actions and resources from the example request logs, so random requests hit the rules.
fn vocabulary() -> (Vec<String>, Vec<String>) {
    let mut actions = Vec::new();
    let mut resources = Vec::new();
    for entry in std::fs::read_dir("policies").unwrap().flatten() {
        let path = entry.path();
        if !path.to_string_lossy().ends_with(".requests.jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if let Some(a) = v["action"].as_str() {
                actions.push(a.to_owned());
            }
            if let Some(r) = v["resource"].as_str() {
                resources.push(r.to_owned());
            }
        }
    }
    for (list, extra) in [
        (
            &mut actions,
            &["deploy", "delete", "deploy-api", "restart"][..],
        ),
        (&mut resources, &["production", "staging", "prod-1", ""][..]),
    ] {
        list.extend(extra.iter().map(|s| s.to_string()));
        list.sort();
        list.dedup();
    }
    (actions, resources)
}

fn word(pool: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(pool),
        1 => "[a-z/*?.-]{0,10}",
    ]
}

fn confidence() -> impl Strategy<Value = Option<f64>> {
    let edges = vec![
        0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 0.8999, 0.3999,
    ];
    prop_oneof![
        1 => Just(None),
        4 => proptest::sample::select(edges).prop_map(Some),
        3 => (0.0..=1.0f64).prop_map(Some),
        1 => prop_oneof![Just(f64::NAN), Just(1.5), Just(-0.5), Just(f64::INFINITY)].prop_map(Some),
    ]
}

fn check_trace(policy: &Policy, r: &Request) -> Result<(), TestCaseError> {
    let decided = policy.decide(r);
    let trace = match explain(policy, r) {
        Err(e) => {
            prop_assert_eq!(Some(e), decided.err());
            return Ok(());
        }
        Ok(t) => t,
    };
    let decision = decided.map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&trace.decision, &decision);
    prop_assert_eq!(trace.combination.decided_by, decision.decided_by());
    prop_assert_eq!(trace.hitl.is_some(), policy.doc().hitl.is_some());
    prop_assert_eq!(
        trace.escalation.is_some(),
        policy.doc().escalation.is_some()
    );
    let stages = [
        (Stage::Hitl, &trace.hitl, decision.hitl_rule()),
        (
            Stage::Escalation,
            &trace.escalation,
            decision.escalation_rule(),
        ),
    ];
    for (stage, st, rule) in stages {
        let Some(st) = st else { continue };
        prop_assert_eq!(st.stage, stage);
        prop_assert_eq!(st.matched, rule);
        prop_assert_eq!(st.default.is_some(), rule.is_none());
        for (i, rt) in st.rules.iter().enumerate() {
            prop_assert_eq!(rt.index, i);
            let expected = match rule {
                Some(m) if i == m => RuleStatus::Matched,
                Some(m) if i > m => RuleStatus::NotTried,
                _ => RuleStatus::NotMatched,
            };
            prop_assert_eq!(rt.status, expected);
            match rt.status {
                RuleStatus::Matched => prop_assert!(rt.checks.iter().all(|c| c.holds)),
                RuleStatus::NotMatched => prop_assert!(rt.checks.iter().any(|c| !c.holds)),
                RuleStatus::NotTried => prop_assert!(rt.checks.is_empty()),
            }
            for c in &rt.checks {
                if c.part == Part::Confidence {
                    let not = if c.holds { " is in " } else { " is not in " };
                    prop_assert!(c.message.contains(not), "{}", c.message);
                }
            }
        }
        if let Some(d) = &st.default {
            prop_assert_eq!(
                d.fail_closed,
                d.no_match != Outcome::Deny && d.outcome == Outcome::Deny
            );
            prop_assert_eq!(d.outcome, st.verdict.outcome);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// For every example policy, YAML and DSL, the trace ends in the decision `decide` gives,
    /// and its rule statuses agree with the rules `decide` reports.
    #[test]
    fn the_trace_decides_like_the_evaluator(
        (action, resource, conf) in {
            let (actions, resources) = vocabulary();
            (word(actions), word(resources), confidence())
        }
    ) {
        for path in example_policies() {
            let policy = load(&path);
            let r = request(&action, &resource, conf);
            check_trace(&policy, &r).map_err(|e| TestCaseError::fail(format!("{path}: {e}")))?;
        }
    }
}

#[test]
fn the_example_request_logs_trace_like_they_decide() {
    for path in example_policies() {
        let policy = load(&path);
        let log = Path::new(&path).with_extension("requests.jsonl");
        let Ok(text) = std::fs::read_to_string(&log) else {
            continue;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let value: Value = serde_json::from_str(line).unwrap();
            let Ok(r) = Request::from_json(&value) else {
                continue;
            };
            check_trace(&policy, &r).unwrap_or_else(|e| panic!("{path}: {line}: {e}"));
        }
    }
}
