//! `rekall-policy diff` and the replay behind it, on a policy change that loosens one gate,
//! tightens another and changes a quorum (`tests/fixtures/diff/`).

use std::io::Write;
use std::process::{Command, Output, Stdio};

use rekall_policy::Policy;
use rekall_policy::eval::diff::{ChangeKind, Replay, replay};
use serde_json::{Value, json};

const OLD: &str = "tests/fixtures/diff/old.yaml";
const NEW: &str = "tests/fixtures/diff/new.yaml";
const TIGHTENED: &str = "tests/fixtures/diff/tightened.yaml";
const LOG: &str = "tests/fixtures/diff/requests.jsonl";

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

fn load(path: &str) -> Policy {
    Policy::from_path(path).unwrap_or_else(|e| panic!("{path}: {}", e.render()))
}

fn diff_json(old: &str, new: &str, extra: &[&str]) -> Value {
    let mut args = vec!["diff", old, new, "--requests", LOG, "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("diff prints JSON")
}

#[test]
fn text_report_puts_looser_changes_first() {
    let out = run(&["diff", OLD, NEW, "--requests", LOG]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let looser = text.find("LOOSER by 2 steps").expect("a looser group");
    let tighter = text.find("TIGHTER").expect("a tighter group");
    let approvers = text
        .find("GATE TIGHTENED")
        .expect("a tightened gate (quorum 1 -> 2)");
    assert!(looser < tighter && tighter < approvers, "{text}");
    assert!(text.ends_with(
        "14 requests, 4 unchanged, 4 looser, 0 loosened gates, 2 tighter, 1 tightened gates, 0 approvers changed, 3 invalid\n"
    ));
    insta::assert_snapshot!(text);
}

#[test]
fn text_report_with_one_example_per_group() {
    let out = run(&["diff", OLD, NEW, "--requests", LOG, "--examples", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("  ... and 2 more\n"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn fail_on_looser_exits_1_when_a_gate_opens_and_0_when_only_tightened() {
    let out = run(&["diff", OLD, NEW, "--requests", LOG, "--fail-on-looser"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("LOOSER"));

    let out = run(&[
        "diff",
        OLD,
        TIGHTENED,
        "--requests",
        LOG,
        "--fail-on-looser",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("LOOSER"), "{text}");
    assert!(text.contains("TIGHTER by 2 steps: auto-approve -> request-approval"));
    assert!(text.ends_with(
        "14 requests, 9 unchanged, 0 looser, 0 loosened gates, 2 tighter, 0 tightened gates, 0 approvers changed, 3 invalid\n"
    ));

    // The other way round, the tightened policy's change is a loosening.
    let out = run(&[
        "diff",
        TIGHTENED,
        OLD,
        "--requests",
        LOG,
        "--fail-on-looser",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn an_unchanged_policy_reports_no_changes() {
    let out = run(&[
        "diff",
        "policies/seed.yaml",
        "policies/seed.rkl",
        "--requests",
        "policies/seed.requests.jsonl",
        "--fail-on-looser",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("\nno decision changes\n"), "{text}");
    assert!(text.ends_with(
        "8 requests, 8 unchanged, 0 looser, 0 loosened gates, 0 tighter, 0 tightened gates, 0 approvers changed, 0 invalid\n"
    ));
}

#[test]
fn json_report_shape() {
    let json = diff_json(OLD, NEW, &["--examples", "2"]);
    assert_eq!(json["old"], OLD);
    assert_eq!(json["new"], NEW);
    assert_eq!(json["requestsFile"], LOG);
    assert_eq!(
        json["summary"],
        json!({"requests": 14, "unchanged": 4, "looser": 4, "gateLoosened": 0, "tighter": 2,
               "gateTightened": 1, "approversChanged": 0, "invalid": 3})
    );
    let groups = json["groups"].as_array().unwrap();
    let heads: Vec<(&str, &str, &str, u64, u64)> = groups
        .iter()
        .map(|g| {
            (
                g["kind"].as_str().unwrap(),
                g["old"].as_str().unwrap(),
                g["new"].as_str().unwrap(),
                g["steps"].as_u64().unwrap(),
                g["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        heads,
        [
            ("looser", "request-approval", "auto-approve", 2, 3),
            ("looser", "request-approval", "notify-and-proceed", 1, 1),
            ("tighter", "auto-approve", "request-approval", 2, 1),
            ("tighter", "notify-and-proceed", "request-approval", 1, 1),
            (
                "gate-tightened",
                "request-approval",
                "request-approval",
                0,
                1
            ),
        ]
    );

    let first = &groups[0]["examples"];
    assert_eq!(first.as_array().unwrap().len(), 2, "--examples 2");
    assert_eq!(first[0]["line"], 2);
    assert_eq!(
        first[0]["request"],
        json!({"action": "delete", "resource": "prod/cache-1", "confidence": 0.95})
    );
    assert_eq!(first[0]["old"]["outcome"], "request-approval");
    assert_eq!(first[0]["old"]["approvers"], json!(["user:adam"]));
    assert_eq!(first[0]["old"]["hitlRule"], 0);
    assert_eq!(first[0]["new"]["outcome"], "auto-approve");
    assert_eq!(first[0]["new"]["hitlRule"], 3);
    assert!(
        first[0]["new"]["reason"]
            .as_str()
            .unwrap()
            .contains("everything-else")
    );
    assert_eq!(first[1]["line"], 3);
    assert_eq!(first[1]["id"], "req-3", "the log's id is echoed");

    let quorum = &groups[4]["examples"][0];
    assert_eq!(quorum["line"], 7);
    assert_eq!(quorum["old"]["minApprovals"], 1);
    assert_eq!(quorum["new"]["minApprovals"], 2);
    assert_eq!(quorum["old"]["approvers"], quorum["new"]["approvers"]);

    let invalid: Vec<(u64, Value)> = json["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["line"].as_u64().unwrap(), i["field"].clone()))
        .collect();
    assert_eq!(
        invalid,
        [
            (12, json!("confidence")),
            (13, Value::Null),
            (14, json!("confidnce")),
        ]
    );
}

#[test]
fn a_log_read_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(["diff", OLD, NEW, "--requests", "-", "--fail-on-looser"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(b"{\"action\":\"delete\",\"resource\":\"prod/cache-9\",\"confidence\":0.9}\n")
        .expect("the binary reads stdin");
    let out = child.wait_with_output().expect("the binary finishes");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).ends_with(
        "1 requests, 0 unchanged, 1 looser, 0 loosened gates, 0 tighter, 0 tightened gates, 0 approvers changed, 0 invalid\n"
    ));
}

#[test]
fn an_unreadable_log_or_an_invalid_policy_exits_2() {
    let out = run(&["diff", OLD, NEW, "--requests", "no/such/log.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read no/such/log.jsonl"));
    assert!(stdout(&out).is_empty());

    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "version: 2\nhitl:\n  rules:\n    - action: x\n").unwrap();
    let broken = broken.to_str().unwrap();
    for (old, new) in [(broken, NEW), (OLD, broken)] {
        let out = run(&["diff", old, new, "--requests", LOG, "--fail-on-looser"]);
        assert_eq!(out.status.code(), Some(2), "{old} {new}");
        assert!(stderr(&out).contains("no decisions from an invalid policy"));
    }

    // A directory is not a log.
    let out = run(&["diff", OLD, NEW, "--requests", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn lines_that_are_not_requests_are_counted_not_fatal() {
    let old = load(OLD);
    let new = load(NEW);
    let log: &[u8] = b"\n   \n{\"action\": \"delete\", \"resource\": \"prod/x\"}\n\xff\xfe\n[1, 2]\n{\"action\": 3}\n{\"action\": \"a\", \"confidence\": null}\n";
    let report = replay(&old, &new, log, 3).unwrap();
    assert_eq!(report.summary.requests, 5, "blank lines are skipped");
    assert_eq!(report.summary.invalid, 4);
    // At confidence 0 both versions escalate to carol: the unsure band is stricter.
    assert_eq!(report.summary.unchanged, 1);
    let lines: Vec<usize> = report.invalid.iter().map(|i| i.line).collect();
    assert_eq!(lines, [4, 5, 6, 7]);
    assert!(report.invalid[0].message.starts_with("not UTF-8 text"));
    assert_eq!(report.invalid[1].field.as_deref(), Some("request"));
    assert_eq!(report.invalid[2].field.as_deref(), Some("action"));
    assert_eq!(report.invalid[3].field.as_deref(), Some("confidence"));
}

#[test]
fn swapping_the_policies_swaps_looser_and_tighter() {
    let pairs = [
        (OLD, NEW),
        (OLD, TIGHTENED),
        ("policies/seed.yaml", "policies/data-platform.yaml"),
        (
            "policies/code-review.yaml",
            "policies/customer-support.yaml",
        ),
    ];
    let logs = [
        LOG,
        "policies/seed.requests.jsonl",
        "policies/data-platform.requests.jsonl",
        "policies/code-review.requests.jsonl",
        "policies/customer-support.requests.jsonl",
    ];
    for (a, b) in pairs {
        let (a, b) = (load(a), load(b));
        for log in logs {
            let text = std::fs::read(log).unwrap();
            let forth = replay(&a, &b, text.as_slice(), 1).unwrap();
            let back = replay(&b, &a, text.as_slice(), 1).unwrap();
            let (f, s) = (forth.summary, back.summary);
            assert_eq!(f.looser, s.tighter, "{log}");
            assert_eq!(f.tighter, s.looser, "{log}");
            assert_eq!(f.gate_loosened, s.gate_tightened, "{log}");
            assert_eq!(f.gate_tightened, s.gate_loosened, "{log}");
            assert_eq!(f.approvers_changed, s.approvers_changed, "{log}");
            assert_eq!(f.unchanged, s.unchanged, "{log}");
            let changed =
                f.looser + f.gate_loosened + f.tighter + f.gate_tightened + f.approvers_changed;
            assert_eq!(f.requests, f.unchanged + changed + f.invalid);
            let counted: usize = forth.groups.iter().map(|g| g.count).sum();
            assert_eq!(counted, changed);
            for g in &forth.groups {
                assert!(g.examples.len() <= 1);
                for ex in &g.examples {
                    assert_eq!((ex.old.outcome, ex.new.outcome), (g.old, g.new));
                }
                match g.kind {
                    ChangeKind::Looser => assert!(g.new < g.old),
                    ChangeKind::Tighter => assert!(g.new > g.old),
                    ChangeKind::GateLoosened
                    | ChangeKind::GateTightened
                    | ChangeKind::Approvers => assert_eq!(g.new, g.old),
                }
            }
            // Most dangerous first: every looser group before every tighter one, and looser
            // groups by how much looser.
            let kinds: Vec<ChangeKind> = forth.groups.iter().map(|g| g.kind).collect();
            let mut sorted = kinds.clone();
            sorted.sort_by_key(|k| match k {
                ChangeKind::Looser => 0,
                ChangeKind::GateLoosened => 1,
                ChangeKind::Tighter => 2,
                ChangeKind::GateTightened => 3,
                ChangeKind::Approvers => 4,
            });
            assert_eq!(kinds, sorted);
            let looser_steps: Vec<u8> = forth
                .groups
                .iter()
                .filter(|g| g.kind == ChangeKind::Looser)
                .map(|g| g.steps)
                .collect();
            assert!(looser_steps.windows(2).all(|w| w[0] >= w[1]));
        }
    }
}

#[test]
fn a_policy_compared_with_itself_changes_nothing() {
    let seed = load("policies/seed.yaml");
    let mut replay = Replay::new(&seed, &seed, 3);
    for (i, line) in std::fs::read_to_string("policies/seed.requests.jsonl")
        .unwrap()
        .lines()
        .enumerate()
    {
        replay.line(i + 1, line);
    }
    let report = replay.finish();
    assert!(report.groups.is_empty());
    assert!(!report.any_looser());
    assert_eq!(report.summary.unchanged, report.summary.requests);
    assert_eq!(report.summary.requests, 8);
}

#[test]
fn a_lowered_quorum_or_a_wider_approver_list_counts_as_looser() {
    let gate = |approvers: &str, min: u32| {
        Policy::from_yaml_str(
            &format!("version: 1\nhitl:\n  rules:\n    - action: deploy\n      requireApproval: true\n      approvers: [{approvers}]\n      minApprovals: {min}\n"),
            "p.yaml",
        )
        .unwrap()
    };
    let log = "{\"action\": \"deploy\"}\n";
    let kind = |old: &Policy, new: &Policy| {
        let report = replay(old, new, log.as_bytes(), 1).unwrap();
        (report.groups.first().map(|g| g.kind), report.any_looser())
    };
    let two_of_two = gate("user:a, user:b", 2);
    let one_of_two = gate("user:a, user:b", 1);
    let one_of_three = gate("user:a, user:b, user:c", 1);
    let one_of_other_two = gate("user:a, user:c", 1);
    assert_eq!(
        kind(&two_of_two, &one_of_two),
        (Some(ChangeKind::GateLoosened), true)
    );
    assert_eq!(
        kind(&one_of_two, &one_of_three),
        (Some(ChangeKind::GateLoosened), true)
    );
    assert_eq!(
        kind(&one_of_two, &two_of_two),
        (Some(ChangeKind::GateTightened), false)
    );
    assert_eq!(
        kind(&one_of_two, &one_of_other_two),
        (Some(ChangeKind::Approvers), false)
    );
    assert_eq!(kind(&one_of_two, &one_of_two), (None, false));
}

#[test]
fn a_logged_request_with_a_key_twice_is_an_invalid_line_naming_it() {
    let old = load(OLD);
    let new = load(NEW);
    let log: &[u8] = b"\xef\xbb\xbf{\"action\": \"deploy\", \"confidence\": 0.39999999999999997}\n{\"action\": \"delete\", \"action\": \"read\"}\n";
    let report = replay(&old, &new, log, 3).unwrap();
    assert_eq!(report.summary.requests, 2);
    assert_eq!(
        report.summary.invalid, 1,
        "the BOM of the first line is skipped"
    );
    assert_eq!(report.invalid[0].line, 2);
    assert_eq!(report.invalid[0].field.as_deref(), Some("action"));
    assert!(
        report.invalid[0].message.contains("twice"),
        "{}",
        report.invalid[0].message
    );
}
