//! `rekall-policy bench`: what it prints and how it fails, on small runs (no timing is
//! asserted; the numbers belong to the benchmark, not to the tests).

use crate::support::{run, stdout};

#[test]
fn generated_sizes_print_a_row_each_and_check_against_the_reference() {
    let out = run(&[
        "bench",
        "--sizes",
        "1,3,20",
        "--requests",
        "200",
        "--varied",
        "300",
        "--rounds",
        "1",
    ]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("machine: "), "{text}");
    for label in [
        "hitl 1 ", "both 1 ", "hitl 3 ", "both 3 ", "hitl 20 ", "both 20 ",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(label) && l.contains('x')),
            "no row for {label}:\n{text}"
        );
    }
    // Every size and stage set is checked against the reference on both workloads, with
    // no mismatch.
    assert_eq!(text.matches(", 0 mismatches").count(), 6, "{text}");
    assert!(text.contains("300 distinct requests"), "{text}");
    assert!(
        text.contains("targets (compiled against the floor):"),
        "{text}"
    );
    // 20 HITL rules, and with both stages 5 escalation bands: 25 rules.
    let rules = |label: &str| {
        text.lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split_whitespace().nth(2))
            .map(str::to_owned)
    };
    assert_eq!(rules("hitl 20 ").as_deref(), Some("20"), "{text}");
    assert_eq!(rules("both 20 ").as_deref(), Some("25"), "{text}");
    // Each target is named, with its verdict, for both stage sets.
    for target in [
        "hitl: compiled <= 2x floor at every size up to 10000, repeated requests",
        "both: compiled <= 2x floor at every size, 300 distinct requests",
        "both: YAML text to compiled policy < 50 ms at 20 rules",
        "hitl: DSL text to compiled policy < 50 ms at 20 rules",
        "both: compiled policy < 16 MiB at 20 rules",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(target)
                && (l.ends_with(": met") || l.ends_with(": MISSED"))),
            "no target {target}:\n{text}"
        );
    }
}

#[test]
fn a_policy_file_in_json() {
    let out = run(&[
        "bench",
        "policies/seed.yaml",
        "--requests",
        "100",
        "--varied",
        "150",
        "--rounds",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    let row = &json["rows"][0];
    assert_eq!(row["policy"], "policies/seed.yaml");
    assert_eq!(row["rules"], 7);
    assert_eq!(row["requests"], 100);
    assert_eq!(row["mismatches"], 0);
    // The repeated workload, and as many varied requests again.
    assert_eq!(row["checked"], 200);
    assert_eq!(row["varied"]["requests"], 150);
    assert!(row["compiledNs"].as_f64().is_some_and(|ns| ns > 0.0));
    assert!(row["memory"]["total"].as_u64().is_some_and(|b| b > 0));
    assert!(
        json["machine"]
            .as_str()
            .is_some_and(|m| m.contains("cores"))
    );
}

#[test]
fn bad_usage_and_bad_policies_are_refused() {
    // Neither a file nor --generate.
    assert_eq!(run(&["bench"]).status.code(), Some(2));
    // Both.
    assert_eq!(
        run(&["bench", "policies/seed.yaml", "--generate", "3"])
            .status
            .code(),
        Some(2)
    );
    let zero = run(&["bench", "--generate", "3", "--rounds", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--rounds"));

    let dir = std::env::temp_dir().join(format!("rekall-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "version: 1\nhitl:\n  rules:\n    - action: \"[\"\n").unwrap();
    let out = run(&[
        "bench",
        bad.to_str().unwrap(),
        "--requests",
        "10",
        "--varied",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.yaml:4"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `bench --http` on a tiny run: the server starts on a loopback port, every request it
/// times is answered as it should be (a non-200 stops the run with an error), every round
/// trip's waiter is woken by the vote, and the report names each target.
#[test]
fn http_bench_drives_the_server_and_reports_each_measure() {
    let out = run(&[
        "bench",
        "--http",
        "policies/seed.yaml",
        "--seconds",
        "0.3",
        "--clients",
        "2",
        "--round-trips",
        "4",
        "--format",
        "json",
    ]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    for (run, endpoint) in [("health", "/healthz"), ("decide", "/v1/decide")] {
        assert_eq!(report[run]["endpoint"], endpoint, "{report}");
        assert_eq!(report[run]["clients"], 2);
        let requests = report[run]["requests"].as_u64().expect("a count");
        assert!(requests > 0, "{report}");
        assert_eq!(report[run]["latency"]["count"].as_u64(), Some(requests));
    }
    assert_eq!(report["roundTrip"]["count"], 4, "{report}");
    assert!(
        report["roundTripsPerSecond"]
            .as_f64()
            .is_some_and(|r| r > 0.0)
    );
    assert!(report["inProcessNs"].as_f64().is_some_and(|ns| ns > 0.0));

    let refused = run(&["bench", "--http", "--clients", "0"]);
    assert_eq!(refused.status.code(), Some(2), "{:?}", refused);
}
