//! Small hostile policy files: each must cost little (memory, stack depth) and get a clear,
//! located error or a correct decision, through every stage a verb runs (parse, validate,
//! compile, decide, print in both languages, lint).

use rekall_policy::front::Language;
use rekall_policy::lint::lint;
use rekall_policy::print::print;
use rekall_policy::{Policy, Request};

/// Runs `f` on a thread with a small stack: whatever the input, the walks it takes must not
/// recurse as deep as the input goes.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no stack overflow, no panic")
}

/// `n` groups, each containing the next, the last one principal.
fn group_chain(n: usize, dsl: bool) -> String {
    if dsl {
        let mut text = String::from("policy chain version 1\n\n");
        for i in 0..n {
            text.push_str(&format!("group g{i} = [group:g{}]\n", i + 1));
        }
        text.push_str(&format!(
            "group g{n} = [user:last]\n\nhitl {{\n  rule gate: delete on * -> require approval from [group:g0]\n}}\n"
        ));
        return text;
    }
    let mut text = String::from("version: 1\ngroups:\n");
    for i in 0..n {
        text.push_str(&format!("  g{i}: [group:g{}]\n", i + 1));
    }
    text.push_str(&format!(
        "  g{n}: [user:last]\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [group:g0]\n"
    ));
    text
}

#[test]
fn a_chain_of_17500_groups_goes_through_every_stage_on_a_small_stack() {
    for dsl in [false, true] {
        let text = group_chain(17_500, dsl);
        let language = if dsl { Language::Dsl } else { Language::Yaml };
        on_small_stack(move || {
            let policy = Policy::from_str_in(language, &text, "chain").expect("a valid policy");
            let request = Request::new("delete").resource("db");
            let decision = policy.decide(&request).expect("a decision");
            assert_eq!(decision.outcome().as_str(), "request-approval");
            assert_eq!(decision.approvers()[0].as_str(), "user:last");
            assert_eq!(policy.compile().decide(&request).unwrap(), decision);
            for to in [Language::Yaml, Language::Dsl] {
                let printed = print(policy.doc(), to);
                let again = Policy::from_str_in(to, &printed, "printed").expect("reparses");
                assert_eq!(again.decide(&request).unwrap(), decision);
            }
            lint(&policy);
        });
    }
}

#[test]
fn a_cycle_at_the_end_of_a_long_chain_is_reported_with_its_path() {
    let text = group_chain(5_000, false).replace("g5000: [user:last]", "g5000: [group:g4998]");
    let err = on_small_stack(move || Policy::from_yaml_str(&text, "cycle").unwrap_err());
    let rendered = err.render();
    assert!(
        rendered.contains("group `g4998` contains itself: g4998 -> g4999 -> g5000 -> g4998"),
        "{rendered}"
    );
}

#[test]
fn group_expansion_is_bounded_in_memory() {
    // Each group adds a principal and contains the next: expanded, the groups hold n²/2
    // principals in all, so 2,000 groups would hold 2,000,000.
    let n = 2_000;
    let mut text = String::from("version: 1\ngroups:\n");
    for i in 0..n {
        text.push_str(&format!("  g{i}: [user:u{i}, group:g{}]\n", i + 1));
    }
    text.push_str(&format!(
        "  g{n}: [user:last]\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [group:g0]\n"
    ));
    let err = Policy::from_yaml_str(&text, "wide").unwrap_err().render();
    assert!(
        err.contains("takes the groups' expansion past 1000000 principals in all"),
        "{err}"
    );
    assert!(err.contains("wide:"), "located: {err}");
    // Half as many groups hold a quarter as many: fine.
    let fine: String = text
        .lines()
        .filter(|l| {
            l.trim_start()
                .strip_prefix('g')
                .and_then(|r| r.split(':').next())
                .and_then(|i| i.parse::<usize>().ok())
                .is_none_or(|i| i < 1_000)
        })
        .map(|l| l.replace("group:g1000]", "user:last]") + "\n")
        .collect();
    let policy = Policy::from_yaml_str(&fine, "half").expect("valid");
    let d = policy.decide(&Request::new("delete")).unwrap();
    assert_eq!(d.approvers().len(), 1_001);
}

#[test]
fn a_billion_laughs_is_refused_before_it_costs_memory() {
    let mut text = String::from("version: 1\nname: &a0 lol\ngroups:\n");
    text.push_str("  x0: &x0 [user:a, user:b, user:c, user:d, user:e, user:f, user:g, user:h]\n");
    for i in 1..10 {
        let refs = vec![format!("*x{}", i - 1); 10].join(", ");
        text.push_str(&format!("  x{i}: &x{i} [{refs}]\n"));
    }
    text.push_str("hitl:\n  rules:\n    - action: \"*\"\n");
    assert!(text.len() < 700);
    let err = Policy::from_yaml_str(&text, "laughs").unwrap_err().render();
    assert!(err.contains("aliases expand this document past"), "{err}");
    assert!(err.contains("laughs:8:"), "located at the alias: {err}");
}

#[test]
fn anchors_and_aliases_of_ordinary_size_still_work() {
    let text = "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: &sre [user:adam, user:alice]\n    - action: migrate\n      requireApproval: true\n      approvers: *sre\n";
    let policy = Policy::from_yaml_str(text, "anchors").expect("valid");
    let d = policy.decide(&Request::new("migrate")).unwrap();
    let approvers: Vec<&str> = d.approvers().iter().map(|p| p.as_str()).collect();
    assert_eq!(approvers, ["user:adam", "user:alice"]);
}

#[test]
fn deeply_nested_yaml_is_a_located_error() {
    let mut text = String::from("version: 1\nhitl:\n");
    for depth in 0..10_000 {
        text.push_str(&format!("{}x:\n", "  ".repeat(depth + 1)));
    }
    let err = on_small_stack(move || Policy::from_yaml_str(&text, "deep").unwrap_err().render());
    assert!(err.contains("nested more than 128 deep"), "{err}");
    assert!(err.contains("deep:130:"), "{err}");
}

#[test]
fn globs_as_long_as_the_file_allows_match_on_a_small_stack() {
    for glob in [
        "*".repeat(200_000),
        "{,}".repeat(100_000) + "x",
        "{a,}".repeat(50_000),
    ] {
        let text = format!(
            "version: 1\nhitl:\n  rules:\n    - action: \"{glob}\"\n      requireApproval: true\n      approvers: [user:adam]\n"
        );
        on_small_stack(move || {
            let policy = Policy::from_yaml_str(&text, "long").expect("valid");
            let compiled = policy.compile();
            for action in ["x", "aaa", "b"] {
                let r = Request::new(action);
                let reference = policy.decide(&r).unwrap();
                assert_eq!(compiled.decide(&r).unwrap(), reference, "{action}");
            }
            lint(&policy);
        });
    }
}
