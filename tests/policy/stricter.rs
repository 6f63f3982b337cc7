//! `lint::stricter::compare` and `diff --stricter`: whether NEW is at least as strict as OLD
//! on every request. Hand-written changes of each kind; random small policy pairs against a
//! brute-force enumeration of short requests and every band edge; the budget on a hostile
//! pair; the command's output and exit codes.

use std::cell::Cell;
use std::process::{Command, Output};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rekall_policy::eval::diff::{ChangeKind, classify};
use rekall_policy::lint::stricter::{CounterExample, Strictness, compare, compare_within};
use rekall_policy::lint::{BUDGET, Budget};
use rekall_policy::{Policy, Request};
use serde_json::Value;

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{}\n{yaml}", e.render()))
}

/// The counter-example `compare` must find, after checking it with the reference evaluator.
fn looser(old: &str, new: &str) -> CounterExample {
    let (o, n) = (policy(old), policy(new));
    match compare(&o, &n) {
        Strictness::Looser(found) => {
            assert_real_counter_example(&o, &n, &found);
            *found
        }
        other => panic!("expected a counter-example, got {other:?}\nold:\n{old}\nnew:\n{new}"),
    }
}

fn stricter(old: &str, new: &str) {
    let found = compare(&policy(old), &policy(new));
    assert!(
        found.is_at_least_as_strict(),
        "{found:?}\nold:\n{old}\nnew:\n{new}"
    );
}

/// The reference evaluator, through the public request path, agrees that the request is let
/// through more easily (or by other people), as `diff` classifies it.
fn assert_real_counter_example(old: &Policy, new: &Policy, found: &CounterExample) {
    let o = old.decide(&found.request).expect("a valid request");
    let n = new.decide(&found.request).expect("a valid request");
    let kind = classify(&o, &n);
    assert_eq!(kind, Some(found.kind), "{:?}", found.request);
    assert!(
        matches!(
            found.kind,
            ChangeKind::Looser | ChangeKind::GateLoosened | ChangeKind::Approvers
        ),
        "{:?}",
        found.kind
    );
    assert_eq!(found.old.outcome, o.outcome());
    assert_eq!(found.new.outcome, n.outcome());
}

const GATE_DELETE: &str = "version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:a]
    - action: \"*\"
";

const NO_GATE: &str = "version: 1
hitl:
  rules:
    - action: \"*\"
";

#[test]
fn adding_a_gate_is_stricter_and_removing_it_is_looser() {
    stricter(NO_GATE, GATE_DELETE);
    let found = looser(GATE_DELETE, NO_GATE);
    assert_eq!(found.kind, ChangeKind::Looser);
    assert_eq!(found.request.action, "delete");
    assert_eq!(found.old.outcome.as_str(), "request-approval");
    assert_eq!(found.new.outcome.as_str(), "auto-approve");
}

#[test]
fn the_same_policy_is_at_least_as_strict() {
    let seed = std::fs::read_to_string("policies/seed.yaml").expect("the seed policy");
    stricter(&seed, &seed);
    stricter(GATE_DELETE, GATE_DELETE);
}

#[test]
fn a_wider_glob_before_a_gate_is_looser() {
    let new = "version: 1
hitl:
  rules:
    - action: \"d*\"
    - action: delete
      requireApproval: true
      approvers: [user:a]
    - action: \"*\"
";
    let found = looser(GATE_DELETE, new);
    assert_eq!(found.request.action, "delete", "only delete was gated");
    assert_eq!(found.new.hitl_rule, Some(0));
}

#[test]
fn swapping_approvers_is_not_at_least_as_strict() {
    let new = GATE_DELETE.replace("user:a", "user:b");
    let found = looser(GATE_DELETE, &new);
    assert_eq!(found.kind, ChangeKind::Approvers);
    assert_eq!(found.old.gate.approvers[0].as_str(), "user:a");
    assert_eq!(found.new.gate.approvers[0].as_str(), "user:b");
}

