//! The command line against hostile and careless use: closed pipes, bytes that are not text,
//! byte-order marks, duplicated JSON keys, and invalid policies handed to `fmt`.

use std::io::Read;
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::support::{bin, run, run_with_stdin, text, write};

/// More than a pipe holds (64 KiB on Linux), so that a verb is still writing when its reader
/// goes away.
const BIG: usize = 128 * 1024;

/// Runs a verb the way `VERB | head -c 1024` does: the reader takes a little, then closes.
fn closed_early(args: &[&str], before_any_output: bool) -> Output {
    if before_any_output {
        // The reader is closed before the verb starts, so that it cannot win the race and
        // write into the pipe's buffer while its reader still exists.
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let child = bin()
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        return child.wait_with_output().unwrap();
    }
    let mut child = bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 1024];
    stdout.read_exact(&mut head).expect("the verb prints");
    drop(stdout);
    child.wait_with_output().unwrap()
}

fn assert_quiet_stop(args: &[&str], out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    assert!(!err.contains("Broken pipe"), "{args:?} complained:\n{err}");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} must stop with exit 2 (could not finish): {err}"
    );
}

/// A valid policy of `n` rules, all shadowed by a first catch-all (so `lint` warns about each).
fn shadowed_policy(n: usize) -> String {
    let mut s = String::from(
        "version: 1\nhitl:\n  rules:\n    - action: \"*\"\n      requireApproval: true\n      approvers: [user:adam]\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "    - id: rule-number-{i}\n      action: deploy-{i}\n      resource: \"service-{i}/*\"\n      requireApproval: false\n"
        ));
    }
    s
}

/// An invalid policy with `n` errors.
fn broken_policy(n: usize) -> String {
    let mut s = String::from("version: 1\nhitl:\n  rules:\n");
    for i in 0..n {
        s.push_str(&format!(
            "    - action: deploy-{i}\n      requireAproval: true\n      approvers: [user:adam]\n"
        ));
    }
    s
}

#[test]
fn every_verb_stops_quietly_when_its_reader_closes_the_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "big.yaml", shadowed_policy(4_000));
    let broken = write(dir.path(), "broken.yaml", broken_policy(2_000));
    let requests: String = (0..5_000)
        .map(|i| format!("{{\"id\":{i},\"action\":\"deploy-{i}\",\"resource\":\"x\"}}\n"))
        .collect();
    let requests = write(dir.path(), "requests.jsonl", requests);
    let invalid: String = (0..5_000)
        .map(|i| format!("{{\"actoin\":{i}}}\n"))
        .collect();
    let invalid = write(dir.path(), "invalid.jsonl", invalid);
    let mut cases = String::from("policy: big.yaml\ncases:\n");
    for i in 0..3_000 {
        cases.push_str(&format!(
            "  - name: case number {i} of a long test file\n    request: {{action: deploy-{i}}}\n    expect: {{outcome: request-approval}}\n"
        ));
    }
    let tests = write(dir.path(), "big.test.yaml", cases);
    let verbs: Vec<Vec<&str>> = vec![
        vec!["fmt", &policy],
        vec!["fmt", "--to", "dsl", &policy],
        vec!["lint", &policy],
        vec!["check", &broken],
        vec!["eval", &policy, "--input", &requests],
        vec!["explain", &policy, "--action", "deploy-7"],
        vec![
            "diff",
            &policy,
            &policy,
            "--requests",
            &invalid,
            "--format",
            "json",
        ],
        vec!["test", &tests],
    ];
    for args in &verbs {
        let full = run(args);
        assert!(
            full.stdout.len() > BIG,
            "{args:?} prints only {} bytes, too few to fill a pipe: {}",
            full.stdout.len(),
            text(&full.stderr)
        );
        assert_quiet_stop(args, &closed_early(args, false));
    }
    // bench prints only a table, after measuring: its reader is gone before it writes.
    let args = [
        "bench",
        "--generate",
        "3",
        "--requests",
        "1",
        "--varied",
        "0",
        "--rounds",
        "1",
    ];
    assert_quiet_stop(&args, &closed_early(&args, true));
}

/// Parses, but does not validate: the bands overlap and a rule names a group nobody defined.
const INVALID: &str = "version: 1\nhitl:\n  rules:\n    - action: deploy\n      requireApproval: true\n      approvers: [group:nobody]\nescalation:\n  rules:\n    - confidenceRange: [0.0, 0.6]\n      action: escalate\n      approvers: [user:carol]\n    - confidenceRange: [0.5, 1.0]\n      action: auto-approve\n";

/// Does not parse: a misspelt key.
const MISSPELT: &str = "version: 1\nhitl:\n  rules:\n    - action: deploy\n      requireAproval: true\n      approvers: [user:adam]\n";

