//! What a new user meets in their first hour at the command line: the conventions of the verbs
//! (standard input, folders, one exit code for an invalid policy, colour, completions), the
//! errors of a first policy, and a pending approval seen and answered from the terminal.

use std::process::Command;

use crate::support::{run, run_in, run_with_stdin, stderr, stdout, write};

const SEED_RKL: &str = include_str!("../../policies/seed.rkl");
const SEED_YAML: &str = include_str!("../../policies/seed.yaml");

/// Valid YAML that fails validation: the approvers are on a rule that asks no one.
const INVALID: &str = "version: 1\nhitl:\n  rules:\n    - action: read\n      requireApproval: false\n      approvers: [user:adam]\n";

// --- Standard input ---------------------------------------------------------------------------

#[test]
fn every_policy_argument_takes_standard_input_in_either_language() {
    for text in [SEED_YAML, SEED_RKL] {
        let check = run_with_stdin(&["check", "-"], text);
        assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
        assert_eq!(stdout(&check), "<stdin>: ok\n");

        let eval = run_with_stdin(&["eval", "-", "--action", "delete"], text);
        assert_eq!(eval.status.code(), Some(0), "{}", stderr(&eval));
        assert!(
            stdout(&eval).starts_with("outcome:    escalate"),
            "{}",
            stdout(&eval)
        );

        let explain = run_with_stdin(&["explain", "-", "--action", "delete"], text);
        assert_eq!(explain.status.code(), Some(0), "{}", stderr(&explain));
        assert!(stdout(&explain).starts_with("policy:     <stdin>\n"));

        let lint = run_with_stdin(&["lint", "-"], text);
        assert_eq!(lint.status.code(), Some(0), "{}", stderr(&lint));

        let fmt = run_with_stdin(&["fmt", "--to", "dsl", "-"], text);
        assert_eq!(fmt.status.code(), Some(0), "{}", stderr(&fmt));
        let canonical = run(&["fmt", "--to", "dsl", "policies/seed.yaml"]);
        assert_eq!(stdout(&fmt), stdout(&canonical));

        let diff = run_with_stdin(
            &[
                "diff",
                "-",
                "policies/seed.yaml",
                "--requests",
                "policies/seed.requests.jsonl",
            ],
            text,
        );
        assert_eq!(diff.status.code(), Some(0), "{}", stderr(&diff));
        assert!(stdout(&diff).contains(" 0 looser"), "{}", stdout(&diff));
    }
}