#[test]
fn lowering_min_approvals_loosens_the_gate_and_raising_it_tightens() {
    let two = "version: 1
hitl:
  rules:
    - action: deploy
      requireApproval: true
      approvers: [user:a, user:b]
      minApprovals: 2
    - action: \"*\"
";
    let one = two.replace("minApprovals: 2", "minApprovals: 1");
    let found = looser(two, &one);
    assert_eq!(found.kind, ChangeKind::GateLoosened);
    assert_eq!(found.request.action, "deploy");
    stricter(&one, two);
    // Fewer approvers at the same quorum is a tightened gate; more is a loosened one.
    let fewer = one.replace("[user:a, user:b]", "[user:a]");
    stricter(&one, &fewer);
    assert_eq!(looser(&fewer, &one).kind, ChangeKind::GateLoosened);
}

#[test]
fn a_chain_step_with_more_approvers_is_loosened() {
    let chain = |review: &str| {
        format!(
            "version: 1
hitl:
  rules:
    - action: migrate
      chain:
        - step: review
          approvers: [{review}]
        - step: manager
          approvers: [user:m]
    - action: \"*\"
"
        )
    };
    let found = looser(&chain("user:a"), &chain("user:a, user:b"));
    assert_eq!(found.kind, ChangeKind::GateLoosened);
    assert_eq!(found.request.action, "migrate");
    stricter(&chain("user:a, user:b"), &chain("user:a"));
}

/// A delete gate for `user:a` with extra gate keys.
fn timed_gate(keys: &str) -> String {
    format!(
        "version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:a]
{keys}    - action: \"*\"
"
    )
}

#[test]
fn escalating_on_timeout_to_new_people_loosens_the_gate() {
    // Before: only user:a, rejected after an hour. After: user:b may resolve it once it has
    // escalated, and it is rejected only after a second hour.
    let old = timed_gate("      timeout: 1h\n");
    let new =
        timed_gate("      timeout: 1h\n      onTimeout: escalate\n      escalateTo: [user:b]\n");
    let found = looser(&old, &new);
    assert_eq!(found.kind, ChangeKind::GateLoosened);
    assert_eq!(found.request.action, "delete");
    assert_eq!(found.new.gate.escalate_to[0].as_str(), "user:b");
    stricter(&new, &old);
    // Without a timeout it never escalates, so `escalateTo` resolves nothing.
    let never = timed_gate("      onTimeout: escalate\n      escalateTo: [user:b]\n");
    stricter(&timed_gate(""), &never);
    stricter(&never, &timed_gate(""));
}

#[test]
fn a_timeout_that_rejects_sooner_is_stricter_and_later_looser() {
    let hour = timed_gate("      timeout: 1h\n");
    let minute = timed_gate("      timeout: 1m\n");
    stricter(&hour, &minute);
    stricter(&timed_gate(""), &hour);
    let found = looser(&minute, &hour);
    assert_eq!(found.kind, ChangeKind::GateLoosened);
    assert_eq!(found.old.gate.timeout.map(|t| t.as_millis()), Some(60_000));
    assert_eq!(
        looser(&hour, &timed_gate("")).kind,
        ChangeKind::GateLoosened
    );
    // Fewer approvers but a longer wait is neither.
    let slow_pair = "version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:a, user:b]
      timeout: 1m
    - action: \"*\"
";
    assert_eq!(looser(slow_pair, &hour).kind, ChangeKind::Approvers);
}

#[test]
fn a_chain_step_that_escalates_is_loosened() {
    let chain = |step: &str| {
        format!(
            "version: 1
hitl:
  rules:
    - action: deploy
      chain:
        - step: review
          approvers: [user:a]
          timeout: 30m
{step}        - step: manager
          approvers: [user:c]
    - action: \"*\"
"
        )
    };
    let old = chain("");
    let new = chain("          onTimeout: escalate\n          escalateTo: [user:b]\n");
    assert_eq!(looser(&old, &new).kind, ChangeKind::GateLoosened);
    stricter(&new, &old);
}

