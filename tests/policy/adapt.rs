//! `adapt` on an escalation rule: what it declares, the errors that refuse it (each at its
//! key), and its canonical YAML; the DSL printer refuses it rather than drop it.

use rekall_policy::front::Language;
use rekall_policy::learn::Mode;
use rekall_policy::{Policy, print};

fn policy(adapt: &str) -> String {
    format!(
        "version: 1\nescalation:\n  rules:\n    - id: fast\n      match: {{action: deploy}}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n{adapt}    - confidenceRange: [0.0, 0.9]\n      action: request-approval\n      approvers: [user:adam]\n"
    )
}

/// The codes of the errors, with the text under each one's span.
fn refused(yaml: &str) -> Vec<(String, String)> {
    let err = Policy::from_yaml_str(yaml, "p.yaml").expect_err("refused");
    err.diagnostics
        .iter()
        .map(|d| {
            let line = err.source.line(d.span.line).unwrap_or_default();
            let under: String = line
                .chars()
                .skip(d.span.col.saturating_sub(1) as usize)
                .take(d.span.width_on_first_line() as usize)
                .collect();
            (d.kind.code().to_owned(), under)
        })
        .collect()
}

#[test]
fn adapt_declares_settings_with_defaults_for_the_rest() {
    let yaml = policy(
        "      adapt:\n        alpha: 0.02\n        minLabels: 50\n        window: 400\n        mode: auto\n        approvers: [user:sre]\n",
    );
    let p = Policy::from_yaml_str(&yaml, "p.yaml").unwrap();
    let rule = &p.doc().escalation.as_ref().unwrap().rules[0];
    let a = rule.adapt.as_ref().expect("adapt");
    assert_eq!(a.settings.alpha, 0.02);
    assert_eq!(a.settings.min_labels, 50);
    assert_eq!(a.settings.window, 400);
    assert_eq!(a.settings.mode, Mode::Auto);
    assert_eq!(a.settings.delta, 0.1, "the default");
    assert_eq!(a.approvers.as_ref().unwrap().node.len(), 1);
    assert!(
        p.doc().escalation.as_ref().unwrap().rules[1]
            .adapt
            .is_none()
    );
}

#[test]
fn each_bad_value_is_refused_at_its_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("alpha: 1.5", "adapt-setting", "1.5"),
        ("delta: 0", "adapt-setting", "0"),
        ("minLabels: -3", "adapt-setting", "-3"),
        ("window: 10", "adapt-setting", "10"),
        ("step: 0.000001", "adapt-setting", "0.000001"),
        ("mode: automatic", "unknown-word", "automatic"),
        ("alpah: 0.1", "unknown-key", "alpah"),
        ("alpha: lots", "wrong-type", "lots"),
    ];
    for (line, code, under) in cases {
        let yaml = policy(&format!(
            "      adapt:\n        approvers: [user:sre]\n        {line}\n"
        ));
        assert_eq!(
            refused(&yaml),
            vec![(code.to_string(), under.to_string())],
            "{line}"
        );
    }
}

#[test]
fn only_an_auto_approve_band_up_to_one_within_the_limits_adapts() {
    let notify = "version: 1\nescalation:\n  rules:\n    - confidenceRange: [0.9, 1.0]\n      action: notify-and-proceed\n      adapt: {auditRate: 0}\n";
    assert_eq!(refused(notify)[0].0, "adapt-not-auto-approve");
    let no_band = "version: 1\nescalation:\n  rules:\n    - action: auto-approve\n      adapt: {auditRate: 0}\n";
    assert_eq!(refused(no_band)[0].0, "adapt-band");
    let short = "version: 1\nescalation:\n  rules:\n    - confidenceRange: [0.9, 0.99]\n      action: auto-approve\n      adapt: {auditRate: 0}\n";
    assert_eq!(
        refused(short),
        vec![("adapt-band".to_owned(), "0.99".to_owned())]
    );
    let low = policy("      adapt:\n        floor: 0.95\n        auditRate: 0\n");
    assert_eq!(
        refused(&low),
        vec![("adapt-threshold-outside".to_owned(), "0.9".to_owned())]
    );
}

#[test]
fn an_audit_sample_needs_approvers() {
    let yaml = policy("      adapt:\n        auditRate: 0.1\n");
    assert_eq!(refused(&yaml)[0].0, "missing-approvers");
    let off = policy("      adapt:\n        auditRate: 0\n");
    assert!(Policy::from_yaml_str(&off, "p.yaml").is_ok());
}

#[test]
fn hitl_rules_never_adapt() {
    let yaml = "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [user:adam]\n      adapt: {auditRate: 0}\n";
    assert_eq!(
        refused(yaml),
        vec![("unknown-key".to_owned(), "adapt".to_owned())]
    );
}

