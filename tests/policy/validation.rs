//! Validation errors (spec section 6) and front-end errors: each refused policy must say what
//! is wrong, where (line and column of the offending node), and how to fix it.
//!
//! Every snapshot shows the numbered policy text, then for each diagnostic its code, position,
//! the text under the span, the message and the hint, so a reviewer can check at a glance that
//! the position is the offending node.

use std::fmt::Write as _;

use rekall_policy::{Policy, PolicyError};

/// Parses `yaml`, which must be refused, and returns the error.
fn refuse(yaml: &str) -> PolicyError {
    match Policy::from_yaml_str(yaml, "policy.yaml") {
        Ok(_) => panic!("the policy was accepted but should be refused:\n{yaml}"),
        Err(e) => e,
    }
}

/// The characters a span underlines on its first line.
fn under(err: &PolicyError, d: &rekall_policy::Diagnostic) -> String {
    let Some(line) = err.source.line(d.span.line) else {
        return "<no such line>".into();
    };
    line.chars()
        .skip(d.span.col.saturating_sub(1) as usize)
        .take(d.span.width_on_first_line() as usize)
        .collect()
}

/// The numbered source and every diagnostic: code, line:col, underlined text, message, hint.
fn render(yaml: &str, err: &PolicyError) -> String {
    let mut out = String::new();
    for (i, line) in yaml.split('\n').enumerate() {
        if i + 1 == yaml.split('\n').count() && line.is_empty() {
            break;
        }
        let _ = writeln!(out, "{:>2} | {line}", i + 1);
    }
    out.push_str("----\n");
    for d in &err.diagnostics {
        let _ = writeln!(out, "{} at {}:{}", d.kind.code(), d.span.line, d.span.col);
        let _ = writeln!(out, "  under:   {:?}", under(err, d));
        let _ = writeln!(out, "  message: {}", d.kind);
        let _ = writeln!(
            out,
            "  hint:    {}",
            d.kind.hint().unwrap_or_else(|| "-".into())
        );
    }
    out
}

/// Checks that `yaml` is refused with exactly the diagnostics `codes` (in source order) and
/// returns the rendering to snapshot.
fn check(yaml: &str, codes: &[&str]) -> String {
    let err = refuse(yaml);
    let found: Vec<&str> = err.diagnostics.iter().map(|d| d.kind.code()).collect();
    assert_eq!(found, codes, "diagnostics of:\n{}", render(yaml, &err));
    render(yaml, &err)
}

/// A hitl section that is valid, for policies whose error is elsewhere.
const OK_HITL: &str = "hitl:
  rules:
    - action: \"*\"
      requireApproval: false
";

// ---------------------------------------------------------------------------------------------
// version

#[test]
fn unsupported_version() {
    let yaml = format!("version: 2\n{OK_HITL}");
    insta::assert_snapshot!(
        "unsupported_version",
        check(&yaml, &["unsupported-version"])
    );
}

#[test]
fn unsupported_version_not_a_number() {
    let yaml = format!("version: one\n{OK_HITL}");
    insta::assert_snapshot!(
        "unsupported_version_word",
        check(&yaml, &["unsupported-version"])
    );
}

#[test]
fn missing_version() {
    let yaml = format!("# no version here\nname: nameless\n{OK_HITL}");
    insta::assert_snapshot!("missing_version", check(&yaml, &["missing-version"]));
}

// ---------------------------------------------------------------------------------------------
// unknown keys

#[test]
fn unknown_key_with_did_you_mean() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireAproval: true
      approvers: [user:adam]
"#;
    // The misspelt key is refused; the approvers it would have used are then not reported
    // as unused (that would only echo the typo).
    insta::assert_snapshot!("unknown_key_did_you_mean", check(yaml, &["unknown-key"]));
}

#[test]
fn unknown_key_without_suggestion_lists_the_allowed_keys() {
    let yaml = r#"version: 1
escalation:
  rules:
    - confidenceRange: [0.0, 1.0]
      action: auto-approve
      colour: blue
"#;
    insta::assert_snapshot!("unknown_key_lists_allowed", check(yaml, &["unknown-key"]));
}