#[test]
fn standard_input_given_twice_is_refused() {
    for args in [
        &["eval", "-", "--input", "-"][..],
        &["check", "-", "-"],
        &[
            "diff",
            "-",
            "-",
            "--requests",
            "policies/seed.requests.jsonl",
        ],
    ] {
        let out = run_with_stdin(args, SEED_YAML);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("only once"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_invalid_policy_on_standard_input_is_located_in_it() {
    let out = run_with_stdin(&["check", "-"], INVALID);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).starts_with("<stdin>:6:18: error: "),
        "{}",
        stdout(&out)
    );
}

// --- check: folders and JSON ------------------------------------------------------------------

#[test]
fn check_takes_a_folder_and_skips_its_test_files() {
    let out = run(&["check", "policies"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let checked: Vec<&str> = stdout(&out).leak().lines().collect();
    let mut expected: Vec<String> = std::fs::read_dir("policies")
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| (p.ends_with(".yaml") || p.ends_with(".rkl")) && !p.ends_with(".test.yaml"))
        .map(|p| format!("{p}: ok"))
        .collect();
    expected.sort();
    assert_eq!(checked, expected);
    assert!(
        !stderr(&out).contains("test file"),
        "test files are not even named"
    );
}

#[test]
fn check_finds_policies_in_nested_folders_and_refuses_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("team")).unwrap();
    write(&dir.path().join("team"), "bad.yaml", INVALID);
    write(dir.path(), "good.rkl", SEED_RKL);
    write(
        dir.path(),
        "notes.txt",
        "not a policy, and not looked at in a folder",
    );
    let out = run_in(dir.path(), &["check", "."]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(text.contains("./good.rkl: ok"), "{text}");
    assert!(text.contains("./team/bad.yaml:6:18: error"), "{text}");
    assert!(text.ends_with("1 error in 1 of 2 files\n"), "{text}");

    let empty = tempfile::tempdir().unwrap();
    let out = run(&["check", &empty.path().display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no policy files"), "{}", stderr(&out));
}

#[test]
fn check_reports_json_for_tools() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", INVALID);
    let out = run(&["check", "--format", "json", &bad, "policies/seed.rkl"]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["invalid"], 1);
    assert_eq!(report["errors"], 1);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file"], bad.as_str());
    assert_eq!(files[0]["valid"], false);
    let error = &files[0]["errors"][0];
    assert_eq!(error["line"], 6);
    assert_eq!(error["column"], 18);
    assert_eq!(error["code"], "unused-approvers");
    assert!(error["message"].as_str().unwrap().contains("approvers"));
    assert!(error["help"].is_string());
    assert_eq!(files[1]["file"], "policies/seed.rkl");
    assert_eq!(files[1]["valid"], true);
    assert_eq!(files[1]["errors"], serde_json::json!([]));
}

// --- One exit code for an invalid policy ------------------------------------------------------

#[test]
fn an_invalid_policy_exits_2_in_every_verb() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", INVALID);
    write(
        dir.path(),
        "bad.test.yaml",
        "policy: bad.yaml\ncases:\n  - name: read\n    request: {action: read}\n    expect: {outcome: auto-approve}\n",
    );
    let log = "policies/seed.requests.jsonl";
    let verbs: Vec<Vec<&str>> = vec![
        vec!["check", &bad],
        vec!["eval", &bad, "--action", "read"],
        vec!["eval", &bad, "--input", log],
        vec!["explain", &bad, "--action", "read"],
        vec!["lint", &bad],
        vec!["fmt", &bad],
        vec!["fmt", "--check", &bad],
        vec!["diff", &bad, "policies/seed.yaml", "--requests", log],
        vec!["diff", "policies/seed.yaml", &bad, "--requests", log],
        vec!["test", &bad],
    ];
    for args in verbs {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let all = stdout(&out) + &stderr(&out);
        assert!(all.contains("bad.yaml:6:18: error"), "{args:?}: {all}");
    }
}

// --- eval --fail-on ---------------------------------------------------------------------------

#[test]
fn eval_fail_on_turns_a_decision_into_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "gate.yaml",
        "version: 1\ndefaults:\n  noMatch: deny\nhitl:\n  rules:\n    - action: read\n      requireApproval: false\n    - action: delete\n      requireApproval: true\n      approvers: [user:adam]\n",
    );
    // (action, --fail-on, exit): read is approved, delete waits for adam, drop is denied.
    for (action, fail_on, code) in [
        ("read", None, 0),
        ("delete", None, 0),
        ("drop", None, 0),
        ("read", Some("deny"), 0),
        ("delete", Some("deny"), 0),
        ("drop", Some("deny"), 1),
        ("read", Some("not-approved"), 0),
        ("delete", Some("not-approved"), 1),
        ("drop", Some("not-approved"), 1),
    ] {
        let mut args = vec!["eval", &policy, "--action", action, "--confidence", "1"];
        if let Some(f) = fail_on {
            args.extend(["--fail-on", f]);
        }
        let out = run(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stdout(&out));
    }
    for (lines, fail_on, code) in [
        (
            "{\"action\":\"read\",\"confidence\":1}\n",
            "not-approved",
            0,
        ),
        (
            "{\"action\":\"read\",\"confidence\":1}\n{\"action\":\"drop\",\"confidence\":1}\n",
            "deny",
            1,
        ),
        ("{\"action\":\"delete\",\"confidence\":1}\n", "deny", 0),
    ] {
        let out = run_with_stdin(
            &["eval", &policy, "--input", "-", "--fail-on", fail_on],
            lines,
        );
        assert_eq!(out.status.code(), Some(code), "{lines} {fail_on}");
        assert_eq!(
            stdout(&out).lines().count(),
            lines.lines().count(),
            "every line decided"
        );
    }
    let bad = run(&["eval", &policy, "--action", "read", "--fail-on", "denied"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown value is a usage error"
    );
}

