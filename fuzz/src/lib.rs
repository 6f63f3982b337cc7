//! The four front ends of rekall-policy, driven with arbitrary bytes, and the invariants every
//! input must keep. The fuzz targets (`fuzz_targets/*.rs`) call these, and so does the
//! stable-Rust property test `tests/arbitrary_bytes.rs`, so both check one set of rules.
//!
//! A front end may refuse any input, with a located error; it may never panic, and what it
//! accepts must behave: a policy prints to text that parses back to the same IR, the compiled
//! policy decides as the reference evaluator does, a request or a form answer reads back as
//! itself, and the strict JSON reader sees the same document as serde_json's own.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use rekall_policy::front::{self, Language};
use rekall_policy::json;
use rekall_policy::lint;
use rekall_policy::model::{Field, FieldKind, FieldProblem, Form};
use rekall_policy::{Policy, Request, print};
use serde_json::{Map, Value};

/// The name policies are parsed under, which every rendered error must carry.
const ORIGIN: &str = "fuzzed";

/// At most this many actions, resources and confidences are tried on a policy that parses, so
/// that one input costs a bounded number of decisions; enough confidences for the edges of
/// eight distinct band boundaries with their neighbours.
const MAX_PROBES: usize = 6;
const MAX_CONFIDENCES: usize = 28;

/// Bytes as the CLI would hand them to a front end: invalid UTF-8 replaced, so that every input
/// reaches the parser instead of being thrown away.
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A YAML policy file.
pub fn yaml_policy(data: &[u8]) {
    policy_text(Language::Yaml, &text(data));
}

/// A DSL (`.rkl`) policy file.
pub fn dsl_policy(data: &[u8]) {
    let text = text(data);
    dsl_parsers_agree(&text);
    policy_text(Language::Dsl, &text);
}

/// The hand-written DSL parser accepts exactly what the pest grammar accepts, and reads it
/// into the same IR, spans and diagnostics.
fn dsl_parsers_agree(text: &str) {
    let grammar = front::dsl::parse_by_grammar(text);
    match front::dsl::parse_fast(text) {
        None => assert!(
            grammar.doc.is_none(),
            "the grammar accepts what the hand-written parser refuses"
        ),
        Some(fast) => {
            assert!(
                grammar.doc.is_some(),
                "the hand-written parser accepts what the grammar refuses: {:?}",
                grammar.diagnostics
            );
            assert_eq!(format!("{fast:?}"), format!("{grammar:?}"));
        }
    }
}

fn policy_text(language: Language, text: &str) {
    let parsed = front::parse(language, text);
    assert!(
        parsed.doc.is_some() || !parsed.diagnostics.is_empty(),
        "the front end gave neither a document nor a diagnostic"
    );
    let front_end_clean = parsed.diagnostics.is_empty();
    match Policy::from_str_in(language, text, ORIGIN) {
        Err(e) => {
            assert!(
                !e.diagnostics.is_empty(),
                "a refused policy names no problem"
            );
            let rendered = e.render();
            assert!(
                rendered.contains(&format!("{ORIGIN}:")),
                "an error does not say where it is:\n{rendered}"
            );
        }
        Ok(policy) => {
            assert!(
                front_end_clean,
                "a policy was accepted although its front end reported {:?}",
                parsed.diagnostics
            );
            decisions_agree(&policy);
            let _ = lint::lint(&policy);
            for to in [Language::Yaml, Language::Dsl] {
                prints_back(&policy, to);
            }
        }
    }
}

/// The compiled policy decides every probe as the reference evaluator does, refusals included.
fn decisions_agree(policy: &Policy) {
    let compiled = policy.compile();
    let (actions, resources, confidences) = probes(policy);
    for action in &actions {
        for resource in &resources {
            for confidence in &confidences {
                let mut request = Request::new(action.as_str()).resource(resource.as_str());
                request.confidence = *confidence;
                let reference = policy.decide(&request).map(|d| d.into_owned());
                let fast = compiled.decide(&request).map(|d| d.into_owned());
                assert_eq!(
                    fast, reference,
                    "compiled and reference differ on {request:?}"
                );
            }
        }
    }
}