#[test]
fn both_printers_round_trip_adapt_in_the_canonical_order() {
    let yaml = policy(
        "      adapt:\n        mode: auto\n        alpha: 0.02\n        minLabels: 50\n        approvers: [user:sre, group:ops]\n",
    )
    .replace("version: 1\n", "version: 1\n\ngroups:\n  ops: [user:bo]\n");
    let p = Policy::from_yaml_str(&yaml, "p.yaml").unwrap();
    let printed = print::print(p.doc(), Language::Yaml);
    // Printed in the canonical order of the keys, whatever order they were written in.
    assert!(printed.contains("      adapt:\n        alpha: 0.02\n        minLabels: 50\n        mode: auto\n        approvers: [user:sre, group:ops]\n"), "{printed}");
    let again = Policy::from_yaml_str(&printed, "p.yaml").unwrap();
    assert_eq!(again.doc(), p.doc());
    assert_eq!(print::to_yaml(again.doc()), printed, "canonical");
    let dsl = print::print(p.doc(), Language::Dsl);
    assert!(
        dsl.contains(" -> auto-approve adapt { alpha 0.02 min-labels 50 mode auto approvers [user:sre, group:ops] }\n"),
        "{dsl}"
    );
    let twin = Policy::from_str_in(Language::Dsl, &dsl, "p.rkl").unwrap();
    assert_eq!(
        rekall_policy::print::to_yaml(twin.doc()),
        printed,
        "the DSL twin is the same policy"
    );
    assert_eq!(print::print(twin.doc(), Language::Dsl), dsl, "canonical");
    let empty = policy("      adapt: {}\n").replace("adapt: {}", "adapt: {auditRate: 0}");
    let p = Policy::from_yaml_str(&empty, "p.yaml").unwrap();
    let printed = print::to_yaml(p.doc());
    assert_eq!(
        Policy::from_yaml_str(&printed, "p.yaml").unwrap().doc(),
        p.doc()
    );
}

#[test]
fn per_agent_is_declared_refused_and_printed_in_both_languages() {
    let yaml = policy(
        "      adapt:\n        perAgent: true\n        mode: auto\n        approvers: [user:sre]\n",
    );
    let p = Policy::from_yaml_str(&yaml, "p.yaml").unwrap();
    let a = p.doc().escalation.as_ref().unwrap().rules[0]
        .adapt
        .as_ref()
        .unwrap();
    assert!(a.settings.per_agent);
    assert!(p.adaptive_rules()[0].settings.per_agent);
    let off = policy("      adapt:\n        auditRate: 0\n");
    let off = Policy::from_yaml_str(&off, "p.yaml").unwrap();
    assert!(
        !off.adaptive_rules()[0].settings.per_agent,
        "off unless declared"
    );
    // The canonical place of `perAgent` is after `mode`, in both printers.
    let printed = print::to_yaml(p.doc());
    assert!(
        printed.contains("      adapt:\n        mode: auto\n        perAgent: true\n        approvers: [user:sre]\n"),
        "{printed}"
    );
    assert_eq!(
        Policy::from_yaml_str(&printed, "p.yaml").unwrap().doc(),
        p.doc()
    );
    let dsl = print::print(p.doc(), Language::Dsl);
    assert!(
        dsl.contains(" -> auto-approve adapt { mode auto per-agent true approvers [user:sre] }\n"),
        "{dsl}"
    );
    let twin = Policy::from_str_in(Language::Dsl, &dsl, "p.rkl").unwrap();
    assert_eq!(
        print::to_yaml(twin.doc()),
        printed,
        "the DSL twin is the same policy"
    );
    assert!(twin.adaptive_rules()[0].settings.per_agent);
    // Anything but true or false is refused at the value.
    let bad = policy("      adapt:\n        auditRate: 0\n        perAgent: sometimes\n");
    assert_eq!(
        refused(&bad),
        vec![("wrong-type".to_owned(), "sometimes".to_owned())]
    );
    let bad_dsl = dsl.replace("per-agent true", "per-agent sometimes");
    let err = Policy::from_str_in(Language::Dsl, &bad_dsl, "p.rkl").unwrap_err();
    let codes: Vec<&str> = err.diagnostics.iter().map(|d| d.kind.code()).collect();
    assert_eq!(codes, ["adapt-setting"], "{err:?}");
    assert!(err.to_string().contains("true or false"), "{err}");
}

