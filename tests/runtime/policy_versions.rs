//! The policy's stored versions: puts, refusals with located diagnostics, the product
//! document's JSON rule lists, rollbacks, restarts and concurrent changes.

use std::sync::Arc;

use rekall_policy::front::Language;
use rekall_policy::model::{AuditKind, Call, NewPolicyVersion, Timestamp};
use rekall_policy::runtime::{
    ChangedBy, PolicyChangeError, PolicyRejected, RuleSection, Runtime, Seed,
};
use rekall_policy::store::{self, AuditFilter, Store, StoreError};
use rekall_policy::{Policy, Request};
use serde_json::{Value, json};

use crate::common::{T0, p, rig, running};

fn root() -> ChangedBy {
    ChangedBy::new(p("user:root")).request("req-1")
}

fn seed_yaml() -> String {
    std::fs::read_to_string("policies/seed.yaml").unwrap()
}

async fn on_file(path: &std::path::Path) -> Runtime {
    Runtime::builder()
        .store_url(&crate::common::store_at(path).await)
        .background(false)
        .build()
        .await
        .unwrap()
}

fn rejected(
    r: Result<Arc<rekall_policy::model::PolicyVersion>, PolicyChangeError>,
) -> PolicyRejected {
    match r {
        Err(PolicyChangeError::Rejected(e)) => *e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn audit_of(rt: &Runtime, kind: &str) -> Vec<rekall_policy::model::AuditEntry> {
    rt.audit()
        .query(AuditFilter {
            kind: Some(kind.into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

/// The decision for a grid of requests, as `eval --format json` prints it.
fn decisions(decide: impl Fn(&Request) -> Value) -> Vec<Value> {
    let mut out = Vec::new();
    for action in ["delete", "deploy", "read", "deploy-now", "DELETE"] {
        for resource in ["production", "staging", "db/users", "*", ""] {
            for confidence in [
                None,
                Some(0.0),
                Some(0.39),
                Some(0.4),
                Some(0.55),
                Some(0.7),
                Some(0.85),
                Some(0.9),
                Some(1.0),
            ] {
                let mut r = Request::new(action).resource(resource);
                if let Some(c) = confidence {
                    r = r.confidence(c);
                }
                out.push(
                    json!({"request": [action, resource, confidence], "decision": decide(&r)}),
                );
            }
        }
    }
    out
}

fn live_decisions(rt: &Runtime) -> Vec<Value> {
    let live = rt.policy().unwrap();
    decisions(|r| serde_json::to_value(live.decide(r).unwrap()).unwrap())
}

fn policy_decisions(text: &str, language: Language) -> Vec<Value> {
    let policy = Policy::from_str_in(language, text, "expected").unwrap();
    decisions(|r| serde_json::to_value(policy.decide(r).unwrap()).unwrap())
}

#[tokio::test]
async fn versions_survive_a_restart_and_the_config_policy_is_only_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("versions.db");
    let seed = seed_yaml();
    let changed = seed.replace(
        "      approvers: [user:adam]\n      timeout: 1h",
        "      approvers: [user:bob]\n      timeout: 1h",
    );
    assert_ne!(changed, seed);
    {
        let rt = on_file(&path).await;
        let by = ChangedBy::new(p("system:config"));
        let first = rt
            .policies()
            .load(Some(Seed {
                text: &seed,
                language: Language::Yaml,
                origin: "policies/seed.yaml",
                by,
            }))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.info.version, 1);
        assert_eq!(
            first.info.summary,
            "first version: 3 hitl rules, 4 escalation rules"
        );
        let second = rt
            .policies()
            .put(&changed, Language::Yaml, &root())
            .await
            .unwrap();
        assert_eq!(second.info.version, 2);
        assert_eq!(second.info.summary, "escalation: +1 -1 rules (4 -> 4)");
    }
    // Another start, with the config's file changed meanwhile: the store's latest stands.
    let rt = on_file(&path).await;
    let other_seed =
        "version: 1\nhitl:\n  rules:\n    - action: \"*\"\n      requireApproval: false\n";
    let live = rt
        .policies()
        .load(Some(Seed {
            text: other_seed,
            language: Language::Yaml,
            origin: "policies/other.yaml",
            by: ChangedBy::new(p("system:config")),
        }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.info.version, 2);
    assert_eq!(live.text, changed);
    assert_eq!(live.info.principal, p("user:root"));
    assert_eq!(live.info.request_id.as_deref(), Some("req-1"));
    assert_eq!(live.info.sha256, rekall_policy::model::hash_text(&changed));
    assert_eq!(rt.policy().unwrap().version(), "2");
    let e = running(&rt, "deploy").await;
    let d = rt
        .execution()
        .check_escalation(&e.id, Call::new("read").resource("x").confidence(0.5))
        .await
        .unwrap();
    assert_eq!(d.policy_version, "2", "the decision names the version");
    assert_eq!(d.decision["approvers"], json!(["user:bob"]));
    let history = rt.policies().history(None, 10).await.unwrap();
    let numbers: Vec<u64> = history.items.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(history.next_cursor, None);
    assert_eq!(history.items[1].principal, p("system:config"));
    assert_eq!(rt.policies().get(1).await.unwrap().unwrap().text, seed);
}

#[tokio::test]
async fn history_pages_newest_first_with_a_cursor() {
    let rig = rig().await;
    for n in 0..5 {
        let text = format!(
            "version: 1\nname: v{n}\nhitl:\n  rules:\n    - action: a\n      requireApproval: false\n"
        );
        rig.rt
            .policies()
            .put(&text, Language::Yaml, &root())
            .await
            .unwrap();
    }
    let first = rig.rt.policies().history(None, 2).await.unwrap();
    assert_eq!(
        first.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [5, 4]
    );
    assert_eq!(first.next_cursor, Some(4));
    assert_eq!(
        serde_json::to_value(&first).unwrap()["nextCursor"],
        json!("4")
    );
    let second = rig
        .rt
        .policies()
        .history(first.next_cursor, 2)
        .await
        .unwrap();
    assert_eq!(
        second.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [3, 2]
    );
    let last = rig
        .rt
        .policies()
        .history(second.next_cursor, 2)
        .await
        .unwrap();
    assert_eq!(
        last.items.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(last.next_cursor, None);
    assert_eq!(
        last.items[0].summary,
        "first version: 1 hitl rule, 0 escalation rules"
    );
    assert_eq!(first.items[0].summary, "name changed");
}

#[tokio::test]
async fn a_rollback_is_a_new_version_holding_the_old_text() {
    let rig = rig().await;
    let rt = &rig.rt;
    let seed = seed_yaml();
    rt.policies()
        .put(&seed, Language::Yaml, &root())
        .await
        .unwrap();
    let dsl = std::fs::read_to_string("policies/data-platform.rkl").unwrap();
    rt.policies()
        .put(&dsl, Language::Dsl, &root())
        .await
        .unwrap();
    let before = live_decisions(rt);

    let admin = ChangedBy::new(p("user:alice"));
    let back = rt.policies().rollback(1, &admin).await.unwrap();
    assert_eq!(back.info.version, 3);
    assert_eq!(back.text, seed);
    assert_eq!(back.info.language, Language::Yaml);
    assert_eq!(back.info.rollback_of, Some(1));
    assert_eq!(back.info.principal, p("user:alice"));
    assert!(
        back.info.summary.starts_with("rollback to version 1: "),
        "{}",
        back.info.summary
    );
    assert_eq!(rt.policies().current().unwrap().info.version, 3);
    assert_eq!(live_decisions(rt), policy_decisions(&seed, Language::Yaml));
    assert_ne!(live_decisions(rt), before);

    // Back to the DSL version: its language comes back with it.
    let again = rt.policies().rollback(2, &admin).await.unwrap();
    assert_eq!(
        (again.info.version, again.info.language),
        (4, Language::Dsl)
    );
    assert_eq!(live_decisions(rt), before);

    let missing = rt.policies().rollback(99, &admin).await;
    assert!(
        matches!(missing, Err(PolicyChangeError::NoSuchVersion(99))),
        "{missing:?}"
    );
    assert_eq!(rt.policies().current().unwrap().info.version, 4);
    let rollbacks = audit_of(rt, "policy_rollback").await;
    assert_eq!(rollbacks.len(), 2);
    assert_eq!(rollbacks[0].kind, AuditKind::PolicyRollback);
    assert_eq!(rollbacks[0].principal, Some(p("user:alice")));
    assert_eq!(rollbacks[0].detail["version"], json!(3));
    assert_eq!(rollbacks[0].detail["rollbackOf"], json!(1));
    assert_eq!(rollbacks[0].detail["summary"], json!(back.info.summary));
    assert_eq!(audit_of(rt, "policy_version").await.len(), 2);
}

#[tokio::test]
async fn a_refused_policy_changes_nothing_and_carries_located_diagnostics() {
    let rig = rig().await;
    let rt = &rig.rt;
    let seed = seed_yaml();
    rt.policies()
        .put(&seed, Language::Yaml, &root())
        .await
        .unwrap();
    let live = live_decisions(rt);

    let bad = "version: 1\nhitl:\n  rules:\n    - action: delete\n      requireApproval: true\n      approvers: [adam]\n      minApprovalz: 1\n";
    let e = rejected(rt.policies().put(bad, Language::Yaml, &root()).await);
    let found: Vec<(&str, u32, u32, &str)> = e
        .diagnostics
        .iter()
        .map(|d| (d.file.as_str(), d.line, d.column, d.code))
        .collect();
    assert_eq!(
        found,
        [
            ("policy.yaml", 6, 19, "bad-principal"),
            ("policy.yaml", 7, 7, "unknown-key"),
        ]
    );
    assert!(
        e.diagnostics[1]
            .help
            .as_deref()
            .unwrap()
            .contains("minApprovals"),
        "{:?}",
        e.diagnostics[1]
    );
    assert!(
        e.message
            .starts_with("the policy was refused, nothing changed: policy.yaml:6:19: "),
        "{}",
        e.message
    );
    assert_eq!(e.principal, p("user:root"));
    // As `check --format json` gives them.
    let wire = serde_json::to_value(&e.diagnostics[0]).unwrap();
    assert_eq!(
        wire.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "file",
            "line",
            "column",
            "endLine",
            "endColumn",
            "code",
            "message",
            "help"
        ]
    );

    // The DSL's diagnostics are located alike.
    let bad_dsl = "policy version 1\nescalation {\n  when lost: confidence in [0.0, 1.0] -> escalate to [user:carol] priority urgent\n}\n";
    let d = rejected(rt.policies().put(bad_dsl, Language::Dsl, &root()).await);
    assert_eq!(
        (
            d.diagnostics[0].file.as_str(),
            d.diagnostics[0].line,
            d.diagnostics[0].code
        ),
        ("policy.rkl", 3, "unknown-word")
    );
    assert!(d.diagnostics[0].column > 1);

    // Nothing changed: the same version in force, deciding the same, and no new version.
    assert_eq!(rt.policies().current().unwrap().info.version, 1);
    assert_eq!(live_decisions(rt), live);
    assert_eq!(
        rt.policies().history(None, 10).await.unwrap().items.len(),
        1
    );
    assert_eq!(rt.policies().last_error(), Some(d.clone()));
    let refusals = audit_of(rt, "policy_refused").await;
    assert_eq!(refusals.len(), 2);
    assert_eq!(refusals[0].principal, Some(p("user:root")));
    assert_eq!(refusals[0].detail["errors"], json!(2));
    assert_eq!(refusals[0].detail["diagnostics"][0]["line"], json!(6));

    // An accepted change clears the last error.
    rt.policies()
        .put(&format!("# ok\n{seed}"), Language::Yaml, &root())
        .await
        .unwrap();
    assert_eq!(rt.policies().last_error(), None);
}

#[tokio::test]
async fn a_config_policy_with_errors_is_refused_naming_its_file() {
    let rig = rig().await;
    let e = rig
        .rt
        .policies()
        .load(Some(Seed {
            text: "version: 2\n",
            language: Language::Yaml,
            origin: "conf/policy.yaml",
            by: ChangedBy::new(p("system:config")),
        }))
        .await;
    let Err(PolicyChangeError::Rejected(e)) = e else {
        panic!("{e:?}")
    };
    assert!(
        e.diagnostics.iter().all(|d| d.file == "conf/policy.yaml"),
        "{e:?}"
    );
    let version = e
        .diagnostics
        .iter()
        .find(|d| d.code == "unsupported-version")
        .unwrap();
    assert_eq!((version.line, version.column), (1, 10));
    assert!(
        rig.rt.policy().is_none(),
        "no policy rather than a wrong one"
    );
    assert!(rig.rt.store().policy_version(None).await.unwrap().is_none());
    assert_eq!(rig.rt.policies().load(None).await.unwrap(), None);
}

/// The product document's `setHITLPolicy` body, as written there.
const PRODUCT_HITL: &str = r#"{
  "rules": [
    { "action": "delete", "resource": "*", "requireApproval": true, "approvers": ["user:adam"] },
    { "action": "deploy", "resource": "production", "requireApproval": true,
      "approvers": ["user:adam", "user:alice"], "minApprovals": 1 },
    { "action": "*", "resource": "*", "requireApproval": false }
  ]
}"#;

/// The product document's `setEscalationPolicy` body, as written there.
const PRODUCT_ESCALATION: &str = r#"{
  "rules": [
    { "confidenceRange": [0.9, 1.0], "action": "auto-approve" },
    { "confidenceRange": [0.7, 0.9], "action": "notify-and-proceed", "notifyVia": ["slack"] },
    { "confidenceRange": [0.4, 0.7], "action": "request-approval", "approvers": ["user:adam"], "timeout": 3600000 },
    { "confidenceRange": [0.0, 0.4], "action": "escalate", "approvers": ["user:carol"],
      "notifyVia": ["email", "slack"], "priority": "high" }
  ]
}"#;

/// The policy both bodies make of a policy named `seed`, in YAML: the seed without its ids.
const SEED_WITHOUT_IDS: &str = "version: 1
name: seed
hitl:
  rules:
    - action: delete
      resource: \"*\"
      requireApproval: true
      approvers: [user:adam]
    - action: deploy
      resource: production
      requireApproval: true
      approvers: [user:adam, user:alice]
      minApprovals: 1
    - action: \"*\"
      resource: \"*\"
      requireApproval: false
escalation:
  rules:
    - confidenceRange: [0.9, 1.0]
      action: auto-approve
    - confidenceRange: [0.7, 0.9]
      action: notify-and-proceed
      notifyVia: [slack]
    - confidenceRange: [0.4, 0.7]
      action: request-approval
      approvers: [user:adam]
      timeout: 1h
    - confidenceRange: [0.0, 0.4]
      action: escalate
      approvers: [user:carol]
      notifyVia: [email, slack]
      priority: high
";

#[tokio::test]
async fn the_product_documents_rule_lists_decide_as_the_equivalent_yaml() {
    let rig = rig().await;
    let rt = &rig.rt;
    let empty = "version: 1\nname: seed\nhitl:\n  rules:\n    - action: nothing\n      requireApproval: false\nescalation:\n  rules:\n    - confidenceRange: [0.0, 1.0]\n      action: deny\n";
    rt.policies()
        .put(empty, Language::Yaml, &root())
        .await
        .unwrap();

    let v2 = rt
        .policies()
        .put_rules(RuleSection::Hitl, PRODUCT_HITL, &root())
        .await
        .unwrap();
    assert_eq!(v2.info.summary, "hitl: +3 -1 rules (1 -> 3)");
    let v3 = rt
        .policies()
        .put_rules(RuleSection::Escalation, PRODUCT_ESCALATION, &root())
        .await
        .unwrap();
    assert_eq!(v3.info.version, 3);
    assert_eq!(v3.info.language, Language::Yaml);
    let expected = SEED_WITHOUT_IDS;
    assert_eq!(
        Policy::from_yaml_str(&v3.text, "v3").unwrap().doc(),
        Policy::from_yaml_str(expected, "expected").unwrap().doc(),
        "{}",
        v3.text
    );
    let live = live_decisions(rt);
    assert_eq!(live, policy_decisions(expected, Language::Yaml));
    // Something is at stake: the grid sees every outcome of the seed.
    for outcome in [
        "auto-approve",
        "notify-and-proceed",
        "request-approval",
        "escalate",
    ] {
        assert!(
            live.iter().any(|d| d["decision"]["outcome"] == outcome),
            "{outcome}"
        );
    }
}

#[tokio::test]
async fn a_rule_list_keeps_the_rest_and_the_language_of_the_live_version() {
    let rig = rig().await;
    let rt = &rig.rt;
    let dsl = std::fs::read_to_string("policies/seed.rkl").unwrap();
    rt.policies()
        .put(&dsl, Language::Dsl, &root())
        .await
        .unwrap();
    let v2 = rt
        .policies()
        .put_rules(RuleSection::Hitl, PRODUCT_HITL, &root())
        .await
        .unwrap();
    assert_eq!(v2.info.language, Language::Dsl);
    let printed = Policy::from_str_in(Language::Dsl, &v2.text, "v2.rkl").unwrap();
    let before = Policy::from_str_in(Language::Dsl, &dsl, "seed.rkl").unwrap();
    assert_eq!(
        printed.doc().escalation,
        before.doc().escalation,
        "the escalation rules are kept"
    );
    assert_eq!(printed.doc().name, before.doc().name);
    assert_eq!(printed.doc().hitl.as_ref().unwrap().rules.len(), 3);
    assert!(
        printed
            .doc()
            .hitl
            .as_ref()
            .unwrap()
            .rules
            .iter()
            .all(|r| r.id.is_none())
    );

    // With nothing in force, a rule list is a policy of its own, in YAML.
    let fresh = self::rig().await;
    let v1 = fresh
        .rt
        .policies()
        .put_rules(RuleSection::Escalation, PRODUCT_ESCALATION, &root())
        .await
        .unwrap();
    assert_eq!((v1.info.version, v1.info.language), (1, Language::Yaml));
    assert!(
        Policy::from_yaml_str(&v1.text, "v1")
            .unwrap()
            .doc()
            .hitl
            .is_none()
    );
}

#[tokio::test]
async fn rule_lists_with_unknown_keys_or_bad_values_are_refused_with_a_path() {
    let rig = rig().await;
    let rt = &rig.rt;
    rt.policies()
        .put(&seed_yaml(), Language::Yaml, &root())
        .await
        .unwrap();
    let live = live_decisions(rt);
    let cases: &[(RuleSection, &str, Option<&str>, &str)] = &[
        (
            RuleSection::Hitl,
            r#"{"rules": [{"action": "delete", "requireApproval": true, "approvers": ["user:adam"], "approverz": []}]}"#,
            Some("rules[0].approverz"),
            "unknown-key",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [{"action": "deploy", "requireApproval": "yes"}]}"#,
            Some("rules[0].requireApproval"),
            "wrong-type",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [{"action": "deploy", "requireApproval": true, "approvers": ["user:adam"], "minApprovals": 3}]}"#,
            Some("rules[0].minApprovals"),
            "min-approvals-too-high",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [{"action": "a", "requireApproval": false}, {"action": "deploy", "requireApproval": true, "approvers": ["user:adam", "adam"]}]}"#,
            Some("rules[1].approvers[1]"),
            "bad-principal",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [{"action": "dep[loy", "requireApproval": false}]}"#,
            Some("rules[0].action"),
            "malformed-glob",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [{"action": "a", "action": "b"}]}"#,
            Some("rules[0].action"),
            "syntax",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [{"resource": "x", "requireApproval": false}]}"#,
            Some("rules[0]"),
            "missing-key",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [], "mode": "replace"}"#,
            Some("mode"),
            "unknown-key",
        ),
        (
            RuleSection::Hitl,
            r#"[{"action": "a"}]"#,
            None,
            "wrong-type",
        ),
        (
            RuleSection::Hitl,
            r#"{"rules": [{"action": "a", "requireApproval": false}]"#,
            None,
            "syntax",
        ),
        (
            RuleSection::Escalation,
            r#"{"rules": [{"confidenceRange": [0.9], "action": "auto-approve"}]}"#,
            Some("rules[0].confidenceRange"),
            "range-shape",
        ),
        (
            RuleSection::Escalation,
            r#"{"rules": [{"confidenceRange": [0.0, 1.0], "action": "request-approval", "approvers": ["user:adam"], "timeout": "1.5h"}]}"#,
            Some("rules[0].timeout"),
            "malformed-duration",
        ),
        (
            RuleSection::Escalation,
            r#"{"rules": [{"confidenceRange": [0.0, 1.0], "action": "auto-aprove"}]}"#,
            Some("rules[0].action"),
            "unknown-outcome",
        ),
        (
            RuleSection::Escalation,
            r#"{"rules": [{"confidenceRange": [0.0, 1.5], "action": "deny"}]}"#,
            Some("rules[0].confidenceRange[1]"),
            "range-out-of-bounds",
        ),
        (
            RuleSection::Escalation,
            r#"{"rules": [{"confidenceRange": [0.0, 1.0], "action": "escalate", "approvers": ["group:oncall"]}]}"#,
            Some("rules[0].approvers[0]"),
            "unknown-group",
        ),
        (
            RuleSection::Escalation,
            r#"{"rules": [{"id": "confident", "confidenceRange": [0.0, 1.0], "action": "deny"}, {"id": "confident", "confidenceRange": [0.0, 1.0], "action": "deny"}]}"#,
            Some("rules[1].id"),
            "duplicate-rule-id",
        ),
    ];
    for (section, body, field, code) in cases {
        let e = rejected(rt.policies().put_rules(*section, body, &root()).await);
        let d = &e.diagnostics[0];
        assert_eq!(
            (d.field.as_deref(), d.code),
            (*field, *code),
            "{body}: {:#?}",
            e.diagnostics
        );
        let file = format!("{}-rules.json", section.as_str());
        assert!(
            e.diagnostics.iter().all(|d| d.file == file),
            "{body}: {e:?}"
        );
        assert_eq!(rt.policies().current().unwrap().info.version, 1, "{body}");
    }
    assert_eq!(live_decisions(rt), live);
    assert_eq!(
        rt.policies().history(None, 10).await.unwrap().items.len(),
        1
    );
}

