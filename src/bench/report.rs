//! The table, the targets and the JSON form of a run of [`super::first_match`] or
//! [`super::policy_file`].

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Row, machine};

/// The most the compiled policy may cost against the floor, on either workload.
const RATIO: f64 = 2.0;
/// The sizes up to which the ratio is held on the repeated workload.
const RATIO_SIZES: usize = 10_000;
/// Text to compiled policy, at the largest size, in milliseconds.
const FROM_TEXT_MS: f64 = 50.0;
/// The compiled policy's memory at the largest size, in MiB.
const MEMORY_MIB: f64 = 16.0;

/// One target: what is promised, what was measured, and whether it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub met: bool,
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The targets the rows are held to, per stage set (or for the file).
pub fn targets(rows: &[Row]) -> Vec<Target> {
    let mut groups: Vec<&str> = Vec::new();
    for r in rows {
        let name = r.stages.map_or("policy", |s| s.name());
        if !groups.contains(&name) {
            groups.push(name);
        }
    }
    let mut out = Vec::new();
    for group in groups {
        let rows: Vec<&Row> = rows
            .iter()
            .filter(|r| r.stages.map_or("policy", |s| s.name()) == group)
            .collect();
        let worst = |ratios: &mut dyn Iterator<Item = (f64, usize)>| {
            ratios.fold(None, |w: Option<(f64, usize)>, (ratio, size)| match w {
                Some((r, _)) if r >= ratio => w,
                _ => Some((ratio, size)),
            })
        };
        let repeated = worst(
            &mut rows
                .iter()
                .filter(|r| r.size <= RATIO_SIZES)
                .map(|r| (r.ratio(), r.size)),
        );
        if let Some((ratio, size)) = repeated {
            out.push(Target {
                what: format!(
                    "{group}: compiled <= {RATIO}x floor at every size up to {RATIO_SIZES}, repeated requests"
                ),
                measured: format!("worst {ratio:.2}x at {size}"),
                met: ratio <= RATIO,
            });
        }
        let varied = worst(
            &mut rows
                .iter()
                .filter_map(|r| Some((r.varied.as_ref()?.ratio(), r.size))),
        );
        let distinct = rows
            .iter()
            .filter_map(|r| r.varied.as_ref().map(|v| v.requests))
            .max()
            .unwrap_or(0);
        if let Some((ratio, size)) = varied {
            out.push(Target {
                what: format!(
                    "{group}: compiled <= {RATIO}x floor at every size, {distinct} distinct requests"
                ),
                measured: format!("worst {ratio:.2}x at {size}"),
                met: ratio <= RATIO,
            });
        }
        let Some(largest) = rows.iter().copied().max_by_key(|r| r.size) else {
            continue;
        };
        for (language, took) in [("YAML", largest.from_yaml), ("DSL", largest.from_dsl)] {
            out.push(Target {
                what: format!(
                    "{group}: {language} text to compiled policy < {FROM_TEXT_MS} ms at {} rules",
                    largest.size
                ),
                measured: format!("{:.1} ms", ms(took)),
                met: ms(took) < FROM_TEXT_MS,
            });
        }
        let memory = mib(largest.memory.total());
        out.push(Target {
            what: format!(
                "{group}: compiled policy < {MEMORY_MIB} MiB at {} rules",
                largest.size
            ),
            measured: format!("{memory:.2} MiB"),
            met: memory < MEMORY_MIB,
        });
    }
    out
}