/// Requests worth asking a policy: the literals its rules name (so that rules match), their
/// glob texts (so that wildcards meet themselves), a few fixed strings, and the confidences at
/// and next to every band edge.
pub fn probes(policy: &Policy) -> (Vec<String>, Vec<String>, Vec<Option<f64>>) {
    let doc = policy.doc();
    let mut actions = vec!["deploy".to_owned(), "é".to_owned(), String::new()];
    let mut resources = vec![String::new(), "production".to_owned()];
    let mut confidences = vec![None, Some(0.0), Some(1.0), Some(f64::NAN)];
    let mut globs = |action: &rekall_policy::glob::Glob, resource: &rekall_policy::glob::Glob| {
        for (glob, into) in [(action, &mut actions), (resource, &mut resources)] {
            into.extend(glob.as_literal());
            into.push(glob.as_str().to_owned());
        }
    };
    for rule in doc.hitl.iter().flat_map(|s| &s.rules) {
        globs(&rule.action.node, &rule.resource_glob());
    }
    for rule in doc.escalation.iter().flat_map(|s| &s.rules) {
        globs(&rule.action_glob(), &rule.resource_glob());
        let (lo, hi) = rule.band();
        for edge in [lo, hi] {
            confidences.extend([Some(edge), Some(next_down(edge)), Some(next_up(edge))]);
        }
    }
    for list in [&mut actions, &mut resources] {
        dedup_in_order(list);
        list.truncate(MAX_PROBES);
    }
    let mut seen = BTreeSet::new();
    confidences.retain(|c| seen.insert(c.map(f64::to_bits)));
    confidences.truncate(MAX_CONFIDENCES);
    (actions, resources, confidences)
}

fn dedup_in_order(list: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    list.retain(|s| seen.insert(s.clone()));
}

/// The next double above a finite, non-negative `x` (band edges are in [0, 1]).
fn next_up(x: f64) -> f64 {
    if x.is_finite() && x >= 0.0 {
        f64::from_bits(x.to_bits() + 1)
    } else {
        x
    }
}

/// The next double below a finite, positive `x`.
fn next_down(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        f64::from_bits(x.to_bits() - 1)
    } else {
        x
    }
}

/// The canonical text parses back to the same IR, and printing that again changes nothing.
fn prints_back(policy: &Policy, to: Language) {
    let printed = print::print(policy.doc(), to);
    let again = Policy::from_str_in(to, &printed, "printed").unwrap_or_else(|e| {
        panic!(
            "the printed {to:?} does not parse:\n{}\n---\n{printed}",
            e.render()
        )
    });
    assert_eq!(
        again.doc(),
        policy.doc(),
        "the printed {to:?} reads as another policy:\n{printed}"
    );
    let reprinted = print::print(again.doc(), to);
    assert_eq!(reprinted, printed, "printing the {to:?} is not idempotent");
}

/// The bundled policies, parsed once: a request is decided against each of them.
fn bundled_policies() -> &'static [Policy] {
    static POLICIES: OnceLock<Vec<Policy>> = OnceLock::new();
    POLICIES.get_or_init(|| {
        [
            include_str!("../../policies/seed.yaml"),
            include_str!("../../policies/code-review.yaml"),
            include_str!("../../policies/customer-support.yaml"),
            include_str!("../../policies/data-platform.yaml"),
        ]
        .into_iter()
        .map(|text| Policy::from_yaml_str(text, "bundled").expect("a bundled policy is valid"))
        .collect()
    })
}

/// A JSON request body, as `eval --input` and the HTTP API read it.
pub fn json_request(data: &[u8]) {
    let text = text(data);
    let strict = strict_matches_serde_json(&text);
    match Request::from_json_str(&text) {
        Err(e) => {
            assert!(
                !e.field.is_empty() && !e.message.is_empty(),
                "a refusal that names nothing: {e:?}"
            );
            if let Err(je) = &strict
                && let (Some(key), []) = (je.duplicate_key(), je.duplicate_within())
            {
                // The empty key names no field: the request as a whole is.
                let named = if key.is_empty() { "request" } else { key };
                assert_eq!(e.field, named, "a duplicated field is not named");
            }
        }
        Ok(request) => {
            assert!(
                strict.is_ok(),
                "a request was read from text that is not JSON"
            );
            if let Some(c) = request.confidence {
                assert!((0.0..=1.0).contains(&c), "confidence {c} was accepted");
            }
            let written = request.to_json().to_string();
            assert_eq!(
                Request::from_json_str(&written).as_ref(),
                Ok(&request),
                "the request does not read back from {written}"
            );
            for policy in bundled_policies() {
                let reference = policy.decide(&request).map(|d| d.into_owned());
                let fast = policy.compile().decide(&request).map(|d| d.into_owned());
                assert_eq!(
                    fast, reference,
                    "compiled and reference differ on {request:?}"
                );
            }
        }
    }
}