#[tokio::test]
async fn a_rule_lists_problems_point_at_lines_and_columns_of_the_body() {
    let rig = rig().await;
    let rt = &rig.rt;
    rt.policies()
        .put(&seed_yaml(), Language::Yaml, &root())
        .await
        .unwrap();
    let body = "{\n  \"rules\": [\n    {\"action\": \"delete\", \"requireApproval\": true,\n     \"approvers\": [\"user:adam\", \"adam\"], \"colour\": 1}\n  ]\n}";
    let e = rejected(
        rt.policies()
            .put_rules(RuleSection::Hitl, body, &root())
            .await,
    );
    let found: Vec<(Option<&str>, u32, u32)> = e
        .diagnostics
        .iter()
        .map(|d| (d.field.as_deref(), d.line, d.column))
        .collect();
    assert_eq!(
        found,
        [
            (Some("rules[0].approvers[1]"), 4, 33),
            (Some("rules[0].colour"), 4, 42),
        ]
    );
    // A hint that names where something was first written names the body's line too.
    let body = "{\"rules\": [\n {\"id\": \"x\", \"action\": \"a\", \"requireApproval\": false},\n {\"id\": \"x\", \"action\": \"b\", \"requireApproval\": false}\n]}";
    let e = rejected(
        rt.policies()
            .put_rules(RuleSection::Hitl, body, &root())
            .await,
    );
    let d = &e.diagnostics[0];
    assert_eq!((d.code, d.line, d.column), ("duplicate-rule-id", 3, 9));
    assert!(d.help.as_deref().unwrap().contains("line 2"), "{d:?}");
}