/// The table, a line of detail per row, and the targets.
pub fn text(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "machine: {}", machine());
    let _ = writeln!(
        out,
        "ns per decision; floor = precomputed answers found by a std HashMap (SipHash) lookup of action and resource and the band, returned by reference"
    );
    out.push('\n');
    let width = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let _ = writeln!(
        out,
        "{:<width$} {:>6} {:>11} {:>9} {:>7} {:>7} | {:>9} {:>8} {:>7} | {:>7} {:>7} {:>7} {:>9}",
        "policy",
        "rules",
        "reference",
        "compiled",
        "floor",
        "ratio",
        "varied c.",
        "v. floor",
        "v. ratio",
        "compile",
        "yaml",
        "dsl",
        "memory"
    );
    for r in rows {
        let (vc, vf, vr) = match &r.varied {
            Some(v) => (
                format!("{:.0}", v.compiled_ns),
                format!("{:.0}", v.floor_ns),
                format!("{:.2}x", v.ratio()),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{:<width$} {:>6} {:>11.0} {:>9.0} {:>7.0} {:>6.2}x | {:>9} {:>8} {:>8} | {:>4.1} ms {:>4.1} ms {:>4.1} ms {:>5.2} MiB",
            r.label,
            r.rules,
            r.reference_ns,
            r.compiled_ns,
            r.floor_ns,
            r.ratio(),
            vc,
            vf,
            vr,
            ms(r.compile),
            ms(r.from_yaml),
            ms(r.from_dsl),
            mib(r.memory.total()),
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "compile = validated policy to compiled; yaml, dsl = text to compiled policy (parse, validate, compile)"
    );
    for r in rows {
        let m = &r.memory;
        let _ = write!(out, "{}: {} requests", r.label, r.requests);
        if let Some(share) = r.hit_share {
            let _ = write!(
                out,
                " ({:.1}% hit a rule other than the catch-all)",
                share * 100.0
            );
        }
        if r.reference_timed < r.requests {
            let _ = write!(out, "; reference timed on the first {}", r.reference_timed);
        }
        if let Some(v) = &r.varied {
            let _ = write!(
                out,
                "; varied: {} distinct requests, reference {:.0} ns on the first {}",
                v.requests, v.reference_ns, v.reference_timed
            );
        }
        let _ = writeln!(
            out,
            "; memory {:.2} MiB = index {:.2} + automata {:.2} + DFA caches {:.2} + verdicts {:.2}; {} decisions checked against the reference, {} mismatches",
            mib(m.total()),
            mib(m.index),
            mib(m.automata),
            mib(m.caches),
            mib(m.verdicts),
            r.checked,
            r.mismatches
        );
    }
    out.push('\n');
    let _ = writeln!(out, "targets (compiled against the floor):");
    for t in targets(rows) {
        let _ = writeln!(
            out,
            "  {}: {}: {}",
            t.what,
            t.measured,
            if t.met { "met" } else { "MISSED" }
        );
    }
    out
}

/// The JSON form: the machine, the rows and the targets.
pub fn json(rows: &[Row]) -> Value {
    let targets: Vec<_> = targets(rows)
        .into_iter()
        .map(|t| json!({"target": t.what, "measured": t.measured, "met": t.met}))
        .collect();
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "policy": r.label,
                "stages": r.stages.map(|s| s.name()),
                "size": r.size,
                "rules": r.rules,
                "requests": r.requests,
                "hitShare": r.hit_share,
                "referenceNs": r.reference_ns,
                "referenceTimed": r.reference_timed,
                "compiledNs": r.compiled_ns,
                "floorNs": r.floor_ns,
                "ratio": r.ratio(),
                "varied": r.varied.as_ref().map(|v| json!({
                    "requests": v.requests,
                    "compiledNs": v.compiled_ns,
                    "floorNs": v.floor_ns,
                    "ratio": v.ratio(),
                    "referenceNs": v.reference_ns,
                    "referenceTimed": v.reference_timed,
                })),
                "compileMs": ms(r.compile),
                "fromYamlMs": ms(r.from_yaml),
                "fromDslMs": ms(r.from_dsl),
                "memory": {
                    "total": r.memory.total(),
                    "index": r.memory.index,
                    "automata": r.memory.automata,
                    "caches": r.memory.caches,
                    "verdicts": r.memory.verdicts,
                },
                "checked": r.checked,
                "mismatches": r.mismatches,
            })
        })
        .collect();
    json!({ "machine": machine(), "rows": rows, "targets": targets })
}
