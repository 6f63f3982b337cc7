//! The command line as a user runs it: exit codes, output shapes, and bad input.

use std::process::Command;

use crate::support::{run, run_with_stdin, stderr, stdout, write};

const BROKEN: &str = "version: 1\nhitl:\n  rules:\n    - action: deploy\n      requireAproval: true\n      approvers: [user:adam]\n";

#[test]
fn check_accepts_the_bundled_policies() {
    let out = run(&["check", "policies/seed.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("policies/seed.yaml: ok"));
}

#[test]
fn check_prints_located_diagnostics_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "broken.yaml", BROKEN);
    let out = run(&["check", &path, "policies/seed.yaml"]);
    // 2: an invalid policy, as for every verb.
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    let expected = format!(
        "{path}:5:7: error: unknown key `requireAproval` in a hitl rule\n  |\n5 |       requireAproval: true\n  |       ^^^^^^^^^^^^^^\n  = help: did you mean `requireApproval`?\n"
    );
    assert!(text.starts_with(&expected), "got:\n{text}");
    assert!(text.contains("1 error in 1 of 2 files"));
}

#[test]
fn eval_one_request_as_text_and_json() {
    let out = run(&[
        "eval",
        "policies/seed.yaml",
        "--action",
        "deploy",
        "--resource",
        "staging",
        "--confidence",
        "0.8999",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("outcome:    notify-and-proceed (approved)\n"),
        "{text}"
    );
    assert!(text.contains("notify via: slack"));

    let out = run(&[
        "eval",
        "policies/seed.yaml",
        "--action",
        "delete",
        "--resource",
        "x",
        "--confidence",
        "0.95",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["outcome"], "request-approval");
    assert_eq!(json["approvers"], serde_json::json!(["user:adam"]));
    assert_eq!(json["hitlRule"], 0);
    assert_eq!(json["escalationRule"], 0);
}

#[test]
fn eval_refuses_a_bad_confidence_naming_the_field() {
    for bad in ["high", "1.5", "-0.1", "NaN", "inf"] {
        let out = run(&[
            "eval",
            "policies/seed.yaml",
            "--action",
            "deploy",
            "--confidence",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(1), "confidence {bad}");
        assert!(
            stderr(&out).contains("invalid request: confidence:"),
            "confidence {bad}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty());
    }
    let out = run(&[
        "eval",
        "policies/seed.yaml",
        "--action",
        "deploy",
        "--context",
        "{not json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("context: is not valid JSON"));
    let out = run(&["eval", "policies/seed.yaml", "--action", ""]);
    assert!(stderr(&out).contains("action: must not be empty"));
}

#[test]
fn an_invalid_policy_never_yields_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "broken.yaml", BROKEN);
    let out = run(&["eval", &path, "--action", "deploy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    assert!(stderr(&out).contains("error: unknown key `requireAproval`"));
    let out = run_with_stdin(
        &["eval", &path, "--input", "-"],
        "{\"action\":\"deploy\"}\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
}

#[test]
fn eval_input_decides_each_line_and_reports_bad_lines_in_place() {
    let lines = [
        r#"{"action":"deploy","resource":"staging","confidence":0.9,"id":"a"}"#,
        r#"{"action":"deploy","resource":"staging","confidence":1.5}"#,
        r#"not json"#,
        r#"{"resource":"staging"}"#,
        r#"{"action":"deploy","confidence":"high"}"#,
        r#"{"action":"deploy","confidnce":0.9}"#,
        "",
        r#"{"action":"delete","resource":"db"}"#,
        r#"{"action":7}"#,
        r#"{"action":"x","resource":null}"#,
    ];
    let out = run_with_stdin(
        &["eval", "policies/seed.yaml", "--input", "-"],
        lines.join("\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed line makes the run exit 1"
    );
    let outputs: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is JSON"))
        .collect();
    assert_eq!(
        outputs.len(),
        9,
        "one output per non-blank input line, in order"
    );
    assert_eq!(outputs[0]["outcome"], "auto-approve");
    assert_eq!(outputs[0]["id"], "a");
    assert_eq!(outputs[0]["line"], 1);
    let field = |i: usize| outputs[i]["error"]["field"].clone();
    assert_eq!(field(1), "confidence");
    assert!(
        outputs[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("between 0 and 1")
    );
    assert_eq!(field(2), serde_json::Value::Null);
    assert!(
        outputs[2]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    assert_eq!(field(3), "action");
    assert_eq!(field(4), "confidence");
    assert_eq!(field(5), "confidnce");
    assert!(
        outputs[5]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `confidence`")
    );
    assert_eq!(
        outputs[6]["outcome"], "escalate",
        "delete at confidence 0.0: escalation is stricter"
    );
    assert_eq!(outputs[6]["line"], 8);
    assert_eq!(field(7), "action");
    assert_eq!(field(8), "resource");
}

#[test]
fn eval_input_exits_0_when_every_line_is_decided() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "requests.jsonl",
        "{\"action\":\"deploy\",\"resource\":\"production\",\"confidence\":1.0}\n{\"action\":\"read\"}\n",
    );
    let out = run(&["eval", "policies/seed.yaml", "--input", &path]);
    assert_eq!(out.status.code(), Some(0));
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["outcome"], "request-approval");
    assert_eq!(
        first["approvers"],
        serde_json::json!(["user:adam", "user:alice"])
    );
}

#[test]
fn test_command_passes_on_the_bundled_policies_and_fails_on_a_wrong_expectation() {
    let out = run(&["test", "policies"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains(" 0 failed"));

    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string("policies/seed.yaml").unwrap();
    write(dir.path(), "seed.yaml", &policy);
    let tests = "cases:\n  - name: wrong on purpose\n    request: {action: delete, confidence: 0.95}\n    expect: {outcome: auto-approve, hitlRule: 0}\n  - name: right\n    request: {action: delete}\n    expect: {outcome: escalate}\n";
    let test_path = write(dir.path(), "seed.test.yaml", tests);
    let out = run(&["test", &test_path]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("case wrong on purpose ... FAILED"));
    assert!(text.contains("case right ... ok"));
    assert!(
        text.contains(
            "  outcome:\n    expected: \"auto-approve\"\n    got:      \"request-approval\"\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("test result: FAILED. 1 passed, 1 failed\n"));
}

#[test]
fn test_command_reports_a_broken_test_file_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let test_path = write(
        dir.path(),
        "x.test.yaml",
        "policy: nowhere.yaml\ncases:\n  - name: a\n    request: {action: a}\n    expect: {outcom: deny}\n",
    );
    let out = run(&["test", &test_path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("x.test.yaml:5:14: error: unknown key `outcom`"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn test_command_output_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let policy = std::fs::read_to_string("policies/seed.yaml").unwrap();
    write(dir.path(), "seed.yaml", &policy);
    let tests = "cases:\n  - name: delete needs adam\n    request: {action: delete, confidence: 0.95}\n    expect: {outcome: request-approval, approvers: [user:adam], hitlRule: 0}\n  - name: a wrong expectation\n    request: {action: deploy, resource: staging, confidence: 0.5}\n    expect: {outcome: auto-approve, approvers: [], timeout: 2h}\n  - name: a refused request\n    request: {action: deploy, confidence: 1.5}\n    expect: {outcome: deny}\n";
    let test_path = write(dir.path(), "seed.test.yaml", tests);
    let dir_name = dir.path().display().to_string();

    let out = run(&["test", &test_path]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("test_text", stdout(&out).replace(&dir_name, "DIR"));

    let out = run(&["test", "--format", "json", &test_path]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (json["passed"].as_u64(), json["failed"].as_u64()),
        (Some(1), Some(2))
    );
    let cases = &json["files"][0]["cases"];
    assert_eq!(cases[1]["status"], "failed");
    assert_eq!(cases[1]["mismatches"][0]["field"], "outcome");
    assert_eq!(cases[1]["mismatches"][2]["field"], "timeout");
    assert_eq!(cases[1]["mismatches"][2]["got"], 3_600_000);
    assert!(
        cases[2]["requestError"]
            .as_str()
            .unwrap()
            .starts_with("confidence:")
    );

    let out = run(&["test", "--format", "junit", &test_path]);
    assert_eq!(out.status.code(), Some(1));
    let xml = stdout(&out);
    assert!(
        xml.contains("<testsuites name=\"rekall-policy\" tests=\"3\" failures=\"2\" errors=\"0\">"),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"delete needs adam\"/>"));
    assert!(xml.contains("<failure message=\"outcome: expected &quot;auto-approve&quot;, got &quot;request-approval&quot;\">"), "{xml}");
}

#[test]
fn test_command_without_a_path_finds_the_tests_under_the_current_directory() {
    let out = Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .arg("test")
        .current_dir("policies")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    for name in ["seed", "code-review", "data-platform", "customer-support"] {
        assert!(
            text.contains(&format!("from ./{name}.test.yaml")),
            "{name}: {text}"
        );
    }
}
