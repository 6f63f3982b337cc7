//! Every reader of numbers reads the double nearest to the text (spec section 3): a
//! confidence at, just below or just above a band edge, printed in shortest form, is decided
//! as the exact value is, whether it comes in JSON, in a test file, or as the edge itself in
//! a YAML or DSL policy.

use proptest::prelude::*;
use rekall_policy::front::Language;
use rekall_policy::testing::{TestFile, run_file};
use rekall_policy::{Policy, Request};

/// `x` (positive) moved by `ulps` units in the last place, staying in [0, 1]: the bits of
/// positive doubles count up as the values do.
fn step(x: f64, ulps: i32) -> f64 {
    let bits = x.to_bits().saturating_add_signed(i64::from(ulps));
    f64::from_bits(bits).clamp(0.0, 1.0)
}

fn banded(edge: f64, language: Language) -> Policy {
    let text = match language {
        Language::Yaml => format!(
            "version: 1\nescalation:\n  rules:\n    - confidenceRange: [0.0, {edge}]\n      action: escalate\n      approvers: [user:carol]\n    - confidenceRange: [{edge}, 1.0]\n      action: auto-approve\n"
        ),
        Language::Dsl => format!(
            "policy banded version 1\n\nescalation {{\n  when confidence in [0.0, {edge}) -> escalate to [user:carol]\n  when confidence in [{edge}, 1.0] -> auto-approve\n}}\n"
        ),
    };
    Policy::from_str_in(language, &text, "banded").expect("a valid policy")
}

/// The outcome the spec gives: below the edge escalates, from the edge on auto-approves.
fn expected(confidence: f64, edge: f64) -> &'static str {
    if confidence < edge {
        "escalate"
    } else {
        "auto-approve"
    }
}

fn from_json(confidence: f64) -> Request {
    Request::from_json_str(&format!(
        r#"{{"action":"deploy","resource":"prod","confidence":{confidence}}}"#
    ))
    .expect("a valid request")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn json_and_policy_edges_read_the_nearest_double(
        bits in 0x3F50_0000_0000_0000u64..0x3FEF_FFFF_FFFF_FFFFu64,
        ulps in -3i32..=3,
    ) {
        let edge = f64::from_bits(bits);
        let confidence = step(edge, ulps);
        for language in [Language::Yaml, Language::Dsl] {
            let policy = banded(edge, language);
            let read = from_json(confidence);
            prop_assert_eq!(read.confidence, Some(confidence));
            let decided = policy.decide(&read).unwrap();
            prop_assert_eq!(decided.outcome().as_str(), expected(confidence, edge));
            let compiled = policy.compile();
            prop_assert_eq!(compiled.decide(&read).unwrap(), decided);
        }
    }
}

#[test]
fn the_examples_of_the_issue_are_below_their_edges() {
    let policy = banded(0.4, Language::Yaml);
    let r = from_json(0.39999999999999997);
    assert!(r.confidence.unwrap() < 0.4);
    assert_eq!(policy.decide(&r).unwrap().outcome().as_str(), "escalate");
    let r = Request::from_json_str(r#"{"action":"a","confidence":0.9999999999999999}"#).unwrap();
    assert!(r.confidence.unwrap() < 1.0);
}

#[test]
fn every_band_edge_of_the_bundled_policies_reads_exactly_from_json() {
    let mut edges_seen = 0;
    for entry in std::fs::read_dir("policies").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml" && e != "rkl")
            || path.to_string_lossy().ends_with(".test.yaml")
        {
            continue;
        }
        let policy = Policy::from_path(&path).unwrap();
        let Some(section) = &policy.doc().escalation else {
            continue;
        };
        let edges: Vec<f64> = section
            .rules
            .iter()
            .filter_map(|r| r.confidence_range.as_ref())
            .flat_map(|r| [r.node.lo.node, r.node.hi.node])
            .collect();
        for edge in edges {
            edges_seen += 1;
            for ulps in -2..=2 {
                let c = step(edge, ulps);
                let text = Request::from_json_str(&format!(
                    r#"{{"action":"deploy","resource":"production","confidence":{c}}}"#
                ))
                .unwrap();
                let exact = Request::new("deploy").resource("production").confidence(c);
                assert_eq!(
                    policy.decide(&text).unwrap(),
                    policy.decide(&exact).unwrap(),
                    "{} at {c}",
                    path.display()
                );
            }
        }
    }
    assert!(edges_seen >= 8, "{edges_seen}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn test_files_read_the_nearest_double(
        bits in 0x3F50_0000_0000_0000u64..0x3FEF_FFFF_FFFF_FFFFu64,
        ulps in -2i32..=2,
    ) {
        let edge = f64::from_bits(bits);
        let confidence = step(edge, ulps);
        let dir = tempfile::tempdir().unwrap();
        let policy_text = format!(
            "version: 1\nescalation:\n  rules:\n    - confidenceRange: [0.0, {edge}]\n      action: escalate\n      approvers: [user:carol]\n    - confidenceRange: [{edge}, 1.0]\n      action: auto-approve\n"
        );
        std::fs::write(dir.path().join("p.yaml"), &policy_text).unwrap();
        let test_text = format!(
            "policy: p.yaml\ncases:\n  - name: at the edge\n    request: {{action: deploy, confidence: {confidence}}}\n    expect:\n      outcome: {}\n",
            expected(confidence, edge)
        );
        let test_path = dir.path().join("p.test.yaml");
        std::fs::write(&test_path, test_text).unwrap();
        let file = TestFile::load(&test_path).unwrap();
        let policy = Policy::from_path(dir.path().join("p.yaml")).unwrap();
        let result = run_file(file, &policy);
        prop_assert_eq!(result.failed(), 0, "{:?}", result);
    }
}

#[test]
fn a_test_request_with_a_key_given_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "version: 1\nhitl:\n  rules:\n    - action: read\n",
    )
    .unwrap();
    let path = dir.path().join("p.test.yaml");
    std::fs::write(
        &path,
        "policy: p.yaml\ncases:\n  - name: twice\n    request: {action: delete, action: read}\n    expect:\n      outcome: auto-approve\n",
    )
    .unwrap();
    let err = TestFile::load(&path).unwrap_err().render();
    assert!(err.contains("key `action` appears twice"), "{err}");
    assert!(err.contains("p.test.yaml:4:"), "{err}");
}