// --- fmt --check ------------------------------------------------------------------------------

#[test]
fn fmt_check_prints_the_diff_it_would_write() {
    let dir = tempfile::tempdir().unwrap();
    let text = SEED_RKL.replace(
        "rule everything-else: * on * -> allow",
        "rule   everything-else:  * on * ->   allow",
    );
    let path = write(dir.path(), "seed.rkl", &text);
    let out = run(&["fmt", "--check", &path]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "{path}: not in canonical form (run `rekall-policy fmt --write`)\n\
         --- {path}\n\
         +++ {path} (canonical)\n\
         @@ -4,7 +4,7 @@\n \
         hitl {{\n   \
         rule delete-anything: delete on * -> require approval from [user:adam]\n   \
         rule deploy-production: deploy on production -> require 1 of [user:adam, user:alice]\n\
         -  rule   everything-else:  * on * ->   allow\n\
         +  rule everything-else: * on * -> allow\n \
         }}\n \n \
         escalation {{\n"
    );
    assert_eq!(stdout(&out), expected);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "nothing written"
    );

    let canonical = run(&["fmt", "--check", "policies/seed.rkl"]);
    assert_eq!(canonical.status.code(), Some(0));
    assert_eq!(stdout(&canonical), "");
}

// --- test FILE.rkl and --filter ---------------------------------------------------------------

#[test]
fn test_given_a_dsl_twin_tests_that_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "p.yaml",
        "version: 1\nhitl:\n  rules:\n    - action: \"*\"\n      requireApproval: false\n",
    );
    // The twin disagrees: it denies everything.
    write(
        dir.path(),
        "p.rkl",
        "policy p version 1\n\ndefaults {\n  no match -> deny\n}\n\nhitl {\n  rule never: nothing -> allow\n}\n",
    );
    write(
        dir.path(),
        "p.test.yaml",
        "policy: p.yaml\ncases:\n  - name: read is allowed\n    request: {action: read, confidence: 1}\n    expect: {outcome: auto-approve}\n",
    );
    let yaml = run_in(dir.path(), &["test", "p.yaml"]);
    assert_eq!(yaml.status.code(), Some(0), "{}", stdout(&yaml));
    let rkl = run_in(dir.path(), &["test", "p.rkl"]);
    assert_eq!(
        rkl.status.code(),
        Some(1),
        "the case runs against p.rkl: {}",
        stdout(&rkl)
    );
    assert!(stdout(&rkl).contains("(policy p.rkl)"), "{}", stdout(&rkl));
    assert_eq!(
        stderr(&rkl),
        "note: p.rkl: run with the cases of p.test.yaml, which names p.yaml\n"
    );
}