#[test]
fn unknown_top_level_key() {
    let yaml = format!("version: 1\ngroup:\n  sre: [user:adam]\n{OK_HITL}");
    insta::assert_snapshot!("unknown_key_top_level", check(&yaml, &["unknown-key"]));
}

#[test]
fn unknown_key_in_match_and_chain_step() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: migrate
      chain:
        - step: Review
          approver: [user:alice]
          approvers: [user:bob]
escalation:
  rules:
    - match: {action: deploy, resorce: prod}
      action: deny
"#;
    insta::assert_snapshot!(
        "unknown_key_in_step_and_match",
        check(yaml, &["unknown-key", "unknown-key"])
    );
}

// ---------------------------------------------------------------------------------------------
// globs

#[test]
fn malformed_glob_unclosed_bracket() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: dep[loy
      requireApproval: false
    - action: deploy
      resource: "prod-[0-9"
      requireApproval: false
"#;
    insta::assert_snapshot!(
        "malformed_glob_unclosed_bracket",
        check(yaml, &["malformed-glob", "malformed-glob"])
    );
}

#[test]
fn malformed_glob_unclosed_brace() {
    let yaml = r#"version: 1
escalation:
  rules:
    - match: {action: "deploy", resource: "{prod,staging"}
      action: deny
"#;
    insta::assert_snapshot!(
        "malformed_glob_unclosed_brace",
        check(yaml, &["malformed-glob"])
    );
}

#[test]
fn malformed_glob_nested_braces() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: '{read,{write,delete}}'
      requireApproval: false
"#;
    insta::assert_snapshot!(
        "malformed_glob_nested_braces",
        check(yaml, &["malformed-glob"])
    );
}

#[test]
fn malformed_glob_trailing_backslash_and_reversed_range() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: 'deploy\'
      requireApproval: false
    - action: "[z-a]*"
      requireApproval: false
"#;
    insta::assert_snapshot!(
        "malformed_glob_backslash_and_range",
        check(yaml, &["malformed-glob", "malformed-glob"])
    );
}

#[test]
fn malformed_glob_after_non_ascii_points_at_the_right_column() {
    // Columns count characters, not bytes.
    let yaml = r#"version: 1
hitl:
  rules:
    - {action: "é日[x", requireApproval: false}
"#;
    let err = refuse(yaml);
    assert_eq!(err.diagnostics.len(), 1);
    let d = &err.diagnostics[0];
    assert_eq!(d.kind.code(), "malformed-glob");
    assert_eq!((d.span.line, d.span.col), (4, 19));
    assert_eq!(under(&err, d), "[");
}

#[test]
fn malformed_glob_written_with_yaml_escapes_points_at_the_whole_value() {
    // The glob's offset counts characters of the value, which are not those of the source
    // once YAML escapes are involved; the diagnostic then points at the whole value.
    let yaml = r#"version: 1
hitl:
  rules:
    - action: "a\\b["
      requireApproval: false
    - action: "\u00e9[x"
      requireApproval: false
"#;
    insta::assert_snapshot!(
        "malformed_glob_with_yaml_escapes",
        check(yaml, &["malformed-glob", "malformed-glob"])
    );
}

// ---------------------------------------------------------------------------------------------
// durations

#[test]
fn malformed_durations() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam]
      timeout: 1w
      remindEvery: 0s
    - action: drop
      requireApproval: true
      approvers: [user:adam]
      timeout: soon
escalation:
  rules:
    - action: request-approval
      approvers: [user:adam]
      timeout: 1.5h
"#;
    insta::assert_snapshot!(
        "malformed_duration",
        check(
            yaml,
            &[
                "malformed-duration",
                "malformed-duration",
                "malformed-duration",
                "malformed-duration"
            ]
        )
    );
}

// ---------------------------------------------------------------------------------------------
// groups

#[test]
fn unknown_group_with_suggestion() {
    let yaml = r#"version: 1
groups:
  sre: [user:adam, user:alice]
  dba: [user:bob, group:sres]
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:carol, group:dbas]
"#;
    insta::assert_snapshot!(
        "unknown_group_suggestion",
        check(yaml, &["unknown-group", "unknown-group"])
    );
}

