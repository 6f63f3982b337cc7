//! `rekall-policy bench --adversarial`: the worst-case table's rows and checks, on a small
//! run (no time is asserted; only that every row is there, checked and within its bound).

use std::process::Command;

#[test]
fn the_worst_case_table_has_a_row_per_shape_and_size() {
    let out = Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args([
            "bench",
            "--adversarial",
            "--sizes",
            "20,60",
            "--requests",
            "5",
            "--varied",
            "8",
            "--rounds",
            "1",
            "--format",
            "json",
        ])
        .output()
        .expect("the binary runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    let rows = json["adversarial"].as_array().expect("rows");
    let shapes: Vec<(&str, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["shape"].as_str().unwrap_or(""),
                r["rules"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut want = Vec::new();
    for shape in ["star-literal", "classes", "braces", "mixed"] {
        for n in [20, 60] {
            want.push((shape, n));
        }
    }
    assert_eq!(shapes, want);
    for r in rows {
        assert_eq!(r["mismatches"], 0, "{r}");
        assert_eq!(r["varied"], 8, "{r}");
        for key in ["repeatedNs", "variedNs", "variedMaxNs", "referenceNs"] {
            assert!(r[key].as_f64().is_some_and(|ns| ns > 0.0), "{key} in {r}");
        }
        let (work, bound) = (r["workMax"].as_u64(), r["workBound"].as_u64());
        assert!(work.zip(bound).is_some_and(|(w, b)| w > 0 && w <= b), "{r}");
    }
}

#[test]
fn adversarial_takes_no_policy_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_rekall-policy"))
        .args(["bench", "policies/seed.yaml", "--adversarial"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
}