#[test]
fn test_filter_runs_the_matching_cases_only() {
    let all = run(&["test", "policies/seed.yaml"]);
    let total = stdout(&all).matches("\ncase ").count();
    let out = run(&["test", "policies", "--filter", "Delete"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let ran: Vec<&str> = stdout(&out)
        .leak()
        .lines()
        .filter(|l| l.starts_with("case "))
        .collect();
    assert!(!ran.is_empty());
    assert!(ran.iter().all(|l| l.contains("Delete")), "{ran:?}");
    assert!(ran.len() < total);
    assert!(stdout(&out).contains(&format!("{} passed, 0 failed", ran.len())));
    assert!(stderr(&out).starts_with(&format!("filter `Delete`: {} of ", ran.len())));

    let none = run(&["test", "policies", "--filter", "no case is called this"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(
        stderr(&none).contains("no case name contains"),
        "{}",
        stderr(&none)
    );
}

// --- Colour -----------------------------------------------------------------------------------

const ESC: &str = "\u{1b}[";

#[test]
fn colour_is_never_in_a_pipe_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", INVALID);
    for (flag, coloured) in [
        (None, false),
        (Some("never"), false),
        (Some("always"), true),
    ] {
        let mut args = vec!["check", bad.as_str()];
        if let Some(f) = flag {
            args.extend(["--color", f]);
        }
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(stdout(&out).contains(ESC), coloured, "{flag:?}");
        let plain = stdout(&out).replace(ESC, "");
        assert!(plain.contains("error"), "{flag:?}");
    }
    let test = run(&["--color", "always", "test", "policies/seed.yaml"]);
    assert!(
        stdout(&test).contains(&format!("... {ESC}32mok")),
        "{}",
        stdout(&test)
    );
}

/// Runs a command on a pseudo-terminal (util-linux `script`), where `auto` colours.
fn on_terminal(command: &str, no_color: bool) -> Option<String> {
    let mut script = Command::new("script");
    script.args(["-qec", command, "/dev/null"]);
    if no_color {
        script.env("NO_COLOR", "1");
    } else {
        script.env_remove("NO_COLOR");
    }
    let out = script.output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_on_a_terminal_unless_no_color_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", INVALID);
    let command = format!("{} check {bad}", env!("CARGO_BIN_EXE_rekall-policy"));
    let Some(coloured) = on_terminal(&command, false) else {
        eprintln!("skipped: no `script` to give the command a terminal");
        return;
    };
    assert!(coloured.contains(ESC), "{coloured}");
    let plain = on_terminal(&command, true).unwrap();
    assert!(plain.contains("error"), "{plain}");
    assert!(!plain.contains(ESC), "NO_COLOR: {plain}");
    let forced = on_terminal(&format!("{command} --color always"), true).unwrap();
    assert!(forced.contains(ESC), "--color always wins over NO_COLOR");
}

// --- Completions, man page, help --------------------------------------------------------------

#[test]
fn completions_and_the_man_page_come_from_the_command_definitions() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = stdout(&out);
        for word in ["rekall-policy", "approvals", "fail-on", "filter"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let out = run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let man = run(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = stdout(&man);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH rekall-policy"),
        "{page}"
    );
    assert!(page.contains(".TH rekall-policy"));
    for verb in ["approvals", "check", "completions", "man"] {
        assert!(page.contains(verb), "the man page names {verb}");
    }
}

/// Every argument of every verb, with the path of verbs leading to it.
fn walk(command: &clap::Command, path: &str, out: &mut Vec<(String, Option<String>)>) {
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        out.push((
            format!("{path} {id}"),
            arg.get_help().map(ToString::to_string),
        ));
    }
    for sub in command.get_subcommands() {
        out.push((
            format!("{path} {} (the verb)", sub.get_name()),
            sub.get_about().map(ToString::to_string),
        ));
        walk(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

#[test]
fn every_verb_and_flag_has_help() {
    let mut all = Vec::new();
    walk(&rekall_policy::cli::command(), "rekall-policy", &mut all);
    assert!(
        all.len() > 80,
        "the walk sees every argument: {}",
        all.len()
    );
    let missing: Vec<&String> = all
        .iter()
        .filter(|(_, help)| help.as_deref().is_none_or(|h| h.trim().is_empty()))
        .map(|(name, _)| name)
        .collect();
    assert!(missing.is_empty(), "no help text: {missing:#?}");
}

// --- The errors of a first policy -------------------------------------------------------------

#[test]
fn an_unknown_extension_is_a_plain_error_not_a_yaml_one() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write(dir.path(), "policy.txt", SEED_RKL);
    let bare = write(dir.path(), "policy", SEED_RKL);
    for (path, what) in [(&txt, "unknown extension `.txt`"), (&bare, "no extension")] {
        for args in [
            vec!["check", path.as_str()],
            vec!["eval", path, "--action", "x"],
        ] {
            let out = run(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let all = stdout(&out) + &stderr(&out);
            let first = all.lines().next().unwrap();
            assert_eq!(
                first,
                format!(
                    "{path}: error: {what}: a policy file is `.yaml` or `.yml` (YAML) or `.rkl` (the DSL)"
                )
            );
            assert!(!all.contains("syntax error"), "{all}");
        }
    }
}

#[test]
fn unreadable_input_is_one_plain_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml").display().to_string();
    let binary = dir.path().join("binary.yaml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let binary = binary.display().to_string();
    let folder = dir.path().join("folder.yaml");
    std::fs::create_dir(&folder).unwrap();
    let folder = folder.display().to_string();
    for (path, why) in [
        (&missing, "no such file"),
        (
            &binary,
            "it is not UTF-8 text (a binary file?); a policy is YAML or DSL text",
        ),
        (&folder, "it is a directory, not a file"),
    ] {
        for args in [
            vec!["eval", path.as_str(), "--action", "x"],
            vec!["lint", path],
            vec!["fmt", path],
        ] {
            let out = run(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let first = stderr(&out).lines().next().unwrap().to_owned();
            assert_eq!(
                first,
                format!("{path}: error: cannot read the policy file: {why}")
            );
            assert!(!stderr(&out).contains(":1:1"), "{args:?}: {}", stderr(&out));
            assert!(
                !stderr(&out).contains(" | "),
                "no snippet: {}",
                stderr(&out)
            );
        }
    }
    // A test file naming a policy that is missing says so the same way.
    write(
        dir.path(),
        "gone.test.yaml",
        "policy: gone.yaml\ncases: []\n",
    );
    let out = run_in(dir.path(), &["test", "gone.test.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stdout(&out).contains("gone.yaml: error: cannot read the policy file: no such file"),
        "{}",
        stdout(&out)
    );
}

fn check_text(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, text);
    let out = run(&["check", &path]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    stdout(&out).replace(&path, name)
}

#[test]
fn a_tab_in_yaml_indentation_says_to_use_spaces() {
    let out = check_text("tab.yaml", "version: 1\nhitl:\n\trules: []\n");
    assert!(
        out.contains("= help: indent with spaces: YAML does not allow tabs in indentation"),
        "{out}"
    );
}

#[test]
fn a_duplicate_key_points_at_the_first_one_too() {
    let out = check_text(
        "dup.yaml",
        "version: 1\nhitl:\n  rules:\n    - action: read\n      requireApproval: false\n      action: write\n",
    );
    assert!(
        out.contains("dup.yaml:6:7: error: key `action` appears twice in a hitl rule"),
        "{out}"
    );
    assert!(
        out.contains("= help: `action` is first given at line 4, column 7; keep one of them"),
        "{out}"
    );
}

#[test]
fn dsl_keyword_typos_get_did_you_mean() {
    let rule = |decision: &str| {
        format!("policy p version 1\n\nhitl {{\n  rule a: delete on * -> {decision}\n}}\n")
    };
    for (text, word) in [
        (rule("requre approval from [user:adam]"), "require"),
        (rule("alow"), "allow"),
        (
            rule("require approval from [user:adam] notfy [slack]"),
            "notify",
        ),
        (
            rule("require approval from [user:adam] timout 1h"),
            "timeout",
        ),
        ("polcy p version 1\n".to_owned(), "policy"),
        (
            "policy p version 1\n\nhitl {\n  rul a: delete -> allow\n}\n".to_owned(),
            "rule",
        ),
        (
            "policy p version 1\n\nhilt {\n  rule a: delete -> allow\n}\n".to_owned(),
            "hitl",
        ),
    ] {
        let out = check_text("typo.rkl", &text);
        assert!(
            out.contains(&format!("= help: did you mean `{word}`?")),
            "{text}\n{out}"
        );
    }
}

// --- A pending approval, from the terminal ----------------------------------------------------

fn ids(text: &str, prefix: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| w.starts_with(prefix) && w.len() == prefix.len() + 32)
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_newcomer_opens_sees_and_answers_a_pending_approval() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("rekall.db").display());
    let opened = run(&[
        "approvals",
        "request",
        "--store",
        &store,
        "--title",
        "Drop the old index",
        "--approvers",
        "user:adam,user:alice,user:bob",
        "--min-approvals",
        "2",
        "--description",
        "It has not been read in 90 days.\nIt takes 40 GB.",
        "--timeout",
        "2h",
    ]);
    assert_eq!(opened.status.code(), Some(0), "{}", stderr(&opened));
    let id = stdout(&opened).trim().to_owned();
    assert_eq!(ids(&id, "apr_"), vec![id.clone()], "stdout is the id alone");
    assert!(
        stderr(&opened).contains("approvals approve"),
        "says what to do next"
    );

    let pending = run(&["approvals", "list", "--store", &store, "--for", "user:bob"]);
    assert!(
        stdout(&pending).starts_with(&format!("{id}  pending")),
        "{}",
        stdout(&pending)
    );

    let show = |store: &str| {
        let out = run(&["approvals", "show", &id, "--store", store]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let before = show(&store);
    assert!(
        before.starts_with(&format!(
            "{id}  Drop the old index\n  status:       pending\n"
        )),
        "{before}"
    );
    assert!(
        before.contains("description:\n  It has not been read in 90 days.\n  It takes 40 GB.\n"),
        "{before}"
    );
    assert!(before.contains("gate: step 1 of 1\n"), "{before}");
    assert!(
        before.contains("0/2 approved, by any of user:adam, user:alice, user:bob; due "),
        "{before}"
    );
    assert!(before.contains("     no votes\n"), "{before}");

    let vote = run(&[
        "approvals",
        "approve",
        &id,
        "--store",
        &store,
        "--as",
        "user:adam",
        "--comment",
        "fine by me",
    ]);
    assert_eq!(vote.status.code(), Some(0), "{}", stderr(&vote));
    let after = show(&store);
    assert!(
        after.contains("  status:       pending\n"),
        "one of two: {after}"
    );
    assert!(after.contains("1/2 approved"), "{after}");
    assert!(after.contains("     user:adam approved at "), "{after}");
    assert!(after.contains(": fine by me\n"), "{after}");

    let json = run(&[
        "approvals",
        "show",
        &id,
        "--store",
        &store,
        "--format",
        "json",
    ]);
    let record: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["steps"][0]["votes"][0]["note"], "fine by me");

    // Cancelling the execution cancels the request it waits on; it cannot be resumed.
    let exe = ids(&after, "exe_").remove(0);
    let cancel = run(&[
        "executions",
        "cancel",
        &exe,
        "--store",
        &store,
        "--reason",
        "not now",
    ]);
    assert_eq!(cancel.status.code(), Some(0), "{}", stderr(&cancel));
    assert_eq!(stdout(&cancel), format!("{exe}: cancelled\n"));
    assert!(show(&store).contains("  status:       cancelled\n"));
    let late = run(&[
        "approvals",
        "approve",
        &id,
        "--store",
        &store,
        "--as",
        "user:bob",
    ]);
    assert_eq!(late.status.code(), Some(1), "a late vote is refused");
    let resume = run(&["executions", "resume", &exe, "--store", &store]);
    assert_eq!(resume.status.code(), Some(1));
    assert!(
        stderr(&resume).starts_with("refused: "),
        "{}",
        stderr(&resume)
    );
}

#[test]
fn approvals_request_refuses_what_no_one_could_answer() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("rekall.db").display());
    let base = ["approvals", "request", "--store", &store, "--title", "t"];
    for (extra, says) in [
        (&["--approvers", "adam"][..], "not a principal"),
        (
            &["--approvers", "user:adam", "--timeout", "soon"],
            "--timeout",
        ),
        (&["--approvers", "user:adam", "--min-approvals", "2"], "min"),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&out).contains(says), "{extra:?}: {}", stderr(&out));
        assert!(ids(&stdout(&out), "apr_").is_empty(), "no request opened");
    }
    let show = run(&["approvals", "show", "apr_nothing", "--store", &store]);
    assert_eq!(show.status.code(), Some(2));
}

// --- Odds and ends ----------------------------------------------------------------------------

#[test]
fn stores_made_by_following_the_readme_are_ignored_by_git() {
    let ignore = std::fs::read_to_string(".gitignore").unwrap();
    assert!(ignore.lines().any(|l| l == "rekall.db*"), "{ignore}");
}

#[test]
fn bench_names_its_targets_not_an_issue() {
    let out = run(&[
        "bench",
        "--generate",
        "3",
        "--requests",
        "1",
        "--varied",
        "0",
        "--rounds",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out) + &stderr(&out);
    assert!(text.contains("targets"), "{text}");
    assert!(!text.to_lowercase().contains("issue"), "{text}");
}