#[test]
fn unknown_group_without_suggestion() {
    let yaml = r#"version: 1
defaults:
  noMatch: request-approval
  approvers: [group:oncall]
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam]
      onTimeout: escalate
      escalateTo: [group:managers]
"#;
    insta::assert_snapshot!(
        "unknown_group_no_suggestion",
        check(yaml, &["unknown-group", "unknown-group"])
    );
}

#[test]
fn unknown_group_is_not_echoed_as_missing_approvers() {
    // The only approver is an unknown group: one error, not also "no approvers" or a quorum
    // that is too high.
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [group:nope]
    - action: drop
      requireApproval: true
      approvers: [user:adam, group:nope]
      minApprovals: 2
"#;
    insta::assert_snapshot!(
        "unknown_group_not_echoed",
        check(yaml, &["unknown-group", "unknown-group"])
    );
}

#[test]
fn group_cycle() {
    let yaml = r#"version: 1
groups:
  sre: [user:adam, group:dba]
  dba: [user:bob, group:ops]
  ops: [group:sre]
  loner: [group:loner]
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [group:sre]
"#;
    insta::assert_snapshot!("group_cycle", check(yaml, &["group-cycle", "group-cycle"]));
}

#[test]
fn duplicate_group() {
    let yaml = r#"version: 1
groups:
  sre: [user:adam]
  sre: [user:alice]
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [group:sre]
"#;
    insta::assert_snapshot!("duplicate_group", check(yaml, &["duplicate-group"]));
}

// ---------------------------------------------------------------------------------------------
// rule ids

#[test]
fn duplicate_rule_id() {
    let yaml = r#"version: 1
hitl:
  rules:
    - id: gate
      action: delete
      requireApproval: true
      approvers: [user:adam]
    - id: gate
      action: drop
      requireApproval: true
      approvers: [user:adam]
escalation:
  rules:
    - id: gate
      action: deny
"#;
    insta::assert_snapshot!(
        "duplicate_rule_id",
        check(yaml, &["duplicate-rule-id", "duplicate-rule-id"])
    );
}

// ---------------------------------------------------------------------------------------------
// approvers

#[test]
fn require_approval_without_approvers() {
    let yaml = r#"version: 1
hitl:
  rules:
    - id: delete-anything
      action: delete
      requireApproval: true
    - id: drop
      action: drop
      requireApproval: true
      approvers: []
"#;
    insta::assert_snapshot!(
        "require_approval_without_approvers",
        check(yaml, &["missing-approvers", "missing-approvers"])
    );
}

#[test]
fn approvers_that_are_only_empty_groups() {
    let yaml = r#"version: 1
groups:
  nobody: []
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [group:nobody]
"#;
    insta::assert_snapshot!(
        "approvers_only_empty_groups",
        check(yaml, &["missing-approvers"])
    );
}

#[test]
fn escalation_outcomes_without_approvers() {
    let yaml = r#"version: 1
escalation:
  rules:
    - confidenceRange: [0.4, 0.7]
      action: request-approval
    - confidenceRange: [0.0, 0.4]
      action: escalate
      notifyVia: [email]
"#;
    insta::assert_snapshot!(
        "escalation_outcome_without_approvers",
        check(yaml, &["missing-approvers", "missing-approvers"])
    );
}

#[test]
fn min_approvals_below_one() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam]
      minApprovals: 0
escalation:
  rules:
    - action: escalate
      approvers: [user:carol]
      minApprovals: -2
"#;
    insta::assert_snapshot!(
        "min_approvals_too_low",
        check(yaml, &["min-approvals-too-low", "min-approvals-too-low"])
    );
}

#[test]
fn min_approvals_above_distinct_approvers() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam, user:alice]
      minApprovals: 3
    - action: drop
      requireApproval: true
      approvers: [user:adam, user:adam]
      minApprovals: 2
"#;
    insta::assert_snapshot!(
        "min_approvals_too_high",
        check(yaml, &["min-approvals-too-high", "min-approvals-too-high"])
    );
}