#[tokio::test]
async fn a_change_prepared_on_a_version_that_is_no_longer_the_latest_is_stale() {
    let rig = rig().await;
    let rt = &rig.rt;
    rt.policies()
        .put(&seed_yaml(), Language::Yaml, &root())
        .await
        .unwrap();
    let prepared = rt
        .policies()
        .prepare_rules(RuleSection::Hitl, PRODUCT_HITL, &root())
        .await
        .unwrap();
    assert_eq!(prepared.number(), 2);
    assert_eq!(prepared.base().unwrap().name(), Some("seed"));
    rt.policies().rollback(1, &root()).await.unwrap();
    let stale = rt.policies().commit(prepared).await;
    assert!(
        matches!(stale, Err(PolicyChangeError::Stale { after: Some(1), .. })),
        "{stale:?}"
    );
    assert_eq!(rt.policies().current().unwrap().info.version, 2);
    assert_eq!(rt.policies().current().unwrap().info.rollback_of, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_get_distinct_consecutive_version_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    // Two runtimes on one file, as two processes would be: each its own connection.
    let nodes = [on_file(&path).await, on_file(&path).await];
    let mut tasks = Vec::new();
    for i in 0..16 {
        let rt = nodes[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let text = format!("version: 1\nname: put-{i}\nhitl:\n  rules:\n    - action: a{i}\n      requireApproval: false\n");
            let v = rt.policies().put(&text, Language::Yaml, &root()).await.unwrap();
            (i % 2, v.info.version, v.info.name.clone().unwrap())
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap());
    }
    let mut numbers: Vec<u64> = done.iter().map(|d| d.1).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<u64>>());
    let history = nodes[0].policies().history(None, 100).await.unwrap();
    for (_, number, name) in &done {
        let stored = history.items.iter().find(|v| v.version == *number).unwrap();
        assert_eq!(
            stored.name.as_ref(),
            Some(name),
            "version {number} holds its own text"
        );
    }
    // Each node has the latest of its own changes in force, whatever order they finished in.
    for (n, node) in nodes.iter().enumerate() {
        let own = done.iter().filter(|d| d.0 == n).map(|d| d.1).max().unwrap();
        let live = node.policies().current().unwrap().info.version;
        assert!(live >= own, "node {n}: {live} < {own}");
        node.policies().refresh().await.unwrap();
        assert_eq!(node.policies().current().unwrap().info.version, 16);
        assert_eq!(node.policy().unwrap().version(), "16");
    }
}