#[test]
fn fmt_refuses_an_invalid_policy_as_check_does() {
    for (name, policy) in [("invalid.yaml", INVALID), ("misspelt.yaml", MISSPELT)] {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), name, policy);
        let check = run(&["check", &path]);
        // 2: an invalid policy, the same code for every verb.
        assert_eq!(check.status.code(), Some(2), "{name}");
        let diagnostics = text(&check.stdout);
        let diagnostics = &diagnostics[..diagnostics.rfind("error").unwrap()];
        let diagnostics = &diagnostics[..diagnostics.rfind('\n').unwrap() + 1];
        assert!(diagnostics.contains(&format!("{path}:")), "{diagnostics}");

        for args in [
            vec!["fmt", path.as_str()],
            vec!["fmt", "--to", "dsl", path.as_str()],
            vec!["fmt", "--check", path.as_str()],
            vec!["fmt", "--write", path.as_str()],
            vec!["fmt", "--to", "dsl", "--write", path.as_str()],
        ] {
            let out = run(&args);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?}: {}",
                text(&out.stderr)
            );
            assert_eq!(text(&out.stdout), "", "{args:?} printed on stdout");
            assert!(
                text(&out.stderr).starts_with(diagnostics),
                "{args:?}: stderr is not check's diagnostics:\n{}\nwanted:\n{diagnostics}",
                text(&out.stderr)
            );
            assert!(text(&out.stderr).contains("not formatted"), "{args:?}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), policy, "{args:?}");
            assert!(
                !dir.path().join(name).with_extension("rkl").exists(),
                "{args:?}"
            );
        }
    }
}

#[test]
fn fmt_still_prints_the_valid_files_beside_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "invalid.yaml", INVALID);
    let out = run(&["fmt", &bad, "policies/seed.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let printed = text(&out.stdout);
    assert!(
        printed.starts_with("==> policies/seed.yaml <==\n"),
        "{printed}"
    );
    assert!(!printed.contains("invalid.yaml"), "{printed}");
}

#[test]
fn a_byte_order_mark_starts_a_policy_in_either_language() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["seed.rkl", "seed.yaml"] {
        let plain = std::fs::read(Path::new("policies").join(name)).unwrap();
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), &plain].concat();
        let path = write(dir.path(), name, &with_bom);
        let out = run(&["check", &path]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stdout));
        let out = run(&[
            "eval",
            &path,
            "--action",
            "deploy",
            "--resource",
            "production",
        ]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).starts_with("outcome:    escalate"),
            "{name}"
        );
        // The canonical form has no mark, so `fmt --check` asks for it to go.
        let out = run(&["fmt", "--check", &path]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let out = run(&["fmt", "--write", &path]);
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert_eq!(std::fs::read(&path).unwrap(), plain, "{name}");
    }
}

fn json_lines(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is JSON"))
        .collect()
}

/// A log as a careless editor leaves it: a byte-order mark, a line of Latin-1, a duplicated key.
fn careless_log() -> Vec<u8> {
    let mut log = Vec::new();
    log.extend_from_slice(b"\xEF\xBB\xBF{\"id\":\"bom\",\"action\":\"deploy\",\"resource\":\"staging\",\"confidence\":0.95}\n");
    log.extend_from_slice(b"{\"id\":\"latin1\",\"action\":\"d\xE9ploy\"}\n");
    log.extend_from_slice(
        b"{\"id\":\"after\",\"action\":\"delete\",\"resource\":\"db\",\"confidence\":0.95}\r\n",
    );
    log.extend_from_slice(
        b"{\"id\":\"dup\",\"action\":\"delete\",\"resource\":\"db\",\"action\":\"read\"}\n",
    );
    log.extend_from_slice(b"{\"id\":\"edge\",\"action\":\"deploy\",\"resource\":\"staging\",\"confidence\":0.39999999999999997}\n");
    log.extend_from_slice(
        b"{\"id\":\"nested\",\"action\":\"read\",\"context\":{\"ticket\":1,\"ticket\":2}}\n",
    );
    log
}

