//! Bad input never panics: arbitrary text, and the example policies with random edits, either
//! parse or come back as located errors, in both languages, and whatever parses can be decided,
//! explained, linted and printed.

use proptest::prelude::*;
use rekall_policy::front::Language;
use rekall_policy::lint;
use rekall_policy::{Policy, Request};

fn examples() -> Vec<(Language, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("policies").unwrap() {
        let path = entry.unwrap().path();
        let name = path.to_string_lossy().into_owned();
        let language = if name.ends_with(".rkl") {
            Language::Dsl
        } else if name.ends_with(".yaml") && !name.ends_with(".test.yaml") {
            Language::Yaml
        } else {
            continue;
        };
        out.push((language, std::fs::read_to_string(&path).unwrap()));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Everything a user can do with a policy text must end in a result, not a panic.
fn exercise(language: Language, text: &str) {
    match Policy::from_str_in(language, text, "fuzzed") {
        Ok(policy) => {
            for (action, resource, confidence) in [
                ("deploy", "production", 0.5),
                ("x", "", 1.0),
                ("é", "db/a", 0.0),
            ] {
                let request = Request::new(action)
                    .resource(resource)
                    .confidence(confidence);
                let reference = policy.decide(&request).unwrap();
                assert_eq!(policy.compile().decide(&request).unwrap(), reference);
                let _ = reference.reason();
                let _ = rekall_policy::eval::explain::explain(&policy, &request);
            }
            let _ = lint::lint(&policy);
            for to in [Language::Yaml, Language::Dsl] {
                let printed = rekall_policy::print::print(policy.doc(), to);
                let again = Policy::from_str_in(to, &printed, "printed")
                    .unwrap_or_else(|e| panic!("{}\n{printed}", e.render()));
                assert_eq!(again.doc(), policy.doc());
            }
        }
        Err(e) => {
            assert!(!e.diagnostics.is_empty());
            let rendered = e.render();
            assert!(rendered.contains("fuzzed:"), "{rendered}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_is_refused_or_accepted_without_panicking(text in "\\PC{0,200}", dsl in any::<bool>()) {
        exercise(if dsl { Language::Dsl } else { Language::Yaml }, &text);
    }

    #[test]
    fn edited_example_policies_never_panic(
        which in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, "[ -~\\n\\t]{0,3}|é|\"|\\[|\\{|-|:|#"), 1..4),
    ) {
        let all = examples();
        let (language, original) = &all[which % all.len()];
        let mut text: Vec<char> = original.chars().collect();
        for (at, kind, insert) in edits {
            let i = at.index(text.len().max(1)).min(text.len());
            match kind {
                0 => { text.splice(i..i, insert.chars()); }
                1 => { if i < text.len() { text.remove(i); } }
                2 => { text.truncate(i); }
                _ => { if i < text.len() { text[i] = insert.chars().next().unwrap_or(' '); } }
            }
        }
        exercise(*language, &text.into_iter().collect::<String>());
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|i| json!(i)),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("action".to_owned()),
                    Just("resource".to_owned()),
                    Just("confidence".to_owned()),
                    Just("context".to_owned()),
                    Just("id".to_owned()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_json_request_is_decided_or_refused_naming_a_field(value in json_value()) {
        let policy = Policy::from_path("policies/seed.yaml").unwrap();
        match Request::from_json(&value) {
            Ok(request) => {
                let decided = policy.decide(&request);
                prop_assert_eq!(decided.clone().map(|d| d.into_owned()), policy.compile().decide(&request).map(|d| d.into_owned()));
            }
            Err(e) => prop_assert!(!e.field.is_empty() && !e.message.is_empty()),
        }
    }
}
