//! Requests (spec section 3): every kind of bad request is refused with an error that names
//! the field and says what is wrong, through the Rust API (`Policy::decide`) and through JSON
//! (`Request::from_json`); it never yields a decision. And the defaults of a valid request:
//! absent confidence is 0.0, absent resource is "".

use rekall_policy::{Outcome, Policy, Request, RequestError};
use serde_json::{Value, json};

fn seed() -> Policy {
    Policy::from_path("policies/seed.yaml").unwrap_or_else(|e| panic!("{}", e.render()))
}

/// Decides `request` with the seed policy, which must refuse it.
fn refused(request: &Request) -> RequestError {
    let policy = seed();
    match policy.decide(request) {
        Ok(d) => panic!(
            "{request:?} was decided ({}) but should be refused",
            d.outcome()
        ),
        Err(e) => e,
    }
}

/// Reads `value` as a request, which must be refused.
fn refused_json(value: Value) -> RequestError {
    match Request::from_json(&value) {
        Ok(r) => panic!("{value} was read as {r:?} but should be refused"),
        Err(e) => e,
    }
}

/// Asserts the error names `field` and its message holds every one of `words`.
#[track_caller]
fn assert_error(e: &RequestError, field: &str, words: &[&str]) {
    assert_eq!(e.field, field, "field of {e}");
    for w in words {
        assert!(
            e.message.contains(w),
            "message of {e:?} should mention {w:?}"
        );
    }
    // The displayed error starts with the field, so a log line says which field is wrong.
    assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
}

// ---------------------------------------------------------------------------------------------
// action

#[test]
fn missing_action() {
    let e = refused_json(json!({"resource": "staging", "confidence": 0.5}));
    assert_error(&e, "action", &["missing"]);
    assert_eq!(
        e.to_string(),
        "action: is missing; every request names an action"
    );
}

#[test]
fn empty_action() {
    let e = refused(&Request::new("").resource("staging").confidence(0.5));
    assert_error(&e, "action", &["must not be empty"]);
    let e = refused_json(json!({"action": "", "resource": "staging"}));
    assert_error(&e, "action", &["must not be empty"]);
}

#[test]
fn non_string_action() {
    let e = refused_json(json!({"action": 42}));
    assert_error(&e, "action", &["must be a string", "the number 42"]);
    let e = refused_json(json!({"action": null}));
    assert_error(&e, "action", &["must be a string", "null"]);
    let e = refused_json(json!({"action": ["deploy"]}));
    assert_error(&e, "action", &["must be a string", "a list"]);
    let e = refused_json(json!({"action": {"name": "deploy"}}));
    assert_error(&e, "action", &["must be a string", "an object"]);
    let e = refused_json(json!({"action": true}));
    assert_error(&e, "action", &["must be a string", "the boolean true"]);
}

// ---------------------------------------------------------------------------------------------
// resource

#[test]
fn non_string_resource() {
    let e = refused_json(json!({"action": "deploy", "resource": 7}));
    assert_error(&e, "resource", &["must be a string", "the number 7"]);
    let e = refused_json(json!({"action": "deploy", "resource": ["a", "b"]}));
    assert_error(&e, "resource", &["must be a string", "a list"]);
    let e = refused_json(json!({"action": "deploy", "resource": null}));
    assert_error(&e, "resource", &["must be a string", "null"]);
}

// ---------------------------------------------------------------------------------------------
// confidence

#[test]
fn confidence_as_a_string() {
    let e = refused_json(json!({"action": "deploy", "confidence": "high"}));
    assert_error(
        &e,
        "confidence",
        &["must be a number between 0 and 1", "the string \"high\""],
    );
    // A number in a string is still a string.
    let e = refused_json(json!({"action": "deploy", "confidence": "0.9"}));
    assert_error(&e, "confidence", &["must be a number", "\"0.9\""]);
}

#[test]
fn confidence_above_one() {
    let e = refused(&Request::new("deploy").resource("staging").confidence(1.5));
    assert_error(&e, "confidence", &["1.5", "between 0 and 1"]);
    let e = refused_json(json!({"action": "deploy", "confidence": 1.5}));
    assert_error(&e, "confidence", &["1.5", "between 0 and 1"]);
    let e = refused_json(json!({"action": "deploy", "confidence": 2}));
    assert_error(&e, "confidence", &["2", "between 0 and 1"]);
    // Just above one is above one.
    let e = refused(&Request::new("deploy").confidence(1.0 + f64::EPSILON));
    assert_error(&e, "confidence", &["between 0 and 1"]);
}

#[test]
fn confidence_below_zero() {
    let e = refused(&Request::new("deploy").resource("staging").confidence(-0.1));
    assert_error(&e, "confidence", &["-0.1", "between 0 and 1"]);
    let e = refused_json(json!({"action": "deploy", "confidence": -0.1}));
    assert_error(&e, "confidence", &["-0.1", "between 0 and 1"]);
    let e = refused(&Request::new("deploy").confidence(-f64::MIN_POSITIVE));
    assert_error(&e, "confidence", &["between 0 and 1"]);
}

