//! The fuzz targets' checks on stable Rust: arbitrary bytes, and the seed inputs of the fuzz
//! corpus with random byte edits, fed to the four front ends (YAML policy, DSL policy, JSON
//! request, feedback answer). None may panic, and what each accepts must keep the invariants
//! of `fuzz/src/lib.rs` (included here, so that both check one set of rules).

#[path = "../../fuzz/src/lib.rs"]
mod entry_points;

use proptest::prelude::*;

/// The seed inputs of one fuzz target (`fuzz/corpus/TARGET/seed-*`), sorted by name.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("fuzz/corpus/{target}");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "{dir} has no seed inputs");
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Bytes that tend to matter to the parsers: structure, glob syntax, YAML anchors and aliases,
/// numbers at the edges, a byte-order mark, and invalid UTF-8.
fn token() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 1..4),
        prop::sample::select(vec![
            "*",
            "?",
            "[!a-c]",
            "{a,b}",
            "\\",
            "\"",
            "'",
            ":",
            ": ",
            "\n",
            "\n  - ",
            "#",
            "-",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&a ",
            "*a",
            "!!str ",
            "group:",
            "user:",
            "0.4",
            "0.39999999999999997",
            "1e999",
            "-0",
            "1.0",
            "null",
            "\u{feff}",
            "é",
            "->",
            "on",
            "rule ",
            "when ",
            "confidence in [0.0, 1.0)",
        ])
        .prop_map(|t| t.as_bytes().to_vec()),
        Just(vec![0xff, 0xfe]),
    ]
}

/// One edit of a byte string: insert, delete a run, truncate, overwrite, or copy a slice to
/// elsewhere (which repeats structure, as a careless paste does).
#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    Truncate(prop::sample::Index),
    Overwrite(prop::sample::Index, Vec<u8>),
    Copy(prop::sample::Index, usize, prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        3 => (at(), token()).prop_map(|(i, t)| Edit::Insert(i, t)),
        2 => (at(), 1usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => at().prop_map(Edit::Truncate),
        2 => (at(), token()).prop_map(|(i, t)| Edit::Overwrite(i, t)),
        1 => (at(), 1usize..64, at()).prop_map(|(i, n, j)| Edit::Copy(i, n, j)),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let pos = |i: &prop::sample::Index, len: usize| i.index(len + 1);
        let len = bytes.len();
        match e {
            Edit::Insert(i, t) => {
                let i = pos(i, len);
                bytes.splice(i..i, t.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = pos(i, len);
                bytes.drain(i..(i + n).min(len));
            }
            Edit::Truncate(i) => bytes.truncate(pos(i, len)),
            Edit::Overwrite(i, t) => {
                let i = pos(i, len);
                let end = (i + t.len()).min(len);
                bytes.splice(i..end, t.iter().copied());
            }
            Edit::Copy(i, n, j) => {
                let i = pos(i, len);
                let slice = bytes[i..(i + n).min(len)].to_vec();
                let j = pos(j, len);
                bytes.splice(j..j, slice);
            }
        }
    }
    bytes
}

/// A seed input of `target` with a few random edits.
fn near_valid(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let all = seeds(target);
    (
        prop::sample::select(all),
        prop::collection::vec(edit(), 1..5),
    )
        .prop_map(|(seed, edits)| apply(seed, &edits))
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..256)
}