fn assert_careless_log_decided(out: &Output) {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let lines = json_lines(out);
    assert_eq!(lines.len(), 6, "one output per input line: {lines:?}");
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(
        lines[0]["id"], "bom",
        "the mark before the first line is skipped"
    );
    assert_eq!(lines[0]["outcome"], "auto-approve");

    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[1]["error"]["field"], Value::Null);
    let message = lines[1]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("not UTF-8 text"), "{message}");

    assert_eq!(lines[2]["line"], 3, "the lines after a bad one are decided");
    assert_eq!(lines[2]["id"], "after");
    assert_eq!(lines[2]["outcome"], "request-approval");

    assert_eq!(lines[3]["line"], 4);
    assert_eq!(
        lines[3]["id"],
        Value::Null,
        "a line refused as JSON has no id"
    );
    assert_eq!(lines[3]["error"]["field"], "action");
    let message = lines[3]["error"]["message"].as_str().unwrap();
    assert!(message.contains("twice"), "{message}");

    assert_eq!(lines[4]["id"], "edge");
    assert_eq!(
        lines[4]["outcome"], "escalate",
        "0.39999999999999997 is below the 0.4 band edge"
    );
    assert_eq!(lines[4]["escalationRuleId"], "lost");

    assert_eq!(lines[5]["error"]["field"], "context");
    let message = lines[5]["error"]["message"].as_str().unwrap();
    assert!(message.contains("`ticket`"), "{message}");
}

#[test]
fn eval_input_judges_each_line_alone_and_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "careless.jsonl", careless_log());
    let out = run(&["eval", "policies/seed.yaml", "--input", &log]);
    assert_careless_log_decided(&out);
    let out = run_with_stdin(
        &["eval", "policies/seed.yaml", "--input", "-"],
        careless_log(),
    );
    assert_careless_log_decided(&out);
}

#[test]
fn a_mark_is_only_skipped_before_the_first_line() {
    let log = b"{\"action\":\"deploy\"}\n\xEF\xBB\xBF{\"action\":\"deploy\"}\n";
    let out = run_with_stdin(&["eval", "policies/seed.yaml", "--input", "-"], log);
    let lines = json_lines(&out);
    assert_eq!(lines[0]["outcome"], "escalate");
    assert!(
        lines[1]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "{:?}",
        lines[1]
    );
}

#[test]
fn diff_requests_reads_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "careless.jsonl", careless_log());
    let out = run(&[
        "diff",
        "policies/seed.yaml",
        "policies/seed.rkl",
        "--requests",
        &log,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["requests"], 6);
    assert_eq!(report["summary"]["unchanged"], 3, "{report}");
    let invalid: Vec<(u64, Value)> = report["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["line"].as_u64().unwrap(), i["field"].clone()))
        .collect();
    assert_eq!(
        invalid,
        [
            (2, Value::Null),
            (4, Value::from("action")),
            (6, Value::from("context"))
        ]
    );
}

#[test]
fn a_duplicated_key_in_the_context_flag_is_refused() {
    for verb in ["eval", "explain"] {
        let out = run(&[
            verb,
            "policies/seed.yaml",
            "--action",
            "deploy",
            "--context",
            r#"{"ticket":1,"ticket":2}"#,
        ]);
        assert_ne!(out.status.code(), Some(0), "{verb}");
        let all = text(&out.stderr) + &text(&out.stdout);
        assert!(
            all.contains("context") && all.contains("duplicate key `ticket`"),
            "{verb}: {all}"
        );
    }
}

/// Doubles at and around every band edge of seed.yaml, printed in shortest form: the line
/// reader and the `--confidence` flag must read them to the same double as Rust does.
#[test]
fn confidences_at_band_edges_are_read_exactly() {
    let policy = rekall_policy::Policy::from_path("policies/seed.yaml").unwrap();
    let mut values = Vec::new();
    for edge in [0.0f64, 0.4, 0.7, 0.9, 1.0] {
        for step in -40i64..=40 {
            let bits = edge.to_bits() as i64 + step;
            let c = f64::from_bits(bits as u64);
            if (0.0..=1.0).contains(&c) {
                values.push(c);
            }
        }
    }
    let log: String = values
        .iter()
        .map(|c| format!("{{\"action\":\"deploy\",\"resource\":\"staging\",\"confidence\":{c}}}\n"))
        .collect();
    let out = run_with_stdin(
        &["eval", "policies/seed.yaml", "--input", "-"],
        log.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), values.len());
    for (c, line) in values.iter().zip(&lines) {
        let want = policy
            .decide(
                &rekall_policy::Request::new("deploy")
                    .resource("staging")
                    .confidence(*c),
            )
            .unwrap();
        assert_eq!(
            line["escalationRule"],
            serde_json::json!(want.escalation_rule()),
            "confidence {c}: {line}"
        );
    }
}

#[test]
fn the_approvals_help_says_a_vote_is_taken_on_trust() {
    for args in [
        vec!["approvals", "--help"],
        vec!["approvals", "list", "--help"],
        vec!["approvals", "approve", "--help"],
        vec!["approvals", "reject", "--help"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = text(&out.stdout).replace('\n', " ");
        assert!(
            help.contains(
                "Whoever can write the store file can approve or reject as any principal"
            ) && help.contains("authenticated approval is the server's job"),
            "{args:?}: {help}"
        );
    }
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert!(readme.contains("**Who may vote from the CLI.**"));
}