#[test]
fn changing_the_default_counts_both_ways() {
    let with_default = |no_match: &str, approvers: &str| {
        format!(
            "version: 1
defaults:
  noMatch: {no_match}
{approvers}hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:a]
"
        )
    };
    let asks = with_default("request-approval", "  approvers: [user:a]\n");
    let found = looser(&asks, &with_default("auto-approve", ""));
    assert_ne!(found.request.action, "delete", "delete has its own rule");
    assert_eq!(found.old.hitl_rule, None);
    stricter(&asks, &with_default("deny", ""));
    // A default that needs approvers and has none denies: failing closed is stricter.
    stricter(&asks, &with_default("request-approval", ""));
    let found = looser(&with_default("escalate", ""), &asks);
    assert_eq!(found.old.outcome.as_str(), "deny");
}

fn bands(lo_auto: &str) -> String {
    format!(
        "version: 1
escalation:
  rules:
    - confidenceRange: [{lo_auto}, 1.0]
      action: auto-approve
    - confidenceRange: [0.0, {lo_auto}]
      action: request-approval
      approvers: [user:a]
"
    )
}

#[test]
fn a_looser_band_is_found_at_its_new_edge() {
    let found = looser(&bands("0.9"), &bands("0.8"));
    assert_eq!(found.request.confidence, Some(0.8));
    assert_eq!(found.kind, ChangeKind::Looser);
    stricter(&bands("0.8"), &bands("0.9"));
}

#[test]
fn a_band_edge_moved_down_by_one_ulp_is_looser_at_exactly_that_confidence() {
    let below = f64::from_bits(0.5f64.to_bits() - 1);
    let above = f64::from_bits(0.5f64.to_bits() + 1);
    let found = looser(&bands("0.5"), &bands(&format!("{below:?}")));
    assert_eq!(found.request.confidence, Some(below));
    // At 0.5 itself both auto-approve: the edge belongs to the band that starts there.
    stricter(&bands("0.5"), &bands(&format!("{above:?}")));
}

#[test]
fn one_point_band_at_one_is_its_own_piece() {
    let old = "version: 1
escalation:
  rules:
    - confidenceRange: [0.0, 1.0]
      action: request-approval
      approvers: [user:a]
";
    let new = "version: 1
escalation:
  rules:
    - confidenceRange: [1.0, 1.0]
      action: auto-approve
    - confidenceRange: [0.0, 1.0]
      action: request-approval
      approvers: [user:a]
";
    let found = looser(old, new);
    assert_eq!(found.request.confidence, Some(1.0));
    // The band [0.0, 1.0) as two halves is the same policy below 1.0.
    let halves = "version: 1
escalation:
  rules:
    - confidenceRange: [0.5, 1.0]
      action: request-approval
      approvers: [user:a]
    - confidenceRange: [0.0, 0.5]
      action: request-approval
      approvers: [user:a]
";
    stricter(old, halves);
    stricter(halves, old);
}

#[test]
fn groups_are_compared_expanded() {
    let with = |members: &str| {
        format!(
            "version: 1
groups:
  sre: [{members}]
hitl:
  rules:
    - action: deploy
      requireApproval: true
      approvers: [group:sre]
    - action: \"*\"
"
        )
    };
    let written_out = with("user:a").replace("[group:sre]", "[user:b, user:a]");
    stricter(&with("user:a, user:b"), &written_out);
    stricter(&written_out, &with("user:b, user:a"));
    let found = looser(&with("user:a, user:b"), &with("user:a, user:b, user:c"));
    assert_eq!(found.kind, ChangeKind::GateLoosened);
    assert_eq!(found.new.gate.approvers.len(), 3);
}

