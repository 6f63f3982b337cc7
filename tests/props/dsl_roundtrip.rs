//! The two languages carry the same policies: random IR printed as DSL and as YAML parses
//! back to the identical IR (equality ignores where things were written), and `fmt` is
//! idempotent in both.

use proptest::prelude::*;
use rekall_policy::front::{self, Language};
use rekall_policy::glob::Glob;
use rekall_policy::ir::{
    Adapt, Approver, ChainStep, Comments, ConfidenceRange, Defaults, Duration, EscalationRule,
    Gate, GroupDef, HitlRule, OnTimeout, Outcome, PolicyDoc, Principal, Priority, Section,
};
use rekall_policy::learn::{Mode, Settings};
use rekall_policy::print;
use rekall_policy::source::{Cosmetic, NodeSpan, Span, Spanned};

fn s<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_-]{0,8}",
        "[a-zA-Z0-9 _.:#\"'\\\\é日-]{1,12}".prop_filter("not blank", |t| !t.trim().is_empty()),
    ]
}

fn glob() -> impl Strategy<Value = Glob> {
    let piece = prop_oneof![
        "[a-z/._-]{1,4}",
        Just("*".to_owned()),
        Just("?".to_owned()),
        Just("[a-c]".to_owned()),
        Just("[!x]".to_owned()),
        Just("{a,b*,}".to_owned()),
        Just("\\*".to_owned()),
        Just("\\\"".to_owned()),
        Just(" ".to_owned()),
        Just("é日".to_owned()),
        Just(":#,".to_owned()),
        Just("on".to_owned()),
    ];
    prop::collection::vec(piece, 1..4)
        .prop_map(|parts| Glob::new(&parts.concat()).expect("valid glob"))
}

fn principal() -> impl Strategy<Value = Approver> {
    prop_oneof![
        ("[a-z]{1,5}", "[a-z0-9._@-]{1,6}")
            .prop_map(|(k, n)| Approver::Principal(Principal::parse(&format!("{k}:{n}")).unwrap())),
        "[a-z][a-z0-9_-]{0,5}".prop_map(Approver::Group),
    ]
}

fn approvers() -> impl Strategy<Value = Spanned<Vec<Spanned<Approver>>>> {
    prop::collection::vec(principal().prop_map(s), 0..4).prop_map(s)
}

fn duration() -> impl Strategy<Value = Spanned<Duration>> {
    prop_oneof![1u64..100_000_000_000, Just(3_600_000), Just(500)].prop_map(|ms| s(Duration(ms)))
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::Low),
        Just(Priority::Normal),
        Just(Priority::High),
        Just(Priority::Critical)
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop::sample::select(Outcome::ALL.to_vec())
}

/// `timeout`, `onTimeout`, `escalateTo` and `remindEvery` of a gate.
type Timing = (
    Option<Spanned<Duration>>,
    Option<Spanned<OnTimeout>>,
    Option<Spanned<Vec<Spanned<Approver>>>>,
    Option<Spanned<Duration>>,
);

/// Timeout options, in the combinations the languages can say.
fn timing() -> impl Strategy<Value = Timing> {
    let on = prop_oneof![
        Just((None, None)),
        Just((Some(s(OnTimeout::Reject)), None)),
        approvers().prop_map(|l| (Some(s(OnTimeout::Escalate)), Some(l))),
        Just((Some(s(OnTimeout::Escalate)), None)),
    ];
    (
        prop::option::of(duration()),
        on,
        prop::option::of(duration()),
    )
        .prop_map(|(t, (o, e), r)| (t, o, e, r))
}

fn channels() -> impl Strategy<Value = Option<Spanned<Vec<Spanned<String>>>>> {
    prop::option::of(prop::collection::vec(text().prop_map(s), 0..3).prop_map(s))
}

