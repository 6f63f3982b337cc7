//! Work that grows with the input, counted: lint's analysis never does more than its budget,
//! however hostile the policy, and decides literal-heavy policies in work linear in their size.
//! (The DSL's and the diagnostics' position lookups are counted by unit tests in the library,
//! where the counter lives.)

use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use rekall_policy::Policy;
use rekall_policy::lint::{self, BUDGET, Report};

fn hitl(rules: &[(String, Option<String>)]) -> Policy {
    let mut out = String::from("version: 1\nhitl:\n  rules:\n");
    for (action, resource) in rules {
        out.push_str(&format!("    - action: \"{action}\"\n"));
        if let Some(r) = resource {
            out.push_str(&format!("      resource: \"{r}\"\n"));
        }
        out.push_str("      requireApproval: false\n");
    }
    Policy::from_yaml_str(&out, "big.yaml").unwrap_or_else(|e| panic!("{}", e.render()))
}

fn rule(action: &str) -> (String, Option<String>) {
    (action.to_owned(), None)
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.warnings.iter().map(|w| w.code).collect()
}

/// The shapes that used to take seconds to minutes and gigabytes, each with a budget small
/// enough for a test: the analysis stops within it and says `undecided`.
#[test]
fn hostile_shapes_stop_within_the_budget_and_say_undecided() {
    let literals: Vec<_> = (0..100_000).map(|i| rule(&format!("act{i}"))).collect();
    let shapes = [
        (
            "one rule `*a?` x 10,000",
            hitl(&[rule(&"*a?".repeat(10_000))]),
        ),
        (
            "one rule `*a?` x 33,333",
            hitl(&[rule(&"*a?".repeat(33_333))]),
        ),
        (
            "a 1,000,000-character literal",
            hitl(&[rule(&"x".repeat(1_000_000)), rule("*")]),
        ),
        ("100,000 literal rules", hitl(&literals)),
    ];
    let budget = 1_000_000;
    for (name, policy) in &shapes {
        let report = lint::lint_within(policy, budget);
        assert!(report.work.hitl <= budget, "{name}: {:?}", report.work);
        assert_eq!(codes(&report), ["undecided"], "{name}");
    }
}

/// The same with the real budget, under a wall-clock guard far above what it takes (it took
/// 16 s and 3.2 GB in a release build before the budget counted every step).
#[test]
fn the_real_budget_stops_a_many_star_glob() {
    let policy = hitl(&[rule(&"*a?".repeat(10_000))]);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(lint::lint_within(&policy, BUDGET));
    });
    let report = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("lint finishes");
    assert_eq!(codes(&report), ["undecided"]);
    assert!(report.work.hitl <= BUDGET);
    let w = &report.warnings[0];
    assert!(w.message.contains(&BUDGET.to_string()), "{}", w.message);
}

/// Literal rules are followed through a trie: four times the rules, about four times the
/// work, and the answer is exact: a repeated literal is shadowed by its first copy, a literal
/// an earlier glob matches is shadowed by the glob.
#[test]
fn literal_rules_are_decided_in_linear_work() {
    let policy = |n: usize| {
        let mut rules: Vec<_> = (0..n).map(|i| rule(&format!("act{i}"))).collect();
        rules.push(rule("act7"));
        rules.insert(0, rule("act1?"));
        rules.push(rule("*"));
        hitl(&rules)
    };
    let work = |n: usize| {
        let report = lint::lint_within(&policy(n), BUDGET);
        let shadowed: Vec<u32> = report
            .warnings
            .iter()
            .filter(|w| w.code == "shadowed-rule")
            .map(|w| w.line)
            .collect();
        // Rule 0 is `act1?`; `act1X` (X a digit) is rule X + 11 and is shadowed by it, and so
        // is the repeated `act7` at rule n + 1. Each rule takes two lines from line 4.
        let mut expected: Vec<u32> = (10..20).map(|i| 4 + 2 * (i + 1)).collect();
        expected.push(4 + 2 * (n as u32 + 1));
        assert_eq!(shadowed, expected, "{n} rules: {:?}", codes(&report));
        assert_eq!(report.warnings.len(), expected.len());
        report.work.hitl
    };
    let (small, large) = (work(5_000), work(20_000));
    assert!(
        large <= small * 9 / 2,
        "5,000 rules: {small} units, 20,000: {large}"
    );
    assert!(
        large <= BUDGET / 4,
        "20,000 literal rules take {large} units"
    );
}

/// Pieces for random globs: literals, stars, `?`, classes and alternations.
const PIECES: &[&str] = &[
    "a", "b", "ab", "*", "?", "[ab]", "[!a]", "{a,b}", "{a,bb*}", "é",
];

fn glob(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 1..max).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the shapes and sizes, each stage's work stays within the budget; and a stage
    /// decided within a small budget says exactly what it says with the full one.
    #[test]
    fn work_never_exceeds_the_budget_and_decided_answers_do_not_depend_on_it(
        rules in prop::collection::vec((glob(8), prop::option::of(glob(4))), 1..24),
        budget in 50usize..200_000,
    ) {
        let policy = hitl(&rules);
        let small = lint::lint_within(&policy, budget);
        prop_assert!(small.work.hitl <= budget, "{:?} > {}", small.work, budget);
        let full = lint::lint_within(&policy, BUDGET);
        prop_assert!(full.work.hitl <= BUDGET);
        // `costly-globs` is about deciding, not about this analysis: it comes either way.
        let analysed: Vec<&str> = codes(&small).into_iter().filter(|c| *c != "costly-globs").collect();
        if analysed.contains(&"undecided") {
            prop_assert_eq!(analysed, vec!["undecided"]);
        } else {
            prop_assert_eq!(&small.warnings, &full.warnings);
            prop_assert_eq!(small.work, full.work, "the same analysis, the same count");
        }
    }

    /// The escalation stage, with random bands, under the same budget.
    #[test]
    fn escalation_work_never_exceeds_the_budget(
        rules in prop::collection::vec((glob(6), 0u8..5, 0u8..5), 1..16),
        budget in 50usize..100_000,
    ) {
        let mut text = String::from("version: 1\nescalation:\n  rules:\n");
        for (action, a, b) in &rules {
            let (lo, hi) = (f64::from(*a.min(b)) / 4.0, f64::from(*a.max(b)) / 4.0);
            text.push_str(&format!(
                "    - match: {{action: \"{action}\"}}\n      confidenceRange: [{lo:?}, {hi:?}]\n      action: deny\n"
            ));
        }
        let policy = Policy::from_yaml_str(&text, "e.yaml").unwrap();
        let small = lint::lint_within(&policy, budget);
        prop_assert!(small.work.escalation <= budget);
        let full = lint::lint_within(&policy, BUDGET);
        if !codes(&small).contains(&"undecided") {
            prop_assert_eq!(&small.warnings, &full.warnings);
        }
    }
}