/// The strict reader and serde_json's own see one document: the same value when both read
/// the text, and a strict refusal of text serde_json reads only for a duplicated key.
pub fn strict_matches_serde_json(text: &str) -> Result<Value, json::JsonError> {
    let strict = json::parse(text);
    let plain = serde_json::from_str::<Value>(text);
    match (&strict, &plain) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the strict reader sees another document"),
        (Ok(_), Err(e)) => panic!("the strict reader accepts text serde_json refuses: {e}"),
        (Err(e), Ok(_)) => assert!(
            e.duplicate_key().is_some(),
            "the strict reader refuses JSON without a duplicated key: {e}"
        ),
        (Err(_), Err(_)) => {}
    }
    strict
}

/// A form with one field of each kind; the text and code fields are optional.
pub fn form() -> &'static Form {
    static FORM: OnceLock<Form> = OnceLock::new();
    FORM.get_or_init(|| {
        let form = Form::new(vec![
            Field::rating("score", "Score", 1, 5),
            Field::select("verdict", "Verdict", &["ship", "hold"]),
            Field::multiselect("tags", "Tags", &["bug", "style", "perf"]),
            Field::text("comment", "Comment").optional(),
            Field::code("patch", "Patch", Some("rust")).optional(),
        ]);
        form.check().expect("the form is valid");
        form
    })
}

/// A feedback answer body: a JSON object checked against [`form`].
pub fn feedback_answer(data: &[u8]) {
    let text = text(data);
    let Ok(answers) = json::parse_object(&text) else {
        return;
    };
    let form = form();
    let expected = model_refusals(form, &answers);
    match form.validate(&answers) {
        Ok(()) => assert!(
            expected.is_empty(),
            "answers accepted although {expected:?} are wrong: {answers:?}"
        ),
        Err(errors) => {
            let refused: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            let distinct: BTreeSet<&str> = refused.iter().copied().collect();
            assert_eq!(
                distinct.len(),
                refused.len(),
                "a field refused twice: {errors:?}"
            );
            assert_eq!(
                distinct,
                expected.iter().map(String::as_str).collect(),
                "refused other fields than the model: {errors:?} for {answers:?}"
            );
            for e in &errors {
                assert!(!e.problem.to_string().is_empty());
                if let FieldProblem::UnknownField { .. } = e.problem {
                    assert!(!form.fields.iter().any(|f| f.name == e.field));
                }
            }
        }
    }
    let written = Value::Object(answers.clone()).to_string();
    assert_eq!(
        json::parse_object(&written).as_ref(),
        Ok(&answers),
        "the answers do not read back from {written}"
    );
}

/// The fields (and unknown keys) a plain reading of the form says are wrongly answered.
pub fn model_refusals(form: &Form, answers: &Map<String, Value>) -> BTreeSet<String> {
    let mut wrong: BTreeSet<String> = answers
        .keys()
        .filter(|k| !form.fields.iter().any(|f| &f.name == *k))
        .cloned()
        .collect();
    for field in &form.fields {
        let ok = match answers.get(&field.name) {
            None | Some(Value::Null) => !field.required,
            Some(value) => model_accepts(&field.kind, value),
        };
        if !ok {
            wrong.insert(field.name.clone());
        }
    }
    wrong
}

fn model_accepts(kind: &FieldKind, value: &Value) -> bool {
    match kind {
        FieldKind::Rating { min, max } => value
            .as_f64()
            .is_some_and(|f| f.fract() == 0.0 && (*min as f64) <= f && f <= (*max as f64)),
        FieldKind::Select { options } => value
            .as_str()
            .is_some_and(|s| options.iter().any(|o| o == s)),
        FieldKind::Multiselect { options } => value.as_array().is_some_and(|items| {
            let mut seen = BTreeSet::new();
            items.iter().all(|item| {
                item.as_str()
                    .is_some_and(|s| options.iter().any(|o| o == s) && seen.insert(s))
            })
        }),
        FieldKind::Text | FieldKind::Code { .. } => value.is_string(),
    }
}