/// A gate whose approvers are present (as every asking gate's are in both languages).
fn asking_gate() -> impl Strategy<Value = Gate> {
    (
        approvers(),
        prop::option::of(-1i64..5),
        timing(),
        channels(),
    )
        .prop_map(|(a, m, (t, o, e, r), n)| Gate {
            approvers: Some(a),
            min_approvals: m.map(s),
            timeout: t,
            on_timeout: o,
            escalate_to: e,
            remind_every: r,
            notify_via: n,
        })
}

fn quiet_gate() -> impl Strategy<Value = Gate> {
    (timing(), channels()).prop_map(|((t, o, e, r), n)| Gate {
        timeout: t,
        on_timeout: o,
        escalate_to: e,
        remind_every: r,
        notify_via: n,
        ..Gate::default()
    })
}

fn step() -> impl Strategy<Value = ChainStep> {
    (text(), asking_gate()).prop_map(|(name, gate)| ChainStep {
        name: s(name),
        gate,
        span: NodeSpan::default(),
    })
}

fn hitl_rule() -> impl Strategy<Value = HitlRule> {
    let body = prop_oneof![
        (
            prop::option::of(Just(true)),
            prop::collection::vec(step(), 0..3),
            quiet_gate()
        )
            .prop_map(|(req, steps, gate)| (req, Some(steps), gate)),
        asking_gate().prop_map(|g| (Some(true), None, g)),
        (prop::option::of(Just(false)), quiet_gate()).prop_map(|(req, g)| (req, None, g)),
    ];
    (
        prop::option::of(text()),
        glob(),
        prop::option::of(glob()),
        body,
        prop::option::of(priority()),
    )
        .prop_map(
            |(id, action, resource, (req, chain, gate), priority)| HitlRule {
                id: id.map(s),
                action: s(action),
                resource: resource.map(s),
                require_approval: req.map(s),
                chain: chain.map(s),
                priority: priority.map(s),
                gate,
                span: NodeSpan::default(),
            },
        )
}

fn band() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            0.0,
            0.1 + 0.2,
            0.25,
            0.4,
            0.5,
            0.7,
            0.9,
            1.0,
            1e-7,
            -0.5,
            1.5,
            0.123456789
        ]),
        0.0f64..=1.0,
    ]
}

/// An `adapt` block: any subset of the settings (in their canonical order, as both front ends
/// give them), values in and out of range (ranges are validation's business, not the
/// parsers'), with or without approvers.
fn adapt() -> impl Strategy<Value = Adapt> {
    (
        prop::collection::vec(prop::bool::ANY, 10),
        (band(), band(), band(), band(), band(), band()),
        (
            0u64..100_000,
            0u64..100_000,
            prop::bool::ANY,
            prop::bool::ANY,
        ),
        prop::option::of(approvers()),
    )
        .prop_map(
            |(
                keep,
                (alpha, delta, floor, ceiling, step, audit),
                (min, window, auto, per_agent),
                approvers,
            )| {
                let names = [
                    "alpha",
                    "delta",
                    "floor",
                    "ceiling",
                    "step",
                    "minLabels",
                    "auditRate",
                    "window",
                    "mode",
                    "perAgent",
                ];
                let settings = Settings {
                    alpha,
                    delta,
                    floor,
                    ceiling,
                    step,
                    audit_rate: audit,
                    min_labels: min,
                    window,
                    mode: if auto { Mode::Auto } else { Mode::Propose },
                    per_agent,
                };
                let mut chosen = Settings::default();
                let mut written = Vec::new();
                for (name, keep) in names.iter().zip(keep) {
                    if !keep {
                        continue;
                    }
                    match *name {
                        "alpha" => chosen.alpha = settings.alpha,
                        "delta" => chosen.delta = settings.delta,
                        "floor" => chosen.floor = settings.floor,
                        "ceiling" => chosen.ceiling = settings.ceiling,
                        "step" => chosen.step = settings.step,
                        "minLabels" => chosen.min_labels = settings.min_labels,
                        "auditRate" => chosen.audit_rate = settings.audit_rate,
                        "window" => chosen.window = settings.window,
                        "mode" => chosen.mode = settings.mode,
                        _ => chosen.per_agent = settings.per_agent,
                    }
                    written.push(s(*name));
                }
                Adapt {
                    settings: chosen,
                    approvers,
                    written,
                    span: NodeSpan::default(),
                }
            },
        )
}