proptest! {
    // Policies are compiled, linted, decided and printed twice per case: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn yaml_policy_arbitrary_bytes(data in bytes()) {
        entry_points::yaml_policy(&data);
    }

    #[test]
    fn yaml_policy_edited_seeds(data in near_valid("yaml_policy")) {
        entry_points::yaml_policy(&data);
    }

    #[test]
    fn dsl_policy_arbitrary_bytes(data in bytes()) {
        entry_points::dsl_policy(&data);
    }

    #[test]
    fn dsl_policy_edited_seeds(data in near_valid("dsl_policy")) {
        entry_points::dsl_policy(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_request_arbitrary_bytes(data in bytes()) {
        entry_points::json_request(&data);
    }

    #[test]
    fn json_request_edited_seeds(data in near_valid("json_request")) {
        entry_points::json_request(&data);
    }

    #[test]
    fn feedback_answer_arbitrary_bytes(data in bytes()) {
        entry_points::feedback_answer(&data);
    }

    #[test]
    fn feedback_answer_edited_seeds(data in near_valid("feedback_answer")) {
        entry_points::feedback_answer(&data);
    }
}

/// The checks themselves: they run on the seeds, reach the band edges, and know a wrong
/// answer from a right one, so that a property that passes says something.
mod checks {
    use super::entry_points;
    use rekall_policy::Policy;

    #[test]
    fn every_seed_passes_its_target() {
        for (target, run) in [
            ("yaml_policy", entry_points::yaml_policy as fn(&[u8])),
            ("dsl_policy", entry_points::dsl_policy),
            ("json_request", entry_points::json_request),
            ("feedback_answer", entry_points::feedback_answer),
        ] {
            for seed in super::seeds(target) {
                run(&seed);
            }
        }
    }

    /// Every reproducer in `fuzz/regressions/TARGET/` passes its target. Ignored while the
    /// findings listed in the README's Fuzzing section stay fixed.
    #[test]
    fn every_fuzz_finding_is_fixed() {
        let mut failing = Vec::new();
        for (target, run) in [
            ("yaml_policy", entry_points::yaml_policy as fn(&[u8])),
            ("dsl_policy", entry_points::dsl_policy),
            ("json_request", entry_points::json_request),
            ("feedback_answer", entry_points::feedback_answer),
        ] {
            let Ok(dir) = std::fs::read_dir(format!("fuzz/regressions/{target}")) else {
                continue;
            };
            for path in dir.map(|e| e.unwrap().path()) {
                let data = std::fs::read(&path).unwrap();
                if std::panic::catch_unwind(|| run(&data)).is_err() {
                    failing.push(path.display().to_string());
                }
            }
        }
        assert!(failing.is_empty(), "still failing: {failing:#?}");
    }

    #[test]
    fn decisions_are_compared_at_and_next_to_every_band_edge() {
        let policy = Policy::from_path("policies/seed.yaml").unwrap();
        let (actions, resources, confidences) = entry_points::probes(&policy);
        for c in [0.4, 0.39999999999999997, 0.4000000000000001, 0.9, 1.0] {
            assert!(
                confidences.contains(&Some(c)),
                "{c} is not probed: {confidences:?}"
            );
        }
        assert!(actions.iter().any(|a| a == "delete"), "{actions:?}");
        assert!(resources.iter().any(|r| r == "production"), "{resources:?}");
    }

    #[test]
    fn the_answer_model_names_every_wrong_field() {
        let form = entry_points::form();
        let good = rekall_policy::json::parse_object(
            r#"{"score":3.0,"verdict":"ship","tags":["bug"],"comment":null}"#,
        )
        .unwrap();
        assert!(entry_points::model_refusals(form, &good).is_empty());
        assert!(form.validate(&good).is_ok());
        let bad = rekall_policy::json::parse_object(
            r#"{"score":3.5,"verdict":"ship","tags":["bug","bug"],"patch":1,"x":1}"#,
        )
        .unwrap();
        let refused: Vec<String> = entry_points::model_refusals(form, &bad)
            .into_iter()
            .collect();
        assert_eq!(refused, ["patch", "score", "tags", "x"]);
        assert_eq!(form.validate(&bad).unwrap_err().len(), 4);
    }

    #[test]
    fn the_strict_reader_is_compared_with_serde_json() {
        let err = entry_points::strict_matches_serde_json(r#"{"a":1,"a":2}"#).unwrap_err();
        assert_eq!(err.duplicate_key(), Some("a"));
        let value = entry_points::strict_matches_serde_json(r#"{"c":0.9999999999999999}"#).unwrap();
        assert_eq!(value["c"].as_f64(), Some(0.9999999999999999));
    }
}