#[test]
fn min_approvals_counts_distinct_principals_after_group_expansion() {
    // sre and dba overlap: user:adam is in both, and listed again directly. Three distinct
    // principals in all (adam, alice, bob), so 3 is fine and 4 is not.
    let yaml = r#"version: 1
groups:
  sre: [user:adam, user:alice]
  dba: [user:bob, group:sre]
hitl:
  rules:
    - action: drop
      requireApproval: true
      approvers: [group:sre, group:dba, user:adam]
      minApprovals: 3
    - action: delete
      requireApproval: true
      approvers: [group:sre, group:dba, user:adam]
      minApprovals: 4
"#;
    insta::assert_snapshot!(
        "min_approvals_too_high_after_group_dedup",
        check(yaml, &["min-approvals-too-high"])
    );
}

#[test]
fn chain_step_quorum_and_approvers_are_checked_per_step() {
    let yaml = r#"version: 1
hitl:
  rules:
    - id: migrate
      action: migrate
      chain:
        - step: Technical Review
          approvers: [user:alice, user:bob]
          minApprovals: 3
        - step: Manager Approval
          approvers: [user:carol]
          minApprovals: 0
        - step: Sign-off
          timeout: 1h
"#;
    insta::assert_snapshot!(
        "chain_step_quorum",
        check(
            yaml,
            &[
                "min-approvals-too-high",
                "min-approvals-too-low",
                "missing-approvers"
            ]
        )
    );
}

// ---------------------------------------------------------------------------------------------
// chains

#[test]
fn empty_chain() {
    let yaml = r#"version: 1
hitl:
  rules:
    - id: migrate
      action: migrate
      chain: []
"#;
    insta::assert_snapshot!("empty_chain", check(yaml, &["empty-chain"]));
}

#[test]
fn chain_with_require_approval_false() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: migrate
      requireApproval: false
      chain:
        - step: Review
          approvers: [user:alice]
"#;
    insta::assert_snapshot!(
        "chain_with_require_approval_false",
        check(yaml, &["chain-without-approval"])
    );
}

// ---------------------------------------------------------------------------------------------
// timeouts

#[test]
fn on_timeout_escalate_without_escalate_to() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam]
      timeout: 1h
      onTimeout: escalate
    - action: migrate
      chain:
        - step: Review
          approvers: [user:alice]
          onTimeout: escalate
          escalateTo: []
"#;
    insta::assert_snapshot!(
        "on_timeout_escalate_without_target",
        check(
            yaml,
            &["escalate-without-target", "escalate-without-target"]
        )
    );
}

// ---------------------------------------------------------------------------------------------
// principals

#[test]
fn principals_not_kind_colon_name() {
    let yaml = r#"version: 1
groups:
  sre: [adam, user:alice]
defaults:
  noMatch: request-approval
  approvers: ["user:"]
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam, ":bob", "user:carol smith"]
      onTimeout: escalate
      escalateTo: ["group:"]
"#;
    insta::assert_snapshot!(
        "bad_principal",
        check(
            yaml,
            &[
                "bad-principal",
                "bad-principal",
                "bad-principal",
                "bad-principal",
                "bad-principal"
            ]
        )
    );
}

// ---------------------------------------------------------------------------------------------
// confidence ranges

#[test]
fn confidence_range_outside_zero_one() {
    let yaml = r#"version: 1
escalation:
  rules:
    - confidenceRange: [-0.1, 0.5]
      action: deny
    - confidenceRange: [0.5, 1.5]
      action: auto-approve
"#;
    insta::assert_snapshot!(
        "confidence_range_out_of_bounds",
        check(yaml, &["range-out-of-bounds", "range-out-of-bounds"])
    );
}

#[test]
fn confidence_range_reversed() {
    let yaml = r#"version: 1
escalation:
  rules:
    - confidenceRange: [0.8, 0.2]
      action: deny
"#;
    insta::assert_snapshot!(
        "confidence_range_reversed",
        check(yaml, &["range-reversed"])
    );
}

#[test]
fn confidence_range_not_a_pair() {
    let yaml = r#"version: 1
escalation:
  rules:
    - confidenceRange: [0.2, 0.5, 0.8]
      action: deny
"#;
    insta::assert_snapshot!("confidence_range_shape", check(yaml, &["range-shape"]));
}