fn escalation_rule() -> impl Strategy<Value = EscalationRule> {
    let gate = prop_oneof![asking_gate(), quiet_gate()];
    (
        prop::option::of(text()),
        prop::option::of(glob()),
        prop::option::of(glob()),
        prop::option::of((band(), band())),
        outcome(),
        prop::option::of(priority()),
        gate,
        prop::option::weighted(0.3, adapt()),
    )
        .prop_map(
            |(id, a, r, range, outcome, priority, gate, adapt)| EscalationRule {
                id: id.map(s),
                match_action: a.map(s),
                match_resource: r.map(s),
                confidence_range: range.map(|(lo, hi)| {
                    s(ConfidenceRange {
                        lo: s(lo),
                        hi: s(hi),
                        closed_below_one: Cosmetic(None),
                    })
                }),
                outcome: s(outcome),
                priority: priority.map(s),
                gate,
                adapt,
                span: NodeSpan::default(),
            },
        )
}

/// A random policy, as every field the languages can say.
pub(crate) fn policy() -> impl Strategy<Value = PolicyDoc> {
    let groups =
        prop::collection::vec(("[a-z][a-z0-9_-]{0,5}", approvers()), 0..3).prop_map(|gs| {
            gs.into_iter()
                .map(|(n, m)| GroupDef {
                    name: s(n),
                    members: m.node,
                })
                .collect::<Vec<_>>()
        });
    let defaults = prop::option::of((prop::option::of(outcome()), prop::option::of(approvers())))
        .prop_map(|d| {
            d.map(|(o, a)| Defaults {
                no_match: o.map(s),
                approvers: a,
                span: NodeSpan::default(),
            })
        });
    (
        prop::option::of(text()),
        groups,
        defaults,
        prop::option::of(prop::collection::vec(hitl_rule(), 0..4)),
        prop::option::of(prop::collection::vec(escalation_rule(), 0..4)),
    )
        .prop_map(|(name, groups, defaults, hitl, escalation)| PolicyDoc {
            version: s(1),
            name: name.map(s),
            groups,
            defaults,
            hitl: hitl.map(|rules| Section {
                rules,
                span: NodeSpan::default(),
            }),
            escalation: escalation.map(|rules| Section {
                rules,
                span: NodeSpan::default(),
            }),
            span: NodeSpan::default(),
            comments: Comments::default(),
        })
}

fn parse(language: Language, text: &str) -> PolicyDoc {
    match front::parse(language, text).into_result() {
        Ok(doc) => doc,
        Err(e) => panic!("printed {language:?} does not parse: {e:?}\n{text}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn printing_then_parsing_gives_the_same_ir(doc in policy()) {
        for language in [Language::Dsl, Language::Yaml] {
            let text = print::print(&doc, language);
            prop_assert_eq!(&parse(language, &text), &doc, "{:?}:\n{}", language, text);
        }
    }

    #[test]
    fn fmt_is_idempotent_and_converts_losslessly(doc in policy()) {
        let dsl = print::to_dsl(&doc);
        let yaml = print::to_yaml(&doc);
        prop_assert_eq!(&print::to_dsl(&parse(Language::Dsl, &dsl)), &dsl);
        prop_assert_eq!(&print::to_yaml(&parse(Language::Yaml, &yaml)), &yaml);
        // YAML -> DSL -> YAML and DSL -> YAML -> DSL come back to the same text.
        prop_assert_eq!(&print::to_yaml(&parse(Language::Dsl, &dsl)), &yaml);
        prop_assert_eq!(&print::to_dsl(&parse(Language::Yaml, &yaml)), &dsl);
    }
}