#[test]
fn both_stages_count() {
    let with_escalation = "version: 1
hitl:
  rules:
    - action: \"*\"
escalation:
  rules:
    - match: {action: \"deploy*\", resource: \"prod*\"}
      confidenceRange: [0.0, 0.5]
      action: deny
    - action: auto-approve
";
    // Adding an escalation stage can only raise the stricter-of-two.
    stricter(NO_GATE, with_escalation);
    let found = looser(with_escalation, NO_GATE);
    assert!(found.request.action.starts_with("deploy"), "{found:?}");
    assert!(found.request.resource.starts_with("prod"), "{found:?}");
    assert!(found.request.confidence.is_some_and(|c| c < 0.5));
    assert_eq!(found.old.outcome.as_str(), "deny");
}

#[test]
fn the_counter_example_is_a_line_eval_reads() {
    let found = looser(GATE_DELETE, NO_GATE);
    let line = serde_json::to_value(&found).expect("serializes")["request"].to_string();
    let read = Request::from_json_str(&line).expect("eval --input reads it");
    assert_eq!(read, found.request);
}

// ---- random policy pairs against brute force ----

/// Characters of requests, and of the globs' literals and classes (`c` is named by none).
const GLOB_TOKENS: [&str; 8] = ["a", "b", "*", "?", "[ab]", "[!a]", "{a,b}", "{a,}"];
const ENDPOINTS: [f64; 6] = [0.0, 0.3, 0.5, 0.500_000_000_000_000_1, 0.9, 1.0];
const OUTCOMES: [&str; 5] = [
    "auto-approve",
    "notify-and-proceed",
    "request-approval",
    "escalate",
    "deny",
];
/// `group:g` is `[user:a, user:c]`.
const APPROVERS: [&str; 4] = ["user:a", "user:b", "user:c", "group:g"];

#[derive(Debug, Clone)]
struct Gate {
    approvers: Vec<&'static str>,
    /// Taken modulo the number of distinct approvers.
    min: usize,
}

impl Gate {
    fn distinct(&self) -> usize {
        let mut people: Vec<&str> = self
            .approvers
            .iter()
            .flat_map(|a| match *a {
                "group:g" => vec!["user:a", "user:c"],
                p => vec![p],
            })
            .collect();
        people.sort_unstable();
        people.dedup();
        people.len()
    }

    fn yaml(&self, indent: &str) -> String {
        let min = 1 + self.min % self.distinct();
        format!(
            "{indent}approvers: [{}]\n{indent}minApprovals: {min}\n",
            self.approvers.join(", ")
        )
    }
}

#[derive(Debug, Clone)]
enum Hitl {
    Auto,
    Gate(Gate),
    Chain(Gate, Gate),
}

#[derive(Debug, Clone)]
struct HitlRule {
    action: String,
    resource: String,
    then: Hitl,
}

#[derive(Debug, Clone)]
struct EscalationRule {
    action: String,
    resource: String,
    band: (f64, f64),
    outcome: &'static str,
    gate: Gate,
}

#[derive(Debug, Clone)]
struct Spec {
    no_match: &'static str,
    default_approvers: bool,
    hitl: Option<Vec<HitlRule>>,
    escalation: Option<Vec<EscalationRule>>,
}

impl Spec {
    fn yaml(&self) -> String {
        let mut out = String::from("version: 1\ngroups:\n  g: [user:a, user:c]\n");
        out.push_str(&format!("defaults:\n  noMatch: {}\n", self.no_match));
        if self.default_approvers && matches!(self.no_match, "request-approval" | "escalate") {
            out.push_str("  approvers: [user:b]\n");
        }
        if let Some(rules) = &self.hitl {
            out.push_str("hitl:\n  rules:\n");
            if rules.is_empty() {
                out.truncate(out.len() - "  rules:\n".len());
                out.push_str("  rules: []\n");
            }
            for r in rules {
                out.push_str(&format!(
                    "    - action: {:?}\n      resource: {:?}\n",
                    r.action, r.resource
                ));
                match &r.then {
                    Hitl::Auto => out.push_str("      requireApproval: false\n"),
                    Hitl::Gate(g) => {
                        out.push_str("      requireApproval: true\n");
                        out.push_str(&g.yaml("      "));
                    }
                    Hitl::Chain(first, second) => {
                        out.push_str("      chain:\n");
                        for (name, g) in [("review", first), ("manager", second)] {
                            out.push_str(&format!("        - step: {name}\n"));
                            out.push_str(&g.yaml("          "));
                        }
                    }
                }
            }
        }
        if let Some(rules) = &self.escalation {
            out.push_str("escalation:\n  rules:\n");
            if rules.is_empty() {
                out.truncate(out.len() - "  rules:\n".len());
                out.push_str("  rules: []\n");
            }
            for r in rules {
                out.push_str(&format!(
                    "    - match: {{action: {:?}, resource: {:?}}}\n      confidenceRange: [{:?}, {:?}]\n      action: {}\n",
                    r.action, r.resource, r.band.0, r.band.1, r.outcome
                ));
                if matches!(r.outcome, "request-approval" | "escalate") {
                    out.push_str(&r.gate.yaml("      "));
                }
            }
        }
        out
    }

    fn edges(&self) -> Vec<f64> {
        self.escalation
            .iter()
            .flatten()
            .flat_map(|r| [r.band.0, r.band.1])
            .collect()
    }
}

fn glob(min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&GLOB_TOKENS[..]), min..=3).prop_map(|t| t.concat())
}