// ---------------------------------------------------------------------------------------------
// sections

#[test]
fn policy_with_neither_section() {
    let yaml = r#"version: 1
name: does-nothing
defaults:
  noMatch: deny
"#;
    insta::assert_snapshot!("no_sections", check(yaml, &["no-sections"]));
}

// ---------------------------------------------------------------------------------------------
// front end: types, duplicates, syntax, empty

#[test]
fn wrong_types() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireApproval: "yes"
      approvers: user:adam
      minApprovals: two
    - action:
      requireApproval: false
"#;
    insta::assert_snapshot!(
        "wrong_type",
        check(
            yaml,
            &["wrong-type", "wrong-type", "wrong-type", "wrong-type"]
        )
    );
}

#[test]
fn not_a_mapping() {
    // A malformed section is still a section: no "neither section" error on top.
    let yaml = r#"version: 1
defaults: request-approval
hitl: [delete]
escalation:
  rules:
    - deny
"#;
    insta::assert_snapshot!(
        "not_a_mapping",
        check(yaml, &["wrong-type", "wrong-type", "wrong-type"])
    );
    insta::assert_snapshot!("not_a_mapping_document", check("deny\n", &["wrong-type"]));
}

#[test]
fn section_without_rules() {
    let yaml = "version: 1\nhitl:\n  rulez: []\n";
    insta::assert_snapshot!(
        "section_without_rules",
        check(yaml, &["unknown-key", "missing-key"])
    );
}

#[test]
fn duplicate_key() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam]
      requireApproval: false
"#;
    insta::assert_snapshot!("duplicate_key", check(yaml, &["duplicate-key"]));
}

#[test]
fn yaml_syntax_error() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: "delete
      requireApproval: true
"#;
    insta::assert_snapshot!("yaml_syntax_error", check(yaml, &["syntax"]));
}

#[test]
fn yaml_syntax_error_bad_indentation() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
     requireApproval: true
"#;
    insta::assert_snapshot!("yaml_syntax_error_indentation", check(yaml, &["syntax"]));
}

#[test]
fn empty_file() {
    insta::assert_snapshot!("empty_file", check("", &["empty-document"]));
    let err = refuse("# only a comment\n\n");
    assert_eq!(err.diagnostics[0].kind.code(), "empty-document");
}

// ---------------------------------------------------------------------------------------------
// the full rendering

#[test]
fn render_unknown_key() {
    let yaml = r#"version: 1
hitl:
  rules:
    - action: delete
      requireAproval: true
      approvers: [user:adam]
"#;
    insta::assert_snapshot!("render_unknown_key", refuse(yaml).render());
}

#[test]
fn render_malformed_glob() {
    let yaml = r#"version: 1
escalation:
  rules:
    - match: {action: "deploy*", resource: "prod-{eu,us"}
      confidenceRange: [0.0, 0.5]
      action: escalate
      approvers: [user:carol]
"#;
    insta::assert_snapshot!("render_malformed_glob", refuse(yaml).render());
}

#[test]
fn render_min_approvals_too_high() {
    let yaml = r#"version: 1
groups:
  sre: [user:adam, user:alice]
hitl:
  rules:
    - action: deploy
      resource: production
      requireApproval: true
      approvers: [group:sre, user:adam]
      minApprovals: 3
"#;
    insta::assert_snapshot!("render_min_approvals_too_high", refuse(yaml).render());
}

// ---------------------------------------------------------------------------------------------
// every error in one run

#[test]
fn several_independent_errors_are_all_reported() {
    let yaml = r#"version: 1
groups:
  sre: [user:adam, group:sres]
hitl:
  rules:
    - id: one
      action: "deploy[prod"
      requireApproval: false
    - id: one
      action: delete
      requireAproval: true
    - action: migrate
      requireApproval: true
      approvers: [user:adam]
      timeout: 10 minutes
      minApprovals: 0
escalation:
  rules:
    - confidenceRange: [0.9, 0.1]
      action: auto-approve
    - confidenceRange: [0.0, 0.1]
      action: escalate
"#;
    let err = refuse(yaml);
    let found: Vec<(&str, u32)> = err
        .diagnostics
        .iter()
        .map(|d| (d.kind.code(), d.span.line))
        .collect();
    assert_eq!(
        found,
        [
            ("unknown-group", 3),
            ("malformed-glob", 7),
            ("duplicate-rule-id", 9),
            ("unknown-key", 11),
            ("malformed-duration", 15),
            ("min-approvals-too-low", 16),
            ("range-reversed", 19),
            ("missing-approvers", 22),
        ],
        "{}",
        render(yaml, &err)
    );
    insta::assert_snapshot!("several_errors", render(yaml, &err));
}

