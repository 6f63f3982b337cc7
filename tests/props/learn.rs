//! The learning loop over random label streams: thresholds never leave their declared limits,
//! nothing is lowered before `minLabels` labels, `propose` never moves the threshold by
//! itself, and every lowering is one the exact bound certifies.

use proptest::prelude::*;
use rekall_policy::learn::binomial;
use rekall_policy::learn::{Label, Learner, Mode, Move, Observation, Settings};

fn settings() -> impl Strategy<Value = Settings> {
    (
        0.0f64..0.9,
        0.05f64..0.5,
        prop_oneof![Just(0.01), Just(0.05), Just(0.1)],
        1u64..300,
        0.0f64..0.3,
        prop_oneof![Just(Mode::Auto), Just(Mode::Propose)],
        (0.01f64..0.3, 0.01f64..0.3),
    )
        .prop_map(
            |(floor, width, step, min_labels, audit_rate, mode, (alpha, delta))| Settings {
                alpha,
                delta,
                floor,
                ceiling: (floor + width).min(1.0),
                step,
                min_labels,
                audit_rate,
                window: min_labels.max(50) * 4,
                mode,
                per_agent: false,
            },
        )
}

/// A label stream: confidences, outcomes whose chance of being bad is `bad_rate` at every
/// confidence (so that every threshold has the same true rate), and reports.
fn stream() -> impl Strategy<Value = (f64, Vec<(f64, f64, f64, f64)>)> {
    (
        0.0f64..0.3,
        prop::collection::vec(
            (0.0f64..=1.0, 0.0f64..1.0, 0.0f64..1.0, 0.0f64..1.0),
            0..3_000,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn thresholds_stay_within_their_limits_and_lower_only_when_certified(
        s in settings(),
        start in 0.0f64..=1.0,
        (bad_rate, calls) in stream(),
    ) {
        prop_assert!(s.check().is_ok(), "{s:?}");
        let mut l = Learner::new(s.clone(), start);
        let mut labels = 0u64;
        for (confidence, audit, outcome, report) in calls {
            let route = l.route(confidence, audit);
            let bad = outcome < bad_rate;
            let label = match route {
                rekall_policy::learn::Route::Auto => (bad && report < 0.5).then_some(Label::Bad),
                _ => Some(if bad { Label::Bad } else { Label::Good }),
            };
            if route != rekall_policy::learn::Route::Auto {
                labels += 1;
            }
            let before = l.threshold();
            let m = l.record(Observation { confidence, route, label });
            let t = l.threshold();
            prop_assert!(t >= s.floor && t <= s.ceiling, "{t} outside [{}, {}]", s.floor, s.ceiling);
            if let Some(p) = l.proposal() {
                prop_assert!(p >= s.floor && p <= s.ceiling);
            }
            match m {
                Some(Move::Lower { from, to, proposal }) => {
                    prop_assert!(labels >= s.min_labels, "lowered after {labels} labels");
                    prop_assert!(to < from);
                    prop_assert_eq!(proposal, s.mode == Mode::Propose);
                    if proposal {
                        prop_assert_eq!(t, before, "a proposal changes nothing by itself");
                    }
                    // The region of the new threshold is certified by the exact bound,
                    // computed here independently of the learner's shortcut.
                    let a = l.last_test().expect("a lowering is a checkpoint's test");
                    let test = a.tests.iter().find(|x| x.threshold == to).unwrap();
                    let upper = binomial::upper_bound(
                        test.region.sample_bad,
                        test.region.sample,
                        l.test_delta(),
                    );
                    prop_assert!(upper <= s.alpha, "{upper} > {}", s.alpha);
                }
                Some(Move::Rise { from, to }) | Some(Move::Shift { from, to, .. }) => {
                    prop_assert!(to >= from, "a rise from {from} to {to}");
                }
                None => prop_assert!(
                    t == before || s.mode == Mode::Auto && t < before,
                    "the threshold moved from {before} to {t} without a move"
                ),
            }
            if s.mode == Mode::Propose {
                prop_assert!(t >= before, "propose mode lowered {before} to {t} by itself");
            }
        }
    }
}

/// One call of a late-label stream: its confidence, whether it was auto-approved, the label
/// it gets (if any) and how many calls later, and a second label that replaces the first.
type LateCall = (f64, bool, Option<(bool, usize)>, Option<bool>);

fn late_calls() -> impl Strategy<Value = Vec<LateCall>> {
    prop::collection::vec(
        (
            0.0f64..=1.0,
            prop::bool::weighted(0.3),
            prop::option::weighted(0.8, (any::<bool>(), 0usize..20)),
            prop::option::weighted(0.1, any::<bool>()),
        ),
        0..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Labels given after other calls came in, in any order, and labels that replace earlier
    /// ones, leave the evidence counted as a direct tally of the final labels says, cell by
    /// cell, and the proportional sample takes the labels given last.
    #[test]
    fn late_and_replaced_labels_are_counted_as_a_direct_tally_says(calls in late_calls()) {
        use rekall_policy::learn::{Evidence, Route};
        let s = Settings { floor: 0.5, ceiling: 1.0, step: 0.1, window: 100_000, min_labels: 1, ..Settings::default() };
        let mut e = Evidence::new(&s);
        // Every label event, by the call count at which it is given.
        let mut due: Vec<(usize, u64, Label)> = Vec::new();
        for (i, &(c, auto, label, again)) in calls.iter().enumerate() {
            let route = if auto { Route::Auto } else { Route::Human };
            e.add_keyed(i as u64 * 3 + 1, Observation { confidence: c, route, label: None });
            if let Some((bad, later)) = label {
                let l = if bad { Label::Bad } else { Label::Good };
                due.push((i + later, i as u64 * 3 + 1, l));
                if let Some(bad) = again {
                    let l = if bad { Label::Bad } else { Label::Good };
                    due.push((i + later + 1, i as u64 * 3 + 1, l));
                }
            }
            let (now, rest): (Vec<_>, Vec<_>) = due.iter().partition(|d| d.0 <= i);
            due = rest;
            for (_, key, l) in now {
                e.label(key, l);
            }
        }
        for (_, key, l) in due.clone() {
            e.label(key, l);
        }
        // The tally: per cell, calls, reported bad outcomes, and the labels in the order of
        // their first giving, each with its last value.
        let cells = e.cells().len();
        let mut tally_calls = vec![0u64; cells];
        let mut reported = vec![0u64; cells];
        let mut order: Vec<Vec<u64>> = vec![Vec::new(); cells];
        let mut value = std::collections::HashMap::new();
        let mut cell_of = std::collections::HashMap::new();
        for (i, &(c, _, _, _)) in calls.iter().enumerate() {
            let cell = e.cell_of(c);
            tally_calls[cell] += 1;
            cell_of.insert(i as u64 * 3 + 1, (cell, calls[i].1));
        }
        // Replay the label events in the order they were given.
        let mut events: Vec<(usize, usize, u64, Label)> = Vec::new();
        for (i, &(_, _, label, again)) in calls.iter().enumerate() {
            if let Some((bad, later)) = label {
                let key = i as u64 * 3 + 1;
                events.push((i + later, 0, key, if bad { Label::Bad } else { Label::Good }));
                if let Some(bad) = again {
                    events.push((i + later + 1, 1, key, if bad { Label::Bad } else { Label::Good }));
                }
            }
        }
        let n = calls.len();
        events.sort_by_key(|&(at, second, key, _)| (at.min(n), second, key));
        for (_, _, key, l) in events {
            let (cell, auto) = cell_of[&key];
            if auto {
                value.insert(key, l);
            } else {
                if !value.contains_key(&key) {
                    order[cell].push(key);
                }
                value.insert(key, l);
            }
        }
        for (key, &(cell, auto)) in &cell_of {
            if auto && value.get(key) == Some(&Label::Bad) {
                reported[cell] += 1;
            }
        }
        for (j, cell) in e.cells().iter().enumerate() {
            prop_assert_eq!(cell.calls, tally_calls[j]);
            prop_assert_eq!(cell.reported_bad, reported[j]);
            prop_assert_eq!(cell.labels(), order[j].len() as u64);
            let bad = order[j].iter().filter(|k| value[*k] == Label::Bad).count() as u64;
            prop_assert_eq!(cell.bad(), bad, "cell {}", j);
        }
        for j in 0..e.grid().len() {
            let r = e.region(j);
            let fraction = (0..=j)
                .filter(|&c| tally_calls[c] > 0)
                .map(|c| order[c].len() as f64 / tally_calls[c] as f64)
                .fold(f64::INFINITY, f64::min);
            if !fraction.is_finite() {
                continue;
            }
            let mut sample_bad = 0;
            for c in (0..=j).filter(|&c| tally_calls[c] > 0) {
                let take = ((fraction * tally_calls[c] as f64) as usize).min(order[c].len());
                sample_bad += order[c][order[c].len() - take..]
                    .iter()
                    .filter(|k| value[*k] == Label::Bad)
                    .count() as u64;
            }
            prop_assert_eq!(r.sample_bad, sample_bad, "region {}", j);
        }
    }
}