fn gate() -> impl Strategy<Value = Gate> {
    (prop::sample::subsequence(&APPROVERS[..], 1..=3), 0usize..3)
        .prop_map(|(approvers, min)| Gate { approvers, min })
}

fn hitl_rule() -> impl Strategy<Value = HitlRule> {
    let then = prop_oneof![
        2 => Just(Hitl::Auto),
        3 => gate().prop_map(Hitl::Gate),
        1 => (gate(), gate()).prop_map(|(a, b)| Hitl::Chain(a, b)),
    ];
    (glob(1), glob(0), then).prop_map(|(action, resource, then)| HitlRule {
        action,
        resource,
        then,
    })
}

fn band() -> impl Strategy<Value = (f64, f64)> {
    (
        prop::sample::select(&ENDPOINTS[..]),
        prop::sample::select(&ENDPOINTS[..]),
    )
        .prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) })
}

fn escalation_rule() -> impl Strategy<Value = EscalationRule> {
    (
        glob(1),
        glob(0),
        band(),
        prop::sample::select(&OUTCOMES[..]),
        gate(),
    )
        .prop_map(|(action, resource, band, outcome, gate)| EscalationRule {
            action,
            resource,
            band,
            outcome,
            gate,
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    let hitl = prop::option::weighted(0.8, prop::collection::vec(hitl_rule(), 0..4));
    let escalation = prop::option::weighted(0.7, prop::collection::vec(escalation_rule(), 0..4));
    (
        prop::sample::select(&OUTCOMES[..]),
        any::<bool>(),
        hitl,
        escalation,
    )
        .prop_map(|(no_match, default_approvers, hitl, escalation)| {
            let hitl = if hitl.is_none() && escalation.is_none() {
                Some(Vec::new())
            } else {
                hitl
            };
            Spec {
                no_match,
                default_approvers,
                hitl,
                escalation,
            }
        })
}

/// An edit of a policy: most keep it as strict, some do not.
#[derive(Debug, Clone)]
enum Edit {
    InsertHitl(usize, HitlRule),
    InsertEscalation(usize, EscalationRule),
    RemoveHitl(usize),
    RemoveEscalation(usize),
    Default(&'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), hitl_rule()).prop_map(|(i, r)| Edit::InsertHitl(i, r)),
        (any::<usize>(), escalation_rule()).prop_map(|(i, r)| Edit::InsertEscalation(i, r)),
        any::<usize>().prop_map(Edit::RemoveHitl),
        any::<usize>().prop_map(Edit::RemoveEscalation),
        prop::sample::select(&OUTCOMES[..]).prop_map(Edit::Default),
    ]
}

fn apply(spec: &Spec, edits: &[Edit]) -> Spec {
    let mut out = spec.clone();
    for e in edits {
        match e {
            Edit::InsertHitl(i, r) => {
                let rules = out.hitl.get_or_insert_with(Vec::new);
                rules.insert(i % (rules.len() + 1), r.clone());
            }
            Edit::InsertEscalation(i, r) => {
                let rules = out.escalation.get_or_insert_with(Vec::new);
                rules.insert(i % (rules.len() + 1), r.clone());
            }
            Edit::RemoveHitl(i) => {
                if let Some(rules) = out.hitl.as_mut().filter(|r| !r.is_empty()) {
                    rules.remove(i % rules.len());
                }
            }
            Edit::RemoveEscalation(i) => {
                if let Some(rules) = out.escalation.as_mut().filter(|r| !r.is_empty()) {
                    rules.remove(i % rules.len());
                }
            }
            Edit::Default(o) => out.no_match = o,
        }
    }
    out
}

/// Every action of 1 or 2 characters over `abc` and of 3 over `ab`; every resource of up to
/// 2 characters over `abc`.
fn short_strings() -> (Vec<String>, Vec<String>) {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..2 {
        last = last
            .iter()
            .flat_map(|s| ["a", "b", "c"].map(|c| format!("{s}{c}")))
            .collect();
        all.extend(last.iter().cloned());
    }
    let resources = all.clone();
    let mut actions: Vec<String> = all.into_iter().filter(|s| !s.is_empty()).collect();
    for s in ["a", "b"] {
        for t in ["a", "b"] {
            for u in ["a", "b"] {
                actions.push(format!("{s}{t}{u}"));
            }
        }
    }
    (actions, resources)
}

/// Every band edge of both, one ulp on either side, and the ends of [0, 1].
fn confidences(old: &Spec, new: &Spec) -> Vec<f64> {
    let mut out = vec![0.0, 1.0];
    for e in old.edges().into_iter().chain(new.edges()) {
        out.push(e);
        if e > 0.0 {
            out.push(f64::from_bits(e.to_bits() - 1));
        }
        if e < 1.0 {
            out.push(f64::from_bits(e.to_bits() + 1));
        }
    }
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// The first enumerated request NEW decides looser than OLD (or behind other approvers).
fn brute_force(old: &Policy, new: &Policy, confidences: &[f64]) -> Option<Request> {
    let (actions, resources) = short_strings();
    for a in &actions {
        for r in &resources {
            for &c in confidences {
                let request = Request::new(a.as_str()).resource(r.as_str()).confidence(c);
                let o = old.decide(&request).expect("valid");
                let n = new.decide(&request).expect("valid");
                if matches!(
                    classify(&o, &n),
                    Some(ChangeKind::Looser | ChangeKind::GateLoosened | ChangeKind::Approvers)
                ) {
                    return Some(request);
                }
            }
        }
    }
    None
}

#[derive(Default)]
struct Tally {
    stricter: Cell<usize>,
    looser: Cell<usize>,
}

/// Checks one pair; returns whether the analysis said at least as strict.
fn check_pair(old_spec: &Spec, new_spec: &Spec) -> Result<bool, TestCaseError> {
    let (old_text, new_text) = (old_spec.yaml(), new_spec.yaml());
    let old = policy(&old_text);
    let new = policy(&new_text);
    let found = compare(&old, &new);
    let by_brute_force = brute_force(&old, &new, &confidences(old_spec, new_spec));
    match &found {
        Strictness::AtLeastAsStrict => {
            prop_assert!(
                by_brute_force.is_none(),
                "said at least as strict, but {:?} is looser\nold:\n{old_text}\nnew:\n{new_text}",
                by_brute_force
            );
            Ok(true)
        }
        Strictness::Looser(c) => {
            let o = old.decide(&c.request).expect("a valid request");
            let n = new.decide(&c.request).expect("a valid request");
            prop_assert_eq!(
                classify(&o, &n),
                Some(c.kind),
                "{:?}\nold:\n{}\nnew:\n{}",
                c.request,
                old_text,
                new_text
            );
            prop_assert!(!matches!(
                c.kind,
                ChangeKind::Tighter | ChangeKind::GateTightened
            ));
            Ok(false)
        }
        Strictness::Undecided { reason } => {
            prop_assert!(
                false,
                "undecided on a small pair: {reason}\nold:\n{old_text}\nnew:\n{new_text}"
            );
            Ok(false)
        }
    }
}

#[test]
fn random_pairs_agree_with_brute_force() {
    let tally = Tally::default();
    let pairs = prop_oneof![
        1 => (spec(), spec()),
        3 => (spec(), prop::collection::vec(edit(), 1..3)).prop_map(|(s, e)| { let n = apply(&s, &e); (s, n) }),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 160,
        ..Config::default()
    });
    let result = runner.run(&pairs, |(old, new)| {
        let counter = if check_pair(&old, &new)? {
            &tally.stricter
        } else {
            &tally.looser
        };
        counter.set(counter.get() + 1);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Both answers come up often enough for each direction of the check to be exercised.
    let (s, l) = (tally.stricter.get(), tally.looser.get());
    assert!(s >= 20 && l >= 20, "{s} stricter, {l} looser");
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    #[test]
    fn a_leading_deny_rule_is_stricter(
        old in spec(),
        action in glob(1),
        resource in glob(0),
        band in band(),
    ) {
        let mut new = old.clone();
        new.escalation.get_or_insert_with(Vec::new).insert(0, EscalationRule {
            action,
            resource,
            band,
            outcome: "deny",
            gate: Gate { approvers: vec![], min: 0 },
        });
        let (o, n) = (policy(&old.yaml()), policy(&new.yaml()));
        let found = compare(&o, &n);
        prop_assert!(found.is_at_least_as_strict(), "{:?}\n{}\n{}", found, old.yaml(), new.yaml());
        let same = compare(&o, &o);
        prop_assert!(same.is_at_least_as_strict(), "{:?}\n{}", same, old.yaml());
    }
}

// ---- the budget ----

/// Rules whose joint automaton is exponential: `*a?`, `*a??`, ... each remembers where the
/// last few `a`s were.
fn hostile(rules: usize) -> String {
    let mut out = String::from("version: 1\nhitl:\n  rules:\n");
    for k in 1..=rules {
        out.push_str(&format!(
            "    - action: \"*a{}\"\n      requireApproval: true\n      approvers: [user:a]\n",
            "?".repeat(k)
        ));
    }
    out.push_str("    - action: \"*\"\n");
    out
}

#[test]
fn a_hostile_pair_is_undecided_within_the_budget() {
    let old = policy(&hostile(24));
    let new = policy(&hostile(23));
    for limit in [10_000, 1_000_000] {
        let mut budget = Budget::new(limit);
        let found = compare_within(&old, &new, &mut budget);
        match &found {
            Strictness::Undecided { reason } => {
                assert!(reason.contains(&limit.to_string()), "{reason}");
                let json = serde_json::to_value(&found).expect("serializes");
                assert_eq!(json["result"], "undecided");
                assert_eq!(json["reason"].as_str(), Some(reason.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert!(budget.used() <= limit, "{} > {limit}", budget.used());
        assert!(
            budget.used() > limit / 2,
            "it stopped early: {}",
            budget.used()
        );
    }
    // A small pair takes a small part of the budget.
    let mut budget = Budget::new(BUDGET);
    let small = compare_within(&policy(GATE_DELETE), &policy(NO_GATE), &mut budget);
    assert!(matches!(small, Strictness::Looser(_)), "{small:?}");
    assert!(budget.used() < 10_000, "{}", budget.used());
}

// ---- the command ----

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("writes");
    path.display().to_string()
}

#[test]
fn the_command_exits_0_when_stricter_and_1_with_a_request_eval_reads_when_looser() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (gate, open) = (
        write(&dir, "gate.yaml", GATE_DELETE),
        write(&dir, "open.yaml", NO_GATE),
    );
    let out = run(&["diff", "--stricter", &open, &gate]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{gate} is at least as strict as {open} on every request\n")
    );

    let out = run(&["diff", "--stricter", &gate, &open]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with(&format!(
            "{open} is not at least as strict as {gate}: LOOSER by 2 steps: request-approval -> auto-approve\n"
        )),
        "{text}"
    );
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("  request: "))
        .expect("the request line");
    let eval = Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(["eval", &gate, "--input", "-", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(format!("{line}\n").as_bytes())?;
            child.wait_with_output()
        })
        .expect("eval runs");
    let decided = String::from_utf8_lossy(&eval.stdout);
    assert!(decided.contains("request-approval"), "{decided}");
    assert!(
        text.contains("    old: request-approval by user:a (1 needed)\n"),
        "{text}"
    );
    assert!(text.contains("    new: auto-approve\n"), "{text}");

    let out = run(&["diff", "--stricter", &gate, &open, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["result"], "looser");
    assert_eq!(json["kind"], "looser");
    assert_eq!(json["request"]["action"], "delete");
    assert_eq!(json["old"]["outcome"], "request-approval");
    assert_eq!(json["new"]["outcome"], "auto-approve");
    assert!(json["work"].as_u64().is_some_and(|w| w > 0));
}

#[test]
fn the_command_treats_undecided_as_looser_and_refuses_invalid_policies() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (old, new) = (
        write(&dir, "old.yaml", &hostile(40)),
        write(&dir, "new.yaml", &hostile(39)),
    );
    let out = run(&["diff", "--stricter", &old, &new]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "could not decide whether {new} is at least as strict as {old}: the exact analysis needs more than its budget of {BUDGET} units"
        )),
        "{text}"
    );
    assert!(text.ends_with("; treated as looser\n"), "{text}");

    let bad = write(
        &dir,
        "bad.yaml",
        "version: 1\nhitl:\n  rules:\n    - action: \"[\"\n",
    );
    let out = run(&["diff", "--stricter", &bad, &new]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));

    let out = run(&["diff", "--stricter", &old, &new, "--requests", "log.jsonl"]);
    assert_eq!(out.status.code(), Some(2), "--requests is for the replay");
    let out = run(&["diff", &old, &new]);
    assert_eq!(out.status.code(), Some(2), "the replay needs --requests");
}

#[test]
fn comparing_long_approver_lists_is_charged_to_the_budget() {
    let gate = |extra: &str| {
        let people: Vec<String> = (0..2000).map(|k| format!("user:p{k}")).collect();
        format!(
            "version: 1\nhitl:\n  rules:\n    - action: deploy\n      requireApproval: true\n      approvers: [{}{extra}]\n    - action: \"*\"\n",
            people.join(", ")
        )
    };
    let (old, new) = (policy(&gate("")), policy(&gate(", user:q")));
    // Each approver of one list is looked up in the other: some four million steps.
    let mut budget = Budget::new(1_000_000);
    let found = compare_within(&old, &new, &mut budget);
    assert!(matches!(found, Strictness::Undecided { .. }), "{found:?}");
    assert!(budget.used() <= 1_000_000);
    let mut budget = Budget::new(BUDGET);
    match compare_within(&old, &new, &mut budget) {
        Strictness::Looser(c) => assert_eq!(c.kind, ChangeKind::GateLoosened),
        other => panic!("{other:?}"),
    }
    assert!(budget.used() > 4_000_000, "{}", budget.used());
}