#[test]
fn a_valid_policy_is_accepted() {
    // The spec's own example, as a guard that the checks above do not refuse good policies.
    let yaml = r#"version: 1
name: production-safety
groups:
  sre: [user:adam, user:alice]
  dba: [user:bob, group:sre]
defaults:
  noMatch: request-approval
  approvers: [user:oncall]
hitl:
  rules:
    - id: delete-anything
      action: delete
      resource: "*"
      requireApproval: true
      approvers: [user:adam]
      minApprovals: 1
      timeout: 1h
      onTimeout: escalate
      escalateTo: [user:carol]
      remindEvery: 15m
      notifyVia: [email, slack]
    - id: migrate
      action: migrate
      resource: "db/*"
      chain:
        - step: Technical Review
          approvers: [user:alice, user:bob]
          minApprovals: 1
          timeout: 1h
        - step: Manager Approval
          approvers: [user:carol]
          minApprovals: 1
          timeout: 2h
      notifyVia: [email, slack]
    - action: "*"
      resource: "*"
      requireApproval: false
escalation:
  rules:
    - match: {action: "deploy*", resource: "prod*"}
      confidenceRange: [0.0, 0.5]
      action: escalate
      approvers: [user:carol]
      notifyVia: [email, slack]
      priority: high
      timeout: 3600000
    - confidenceRange: [0.9, 1.0]
      action: auto-approve
"#;
    if let Err(e) = Policy::from_yaml_str(yaml, "example.yaml") {
        panic!("{}", e.render());
    }
}

// ---------------------------------------------------------------------------------------------
// settings that would be silently dropped

#[test]
fn gate_settings_on_rules_that_ask_no_one() {
    let yaml = "version: 1
hitl:
  rules:
    - action: read
      requireApproval: false
      timeout: 1h
      remindEvery: 5m
escalation:
  rules:
    - confidenceRange: [0.0, 1.0]
      action: deny
      minApprovals: 2
      onTimeout: escalate
      escalateTo: [user:carol]
";
    insta::assert_snapshot!(
        "gate_settings_on_rules_that_ask_no_one",
        check(
            yaml,
            &[
                "inert-gate-key",
                "inert-gate-key",
                "inert-gate-key",
                "inert-gate-key",
                "inert-gate-key",
            ]
        )
    );
}

#[test]
fn default_approvers_for_a_default_that_asks_no_one() {
    let yaml = format!(
        "version: 1\ndefaults:\n  noMatch: auto-approve\n  approvers: [user:oncall]\n{OK_HITL}"
    );
    insta::assert_snapshot!(
        "default_approvers_for_a_default_that_asks_no_one",
        check(&yaml, &["unused-approvers"])
    );
}

#[test]
fn the_library_refuses_a_policy_file_of_unknown_language() {
    let dir = tempfile::tempdir().unwrap();
    let dsl = std::fs::read_to_string("policies/seed.rkl").unwrap();
    let yaml = std::fs::read_to_string("policies/seed.yaml").unwrap();
    for (name, text) in [("seed.txt", &dsl), ("seed", &dsl), ("seed.json", &yaml)] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = Policy::from_path(&path).unwrap_err();
        let codes: Vec<&str> = err.diagnostics.iter().map(|d| d.kind.code()).collect();
        assert_eq!(codes, ["unknown-language"], "{name}: {}", err.render());
        assert!(err.render().contains(".rkl"), "{}", err.render());
    }
    let path = dir.path().join("seed.yml");
    std::fs::write(&path, &yaml).unwrap();
    assert!(Policy::from_path(&path).is_ok());
}