/// The store's part, for any store: numbering, the check of the latest, and no gaps.
async fn contract(s: Arc<dyn Store>) {
    let version = |text: &str| NewPolicyVersion {
        language: Language::Yaml,
        text: text.into(),
        name: None,
        principal: p("user:root"),
        request_id: None,
        created_at: T0,
        summary: "s".into(),
        rollback_of: None,
    };
    assert_eq!(s.policy_version(None).await.unwrap(), None);
    let one = s
        .append_policy_version(version("a"), None, vec![])
        .await
        .unwrap();
    assert_eq!(one.info.version, 1);
    let err = s
        .append_policy_version(version("b"), None, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let err = s
        .append_policy_version(version("b"), Some(7), vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    let entry =
        rekall_policy::model::AuditEntry::new(AuditKind::PolicyVersion, T0, json!({"version": 2}));
    let two = s
        .append_policy_version(
            NewPolicyVersion {
                rollback_of: Some(1),
                created_at: Timestamp(T0.0 + 5),
                ..version("b")
            },
            Some(1),
            vec![entry],
        )
        .await
        .unwrap();
    assert_eq!(two.info.version, 2);
    assert_eq!(s.policy_version(None).await.unwrap().as_ref(), Some(&two));
    assert_eq!(
        s.policy_version(Some(1)).await.unwrap().as_ref(),
        Some(&one)
    );
    assert_eq!(s.policy_version(Some(3)).await.unwrap(), None);
    let listed = s.policy_versions(None, 10).await.unwrap();
    assert_eq!(listed, [two.info.clone(), one.info.clone()]);
    assert_eq!(
        s.policy_versions(Some(2), 10).await.unwrap(),
        std::slice::from_ref(&one.info)
    );
    assert_eq!(
        s.policy_versions(None, 1).await.unwrap(),
        std::slice::from_ref(&two.info)
    );
    let audit = s
        .audit(AuditFilter {
            kind: Some("policy_version".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit.len(),
        1,
        "the audit entry is written with its version"
    );
}

#[tokio::test]
async fn the_postgres_store_keeps_the_versions_contract() {
    let url = crate::postgres::fresh_database().await;
    contract(store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_versions_contract() {
    contract(store::open("sqlite::memory:").await.unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("v.db").display());
    contract(store::open(&url).await.unwrap()).await;
}

#[tokio::test]
async fn a_stored_version_this_program_refuses_is_not_put_in_force_but_can_be_replaced() {
    let rig = rig().await;
    let rt = &rig.rt;
    // As if stored by a program that read policies less strictly.
    rt.store()
        .append_policy_version(
            NewPolicyVersion {
                language: Language::Yaml,
                text: "version: 1\nhitl:\n  rules:\n    - action: deploy\n      requireApproval: yes\n".into(),
                name: None,
                principal: p("user:root"),
                request_id: None,
                created_at: T0,
                summary: "s".into(),
                rollback_of: None,
            },
            None,
            vec![],
        )
        .await
        .unwrap();
    let loaded = rt.policies().load(None).await;
    let Err(PolicyChangeError::Rejected(e)) = loaded else {
        panic!("{loaded:?}")
    };
    assert_eq!(e.diagnostics[0].file, "v1.yaml");
    assert_eq!(e.diagnostics[0].line, 5);
    assert!(
        rt.policy().is_none(),
        "nothing is decided by a policy not read"
    );
    assert_eq!(rt.policies().last_error(), Some(*e));
    let fixed = rt
        .policies()
        .put(&seed_yaml(), Language::Yaml, &root())
        .await
        .unwrap();
    assert_eq!(fixed.info.version, 2);
    assert_eq!(rt.policies().current().unwrap().info.version, 2);
    assert_eq!(rt.policies().last_error(), None);
}

#[tokio::test]
async fn a_change_refused_by_the_caller_is_audited_and_changes_nothing() {
    let rig = rig().await;
    let rt = &rig.rt;
    rt.policies()
        .put(&seed_yaml(), Language::Yaml, &root())
        .await
        .unwrap();
    let agent = ChangedBy::new(p("agent:deploy-bot")).request("req-9");
    let looser = r#"{"rules": [{"action": "*", "requireApproval": false}]}"#;
    let change = rt
        .policies()
        .prepare_rules(RuleSection::Hitl, looser, &agent)
        .await
        .unwrap();
    assert_eq!(change.summary(), "hitl: +1 -3 rules (3 -> 1)");
    rt.policies()
        .refused(&change, "not at least as strict as version 1")
        .await
        .unwrap();
    let refusals = audit_of(rt, "policy_refused").await;
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].principal, Some(p("agent:deploy-bot")));
    assert_eq!(
        refusals[0].detail["summary"],
        json!("refused: not at least as strict as version 1")
    );
    assert_eq!(
        refusals[0].detail["change"],
        json!("hitl: +1 -3 rules (3 -> 1)")
    );
    assert_eq!(refusals[0].detail["requestId"], json!("req-9"));
    assert_eq!(rt.policies().current().unwrap().info.version, 1);
    assert_eq!(
        rt.policies().history(None, 10).await.unwrap().items.len(),
        1
    );
}