#[test]
fn confidence_nan() {
    // JSON has no NaN; only the Rust API can carry one.
    let e = refused(
        &Request::new("deploy")
            .resource("staging")
            .confidence(f64::NAN),
    );
    assert_error(&e, "confidence", &["NaN", "between 0 and 1"]);
}

#[test]
fn confidence_infinite() {
    for c in [f64::INFINITY, f64::NEG_INFINITY] {
        let e = refused(&Request::new("deploy").resource("staging").confidence(c));
        assert_error(&e, "confidence", &["inf", "between 0 and 1"]);
    }
}

#[test]
fn confidence_null() {
    // null is not a number, and not the same as leaving the field out.
    let e = refused_json(json!({"action": "deploy", "confidence": null}));
    assert_error(
        &e,
        "confidence",
        &["must be a number between 0 and 1", "null"],
    );
}

#[test]
fn confidence_of_another_type() {
    let e = refused_json(json!({"action": "deploy", "confidence": true}));
    assert_error(&e, "confidence", &["must be a number", "the boolean true"]);
    let e = refused_json(json!({"action": "deploy", "confidence": [0.5]}));
    assert_error(&e, "confidence", &["must be a number", "a list"]);
}

// ---------------------------------------------------------------------------------------------
// the request as a whole

#[test]
fn unknown_field_with_did_you_mean() {
    let e = refused_json(json!({"action": "deploy", "confidnce": 0.95}));
    assert_error(
        &e,
        "confidnce",
        &["unknown field", "did you mean `confidence`?"],
    );
    let e = refused_json(json!({"action": "deploy", "resouce": "prod"}));
    assert_error(
        &e,
        "resouce",
        &["unknown field", "did you mean `resource`?"],
    );
}

#[test]
fn unknown_field_without_suggestion_lists_the_fields() {
    let e = refused_json(json!({"action": "deploy", "urgency": "high"}));
    assert_error(
        &e,
        "urgency",
        &[
            "unknown field",
            "action",
            "resource",
            "confidence",
            "context",
        ],
    );
}

#[test]
fn request_that_is_not_an_object() {
    let e = refused_json(json!(["deploy", "staging"]));
    assert_error(&e, "request", &["must be a JSON object", "a list"]);
    let e = refused_json(json!("deploy"));
    assert_error(
        &e,
        "request",
        &["must be a JSON object", "the string \"deploy\""],
    );
}

#[test]
fn bad_requests_are_never_decided() {
    // Built by hand, past from_json, a bad request is still refused by decide.
    let policy = seed();
    for bad in [
        Request::new(""),
        Request::new("deploy").confidence(f64::NAN),
        Request::new("deploy").confidence(1.5),
        Request::new("delete").confidence(-1.0),
    ] {
        assert!(policy.decide(&bad).is_err(), "{bad:?} was decided");
    }
}

// ---------------------------------------------------------------------------------------------
// valid requests and their defaults

#[test]
fn absent_confidence_means_zero() {
    let policy = seed();
    // Rust API: no confidence at all.
    let request = Request::new("deploy").resource("staging");
    assert_eq!(request.confidence, None);
    assert_eq!(request.checked_confidence(), Ok(0.0));
    let d = policy.decide(&request).expect("a valid request");
    assert_eq!(d.outcome(), Outcome::Escalate);
    assert!(!d.approved());
    let approvers: Vec<&str> = d.approvers().iter().map(|p| p.as_str()).collect();
    assert_eq!(approvers, ["user:carol"]);
    assert_eq!(d.hitl_rule(), Some(2)); // everything-else: auto-approve
    assert_eq!(d.escalation_rule(), Some(3)); // lost: [0.0, 0.4] -> escalate

    // JSON: the same request without the field decides the same, and as confidence 0.0.
    let from_json =
        Request::from_json(&json!({"action": "deploy", "resource": "staging"})).expect("valid");
    assert_eq!(from_json.confidence, None);
    let d2 = policy.decide(&from_json).expect("a valid request");
    assert_eq!(d2, d);
    let zero = policy
        .decide(&Request::new("deploy").resource("staging").confidence(0.0))
        .unwrap();
    assert_eq!(zero, d);
}