/// A `perAgent` rule's class is the rule's and the agent's, and reads back to both.
#[test]
fn a_per_agent_class_names_the_rule_and_the_agent() {
    let yaml = policy("      adapt:\n        perAgent: true\n        auditRate: 0\n");
    let p = Policy::from_yaml_str(&yaml, "p.yaml").unwrap();
    let rule = &p.adaptive_rules()[0];
    let agent = rekall_policy::Principal::parse("agent:deployer").unwrap();
    assert_eq!(rule.class_for(Some(&agent)), "fast@agent:deployer");
    assert_eq!(
        rule.owns("fast@agent:deployer"),
        Some(Some("agent:deployer"))
    );
    assert_eq!(
        rule.owns("fast"),
        None,
        "a per-agent rule has no shared class"
    );
    assert_eq!(rule.owns("fast@nobody"), None, "not a principal");
    assert_eq!(rule.owns("faster@agent:deployer"), None);
    let shared =
        Policy::from_yaml_str(&policy("      adapt:\n        auditRate: 0\n"), "p.yaml").unwrap();
    let rule = &shared.adaptive_rules()[0];
    assert_eq!(rule.class_for(Some(&agent)), "fast");
    assert_eq!(rule.owns("fast"), Some(None));
    assert_eq!(rule.owns("fast@agent:deployer"), None);
}

/// A rule whose id reads as another rule's class for an agent keeps its own class.
#[test]
fn each_class_has_one_owner() {
    let yaml = "version: 1\nescalation:\n  rules:\n    - id: fast\n      match: {action: deploy}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n      adapt: {perAgent: true, auditRate: 0}\n    - id: \"fast@agent:x\"\n      match: {action: migrate}\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n      adapt: {auditRate: 0}\n";
    let p = Policy::from_yaml_str(yaml, "p.yaml").unwrap();
    let owner = |class: &str| {
        p.class_owner(class)
            .map(|(rule, agent)| (rule.class.clone(), agent.map(str::to_owned)))
    };
    assert_eq!(owner("fast@agent:x"), Some(("fast@agent:x".into(), None)));
    assert_eq!(
        owner("fast@agent:y"),
        Some(("fast".into(), Some("agent:y".into())))
    );
    assert_eq!(owner("fast"), None);
}

mod overlay {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rekall_policy::eval::explain::explain;
    use rekall_policy::{Policy, Request};

    fn bands(lo: f64, adapt: bool) -> String {
        let adapt = if adapt {
            "      adapt: {auditRate: 0, floor: 0.5}\n"
        } else {
            ""
        };
        format!(
            "version: 1\nescalation:\n  rules:\n    - id: fast\n      match: {{action: deploy}}\n      confidenceRange: [{lo:?}, 1.0]\n      action: auto-approve\n{adapt}    - match: {{action: deploy}}\n      confidenceRange: [0.0, {lo:?}]\n      action: request-approval\n      approvers: [user:adam]\n    - match: {{action: migrate}}\n      confidenceRange: [0.0, {lo:?}]\n      action: deny\n"
        )
    }

    proptest! {
        /// The effective policy decides exactly as the policy written with the moved boundary
        /// (differential: two policies, one answer), and a rule of another match keeps its band.
        #[test]
        fn the_overlay_moves_the_boundary_between_the_bands(
            step in 0u32..=5,
            confidences in prop::collection::vec(0.0f64..=1.0, 1..20),
        ) {
            let t = 0.5 + f64::from(step) * 0.1;
            let base = Policy::from_yaml_str(&bands(0.9, true), "p.yaml").unwrap();
            let map = BTreeMap::from([("fast".to_owned(), t)]);
            let effective = base.with_thresholds(&map).unwrap();
            let written = Policy::from_yaml_str(&bands(t, true), "p.yaml").unwrap();
            let untouched = Policy::from_yaml_str(&bands(0.9, false), "p.yaml").unwrap();
            for c in confidences.iter().copied().chain([t, 0.9, 1.0]) {
                let deploy = Request::new("deploy").confidence(c);
                prop_assert_eq!(
                    effective.decide(&deploy).unwrap().outcome(),
                    written.decide(&deploy).unwrap().outcome(),
                    "deploy at {}", c
                );
                let migrate = Request::new("migrate").confidence(c);
                prop_assert_eq!(
                    effective.decide(&migrate).unwrap().outcome(),
                    untouched.decide(&migrate).unwrap().outcome(),
                    "migrate at {}", c
                );
            }
            prop_assert_eq!(effective.adaptive_rules()[0].threshold, 0.9);
            prop_assert_eq!(effective.adaptive_rules()[0].effective, t);
        }
    }

