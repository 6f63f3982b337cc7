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
                    let a = l.assess();
                    let test = a.tests.iter().find(|x| x.threshold == to).unwrap();
                    let upper = binomial::upper_bound(
                        test.region.sample_bad,
                        test.region.sample,
                        s.delta * rekall_policy::learn::learner::TEST_SHARE,
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