#[test]
fn absent_resource_is_the_empty_string() {
    assert_eq!(Request::new("read").resource, "");
    let r = Request::from_json(&json!({"action": "read"})).expect("valid");
    assert_eq!(r.resource, "");
    assert_eq!(r.confidence, None);
    assert_eq!(r.context, Value::Null);

    // A glob "" matches only the empty resource: the request without one takes rule 0.
    let policy = Policy::from_yaml_str(
        r#"version: 1
hitl:
  rules:
    - action: read
      resource: ""
      requireApproval: false
    - action: "*"
      requireApproval: true
      approvers: [user:adam]
"#,
        "empty-resource.yaml",
    )
    .unwrap_or_else(|e| panic!("{}", e.render()));
    let d = policy.decide(&r).unwrap();
    assert_eq!(
        (d.outcome(), d.hitl_rule()),
        (Outcome::AutoApprove, Some(0))
    );
    let d = policy
        .decide(&Request::new("read").resource("db/users"))
        .unwrap();
    assert_eq!(
        (d.outcome(), d.hitl_rule()),
        (Outcome::RequestApproval, Some(1))
    );

    // And the seed policy's `resource: "*"` matches the empty resource too.
    let seed = seed();
    let d = seed
        .decide(&Request::new("delete").confidence(0.95))
        .unwrap();
    assert_eq!(d.outcome(), Outcome::RequestApproval);
    assert_eq!(d.hitl_rule(), Some(0));
}

#[test]
fn valid_json_requests() {
    let policy = seed();
    let cases = [
        (
            json!({"action": "deploy", "resource": "staging", "confidence": 0.9}),
            Outcome::AutoApprove,
        ),
        (
            json!({"action": "deploy", "resource": "staging", "confidence": 1}),
            Outcome::AutoApprove,
        ),
        (
            json!({"action": "deploy", "resource": "staging", "confidence": 0}),
            Outcome::Escalate,
        ),
        (
            json!({"action": "deploy", "resource": "staging", "confidence": 0.8999}),
            Outcome::NotifyAndProceed,
        ),
        // context is carried, never matched; id is echoed for batches.
        (
            json!({"action": "deploy", "resource": "staging", "confidence": 0.4, "context": {"pr": 12}, "id": "r1"}),
            Outcome::RequestApproval,
        ),
    ];
    for (value, expected) in cases {
        let request = Request::from_json(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
        let d = policy
            .decide(&request)
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(d.outcome(), expected, "{value}");
    }
    // The boundaries themselves are valid confidences.
    for c in [0.0, 1.0, -0.0] {
        policy
            .decide(&Request::new("deploy").confidence(c))
            .unwrap();
    }
}

#[test]
fn to_json_round_trips() {
    let r = Request::new("deploy")
        .resource("prod")
        .confidence(0.25)
        .context(json!({"k": [1, 2]}));
    assert_eq!(Request::from_json(&r.to_json()), Ok(r));
    let bare = Request::new("deploy");
    assert_eq!(Request::from_json(&bare.to_json()), Ok(bare));
}

#[test]
fn fields_longer_than_the_limit_are_refused_by_every_evaluator() {
    use rekall_policy::compile::Builder;
    use rekall_policy::request::MAX_FIELD_BYTES;
    let policy = seed();
    let compiled = policy.compile();
    for (field, long) in [
        ("action", Request::new("d".repeat(MAX_FIELD_BYTES + 1))),
        (
            "resource",
            Request::new("delete").resource("é".repeat(MAX_FIELD_BYTES / 2 + 1)),
        ),
    ] {
        let e = refused(&long);
        assert_eq!(e.field, field);
        assert!(
            e.message
                .contains("the most a request may give is 4096 bytes"),
            "{e}"
        );
        assert_eq!(compiled.decide(&long).unwrap_err(), e);
        let (action, resource) = (long.action.as_str(), long.resource.as_str());
        assert_eq!(compiled.decide_str(action, resource, None).unwrap_err(), e);
    }
    let at_limit = Request::new("d".repeat(MAX_FIELD_BYTES)).resource("r".repeat(MAX_FIELD_BYTES));
    assert_eq!(
        compiled.decide(&at_limit).unwrap(),
        policy.decide(&at_limit).unwrap()
    );
    // The limit is the deployer's to set.
    let tight = Builder::new(&policy)
        .limits(rekall_policy::Limits { max_field_bytes: 8 })
        .build();
    assert_eq!(
        tight.decide(&Request::new("deploy-x")).unwrap().outcome(),
        Outcome::Escalate
    );
    assert_eq!(
        tight.decide(&Request::new("deploy-xy")).unwrap_err().field,
        "action"
    );
}

#[test]
fn json_text_with_a_field_twice_is_refused_naming_it() {
    for (text, field) in [
        (r#"{"action":"delete","action":"read"}"#, "action"),
        (
            r#"{"action":"read","resource":"a","resource":"b"}"#,
            "resource",
        ),
        (
            r#"{"action":"read","confidence":0.1,"confidence":0.99}"#,
            "confidence",
        ),
        (r#"{"action":"read","context":{"k":1,"k":2}}"#, "context"),
    ] {
        let e = Request::from_json_str(text).unwrap_err();
        assert_eq!(e.field, field, "{text}: {e}");
    }
    let e = Request::from_json_str(r#"{"action":"read"} {"action":"delete"}"#).unwrap_err();
    assert_eq!(e.field, "request");
    assert!(e.message.contains("trailing characters"), "{e}");
}