    #[test]
    fn explain_says_why_the_threshold_in_force_differs() {
        let base = Policy::from_yaml_str(&bands(0.9, true), "p.yaml").unwrap();
        let deploy = Request::new("deploy").confidence(0.85);
        assert!(explain(&base, &deploy).unwrap().thresholds.is_empty());
        let lowered = base
            .with_thresholds(&BTreeMap::from([("fast".to_owned(), 0.8)]))
            .unwrap();
        let trace = explain(&lowered, &deploy).unwrap();
        assert_eq!(
            trace.decision.as_decision().outcome().as_str(),
            "auto-approve"
        );
        let t = &trace.thresholds[0];
        assert_eq!(
            (t.class.as_str(), t.policy, t.effective),
            ("fast", 0.9, 0.8)
        );
        assert!(
            t.message.contains("lowered by the learning loop"),
            "{}",
            t.message
        );
        let raised = base
            .with_thresholds(&BTreeMap::from([("fast".to_owned(), 1.0)]))
            .unwrap();
        let trace = explain(&raised, &Request::new("deploy").confidence(0.95)).unwrap();
        assert_eq!(
            trace.decision.as_decision().outcome().as_str(),
            "request-approval"
        );
        assert!(
            trace.thresholds[0].message.contains("raised"),
            "{}",
            trace.thresholds[0].message
        );
        // Clamped to the rule's limits: never below its floor.
        let floor = base
            .with_thresholds(&BTreeMap::from([("fast".to_owned(), 0.1)]))
            .unwrap();
        assert_eq!(floor.adaptive_rules()[0].effective, 0.5);
    }
}

mod dsl {
    use rekall_policy::Policy;
    use rekall_policy::front::Language;

    fn rkl(adapt: &str) -> String {
        format!(
            "policy version 1\nescalation {{\n  when fast: deploy and confidence in [0.9, 1.0] -> auto-approve {adapt}\n}}\n"
        )
    }

    fn refused(text: &str) -> Vec<(String, u32, u32)> {
        let e = Policy::from_str_in(Language::Dsl, text, "p.rkl").unwrap_err();
        e.diagnostics
            .iter()
            .map(|d| (d.kind.code().to_owned(), d.span.line, d.span.col))
            .collect()
    }

    #[test]
    fn the_dsl_declares_what_yaml_declares() {
        let p = Policy::from_str_in(
            Language::Dsl,
            &rkl("adapt { mode auto alpha 0.02 min-labels 50 approvers [user:sre] }"),
            "p.rkl",
        )
        .unwrap();
        let a = p.doc().escalation.as_ref().unwrap().rules[0]
            .adapt
            .as_ref()
            .unwrap();
        assert_eq!(a.settings.alpha, 0.02);
        assert_eq!(a.settings.min_labels, 50);
        assert_eq!(a.settings.mode, rekall_policy::learn::Mode::Auto);
        assert_eq!(a.settings.delta, 0.1, "the rest keep their defaults");
        let yaml = rekall_policy::print::to_yaml(p.doc());
        let twin = Policy::from_yaml_str(&yaml, "p.yaml").unwrap();
        assert_eq!(twin.doc(), p.doc());
    }

    #[test]
    fn bad_settings_are_located_at_their_value() {
        // Line 3, after `... -> auto-approve adapt { `.
        let at = "  when fast: deploy and confidence in [0.9, 1.0] -> auto-approve adapt { "
            .chars()
            .count() as u32
            + 1;
        let found = refused(&rkl("adapt { alpha 1.5 approvers [user:a] }"));
        assert_eq!(found, vec![("adapt-setting".into(), 3, at + 6)]);
        let found = refused(&rkl("adapt { min-labels -3 approvers [user:a] }"));
        assert_eq!(found, vec![("adapt-setting".into(), 3, at + 11)]);
        let found = refused(&rkl("adapt { mode automatic approvers [user:a] }"));
        assert_eq!(found[0].0, "unknown-word");
        let found = refused(&rkl("adapt { alpha 0.1 alpha 0.2 approvers [user:a] }"));
        assert_eq!(found, vec![("duplicate-key".into(), 3, at + 16)]);
        let found = refused(&rkl("adapt { auditRate 0 } adapt { audit-rate 0 }"));
        assert_eq!(
            found[0].0, "syntax",
            "the YAML spelling is not the DSL's: {found:?}"
        );
        let found = refused(&rkl("adapt { audit-rate 0 } adapt { audit-rate 0 }"));
        assert_eq!(found[0].0, "duplicate-key");
    }

    #[test]
    fn hitl_rules_have_no_adapt_in_the_dsl_either() {
        let text = "policy version 1\nhitl {\n  rule delete -> require approval from [user:a] adapt { audit-rate 0 }\n}\n";
        assert_eq!(refused(text)[0].0, "syntax");
    }
}
