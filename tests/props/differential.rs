//! The compiled policy against the reference evaluator, the oracle: random policies using
//! every glob feature of spec section 2, groups, chains, escalation bands with shared
//! boundaries, defaults, policies with one section only; random requests, many of them built
//! from the policy's own globs and band endpoints to land on rule boundaries. Whole
//! decisions (and request errors) must be equal.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use rekall_policy::compile::Builder;
use rekall_policy::{Policy, Request};

use crate::rng::Rng;

/// Characters of names: ASCII, separators, non-ASCII of 2, 3 and 4 bytes, NUL, a space.
const ALPHABET: [char; 11] = ['a', 'b', 'c', '/', '.', '-', 'é', '日', '😀', '\0', ' '];
/// Characters that are special somewhere in a glob, written escaped.
const SPECIALS: [char; 10] = ['*', '?', '[', ']', '{', '}', ',', '\\', '!', 'a'];
/// Band endpoints: shared between rules, so bands touch; two of them one ulp apart.
const ENDPOINTS: [f64; 9] = [
    0.0,
    0.1,
    0.25,
    0.5,
    0.500_000_000_000_000_1,
    0.75,
    0.9,
    0.999_999_999_999_999_9,
    1.0,
];
const APPROVERS: [&str; 5] = ["user:a", "user:b", "group:g1", "group:g2", "team:x"];
const OUTCOMES: [&str; 5] = [
    "auto-approve",
    "notify-and-proceed",
    "request-approval",
    "escalate",
    "deny",
];

#[derive(Debug, Clone)]
enum Tok {
    Char(char),
    Escaped(char),
    Star,
    Quest,
    Class {
        negated: bool,
        caret: bool,
        ranges: Vec<(char, char)>,
    },
    Alt(Vec<Vec<Tok>>),
}

#[derive(Debug, Clone)]
struct GlobSpec(Vec<Tok>);

impl GlobSpec {
    fn text(&self) -> String {
        let mut out = String::new();
        push_tokens(&mut out, &self.0);
        out
    }
}

fn push_class_char(out: &mut String, c: char) {
    if matches!(c, ']' | '-' | '\\' | '!' | '^') {
        out.push('\\');
    }
    out.push(c);
}

fn push_tokens(out: &mut String, tokens: &[Tok]) {
    for t in tokens {
        match t {
            Tok::Char(c) => out.push(*c),
            Tok::Escaped(c) => {
                out.push('\\');
                out.push(*c);
            }
            Tok::Star => out.push('*'),
            Tok::Quest => out.push('?'),
            Tok::Class {
                negated,
                caret,
                ranges,
            } => {
                out.push('[');
                if *negated {
                    out.push(if *caret { '^' } else { '!' });
                }
                for (lo, hi) in ranges {
                    push_class_char(out, *lo);
                    if lo != hi {
                        out.push('-');
                        push_class_char(out, *hi);
                    }
                }
                out.push(']');
            }
            Tok::Alt(alternatives) => {
                out.push('{');
                for (i, alt) in alternatives.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_tokens(out, alt);
                }
                out.push('}');
            }
        }
    }
}

fn any_char() -> impl Strategy<Value = char> {
    prop::sample::select(&ALPHABET[..])
}

fn class() -> impl Strategy<Value = Tok> {
    let range = (any_char(), any_char()).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) });
    let single = any_char().prop_map(|c| (c, c));
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(prop_oneof![single, range], 1..3),
    )
        .prop_map(|(negated, caret, ranges)| Tok::Class {
            negated,
            caret,
            ranges,
        })
}

fn simple_token() -> impl Strategy<Value = Tok> {
    prop_oneof![
        8 => any_char().prop_map(Tok::Char),
        3 => Just(Tok::Star),
        1 => Just(Tok::Quest),
        1 => class(),
        1 => prop::sample::select(&SPECIALS[..]).prop_map(Tok::Escaped),
    ]
}

fn token() -> impl Strategy<Value = Tok> {
    prop_oneof![
        8 => simple_token(),
        1 => prop::collection::vec(prop::collection::vec(simple_token(), 0..3), 1..4).prop_map(Tok::Alt),
    ]
}

/// Globs: often exact names or names and a star (the index's cases), else anything.
fn glob() -> impl Strategy<Value = GlobSpec> {
    let chars = || prop::collection::vec(any_char().prop_map(Tok::Char), 0..4);
    prop_oneof![
        2 => chars().prop_map(GlobSpec),
        2 => chars().prop_map(|mut t| {
            t.push(Tok::Star);
            GlobSpec(t)
        }),
        1 => Just(GlobSpec(vec![Tok::Star])),
        4 => prop::collection::vec(token(), 0..5).prop_map(GlobSpec),
    ]
}

#[derive(Debug, Clone)]
enum HitlKind {
    Auto {
        explicit: bool,
    },
    Approve {
        approvers: Vec<usize>,
        min_one: bool,
        timeout: bool,
    },
    Chain(Vec<Vec<usize>>),
}

#[derive(Debug, Clone)]
struct HitlSpec {
    id: bool,
    action: GlobSpec,
    resource: Option<GlobSpec>,
    kind: HitlKind,
    notify: bool,
}

#[derive(Debug, Clone)]
struct EscalationSpec {
    id: bool,
    action: Option<GlobSpec>,
    resource: Option<GlobSpec>,
    /// Indices into ENDPOINTS, and whether 0 is written `-0.0`.
    range: Option<(usize, usize, bool)>,
    outcome: usize,
    approvers: Vec<usize>,
}

#[derive(Debug, Clone)]
struct PolicySpec {
    defaults: Option<(Option<usize>, Option<Vec<usize>>)>,
    hitl: Option<Vec<HitlSpec>>,
    escalation: Option<Vec<EscalationSpec>>,
}

fn approvers() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..APPROVERS.len(), 1..3)
}

fn hitl_rule() -> impl Strategy<Value = HitlSpec> {
    let kind = prop_oneof![
        2 => any::<bool>().prop_map(|explicit| HitlKind::Auto { explicit }),
        3 => (approvers(), any::<bool>(), any::<bool>())
            .prop_map(|(approvers, min_one, timeout)| HitlKind::Approve { approvers, min_one, timeout }),
        1 => prop::collection::vec(approvers(), 1..3).prop_map(HitlKind::Chain),
    ];
    (
        any::<bool>(),
        glob(),
        prop::option::weighted(0.7, glob()),
        kind,
        any::<bool>(),
    )
        .prop_map(|(id, action, resource, kind, notify)| HitlSpec {
            id,
            action,
            resource,
            kind,
            notify,
        })
}

fn escalation_rule() -> impl Strategy<Value = EscalationSpec> {
    let range = (0..ENDPOINTS.len(), 0..ENDPOINTS.len(), any::<bool>())
        .prop_map(|(a, b, neg)| (a.min(b), a.max(b), neg));
    (
        any::<bool>(),
        prop::option::weighted(0.6, glob()),
        prop::option::weighted(0.4, glob()),
        prop::option::weighted(0.85, range),
        0..OUTCOMES.len(),
        approvers(),
    )
        .prop_map(
            |(id, action, resource, range, outcome, approvers)| EscalationSpec {
                id,
                action,
                resource,
                range,
                outcome,
                approvers,
            },
        )
}

fn policy() -> impl Strategy<Value = PolicySpec> {
    let defaults = prop::option::of((
        prop::option::of(0..OUTCOMES.len()),
        prop::option::of(prop::collection::vec(0..APPROVERS.len(), 0..3)),
    ));
    let hitl = prop::collection::vec(hitl_rule(), 0..7);
    let escalation = prop::collection::vec(escalation_rule(), 0..7);
    (
        defaults,
        prop::option::weighted(0.8, hitl),
        prop::option::weighted(0.7, escalation),
    )
        .prop_map(|(defaults, hitl, escalation)| {
            let hitl = if hitl.is_none() && escalation.is_none() {
                Some(Vec::new())
            } else {
                hitl
            };
            PolicySpec {
                defaults,
                hitl,
                escalation,
            }
        })
}

fn yaml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn list(indices: &[usize]) -> String {
    let names: Vec<&str> = indices.iter().map(|&i| APPROVERS[i]).collect();
    format!("[{}]", names.join(", "))
}

fn number(i: usize, negative_zero: bool) -> String {
    let v = ENDPOINTS[i];
    if v == 0.0 && negative_zero {
        "-0.0".into()
    } else {
        format!("{v:?}")
    }
}

impl PolicySpec {
    fn yaml(&self) -> String {
        let mut y =
            String::from("version: 1\ngroups:\n  g1: [user:a, user:c]\n  g2: [group:g1, user:d]\n");
        match &self.defaults {
            Some((None, None)) => y.push_str("defaults: {}\n"),
            Some((no_match, approvers)) => {
                y.push_str("defaults:\n");
                if let Some(o) = no_match {
                    y.push_str(&format!("  noMatch: {}\n", OUTCOMES[*o]));
                }
                // Approvers only where the outcome would ask them (else the policy is refused).
                let asks =
                    no_match.is_none_or(|o| matches!(OUTCOMES[o], "request-approval" | "escalate"));
                if let Some(a) = approvers.as_ref().filter(|_| asks) {
                    y.push_str(&format!("  approvers: {}\n", list(a)));
                }
            }
            None => {}
        }
        if let Some(rules) = &self.hitl {
            y.push_str("hitl:\n  rules:");
            y.push_str(if rules.is_empty() { " []\n" } else { "\n" });
            for (i, r) in rules.iter().enumerate() {
                y.push_str(&format!(
                    "    - action: {}\n",
                    yaml_string(&r.action.text())
                ));
                if r.id {
                    y.push_str(&format!("      id: h{i}\n"));
                }
                if let Some(res) = &r.resource {
                    y.push_str(&format!("      resource: {}\n", yaml_string(&res.text())));
                }
                match &r.kind {
                    HitlKind::Auto { explicit: true } => {
                        y.push_str("      requireApproval: false\n")
                    }
                    HitlKind::Auto { explicit: false } => {}
                    HitlKind::Approve {
                        approvers,
                        min_one,
                        timeout,
                    } => {
                        y.push_str(&format!(
                            "      requireApproval: true\n      approvers: {}\n",
                            list(approvers)
                        ));
                        if *min_one {
                            y.push_str("      minApprovals: 1\n");
                        }
                        if *timeout {
                            y.push_str("      timeout: 30m\n      onTimeout: escalate\n      escalateTo: [user:boss]\n");
                        }
                    }
                    HitlKind::Chain(steps) => {
                        y.push_str("      chain:\n");
                        for (s, a) in steps.iter().enumerate() {
                            y.push_str(&format!(
                                "        - step: s{s}\n          approvers: {}\n",
                                list(a)
                            ));
                        }
                    }
                }
                if r.notify {
                    y.push_str("      notifyVia: [slack]\n");
                }
            }
        }
        if let Some(rules) = &self.escalation {
            y.push_str("escalation:\n  rules:");
            y.push_str(if rules.is_empty() { " []\n" } else { "\n" });
            for (i, r) in rules.iter().enumerate() {
                y.push_str(&format!("    - action: {}\n", OUTCOMES[r.outcome]));
                if r.id {
                    y.push_str(&format!("      id: e{i}\n"));
                }
                if r.action.is_some() || r.resource.is_some() {
                    y.push_str("      match:\n");
                    if let Some(g) = &r.action {
                        y.push_str(&format!("        action: {}\n", yaml_string(&g.text())));
                    }
                    if let Some(g) = &r.resource {
                        y.push_str(&format!("        resource: {}\n", yaml_string(&g.text())));
                    }
                }
                if let Some((lo, hi, neg)) = r.range {
                    y.push_str(&format!(
                        "      confidenceRange: [{}, {}]\n",
                        number(lo, neg),
                        number(hi, neg)
                    ));
                }
                if matches!(OUTCOMES[r.outcome], "request-approval" | "escalate") {
                    y.push_str(&format!(
                        "      approvers: {}\n      priority: high\n",
                        list(&r.approvers)
                    ));
                }
            }
        }
        y
    }

    /// Every glob in the policy, to build requests from.
    fn globs(&self) -> Vec<(GlobSpec, GlobSpec)> {
        let star = || GlobSpec(vec![Tok::Star]);
        let mut out: Vec<(GlobSpec, GlobSpec)> = Vec::new();
        for r in self.hitl.iter().flatten() {
            out.push((r.action.clone(), r.resource.clone().unwrap_or_else(star)));
        }
        for r in self.escalation.iter().flatten() {
            out.push((
                r.action.clone().unwrap_or_else(star),
                r.resource.clone().unwrap_or_else(star),
            ));
        }
        out
    }
}

/// A string the glob matches (or, for a class that admits nothing from the alphabet, close).
fn sample(tokens: &[Tok], rng: &mut Rng, out: &mut String) {
    for t in tokens {
        match t {
            Tok::Char(c) | Tok::Escaped(c) => out.push(*c),
            Tok::Star => {
                for _ in 0..rng.below(4) {
                    out.push(rng.pick(&ALPHABET));
                }
            }
            Tok::Quest => out.push(rng.pick(&ALPHABET)),
            Tok::Class {
                negated: false,
                ranges,
                ..
            } => {
                let (lo, hi) = ranges[rng.below(ranges.len())];
                let pick = match rng.below(3) {
                    0 => lo,
                    1 => hi,
                    _ => char::from_u32(
                        lo as u32 + rng.below((hi as u32 - lo as u32 + 1) as usize) as u32,
                    )
                    .unwrap_or(lo),
                };
                out.push(pick);
            }
            Tok::Class {
                negated: true,
                ranges,
                ..
            } => {
                let outside = (0..8)
                    .map(|_| rng.pick(&ALPHABET))
                    .find(|c| !ranges.iter().any(|(lo, hi)| lo <= c && c <= hi));
                out.push(outside.unwrap_or('Z'));
            }
            Tok::Alt(alternatives) => {
                sample(&alternatives[rng.below(alternatives.len())], rng, out)
            }
        }
    }
}

/// Changes a string a little: a character dropped, added or replaced, so that it lands just
/// outside (or still inside) what a glob matches.
fn mutate(s: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    match rng.below(4) {
        0 if !chars.is_empty() => {
            let i = rng.below(chars.len());
            chars.remove(i);
        }
        1 => {
            let i = rng.below(chars.len() + 1);
            chars.insert(i, rng.pick(&ALPHABET));
        }
        2 if !chars.is_empty() => {
            let i = rng.below(chars.len());
            chars[i] = rng.pick(&ALPHABET);
        }
        _ => {}
    }
    chars.into_iter().collect()
}

#[derive(Debug, Clone)]
enum Conf {
    Absent,
    Endpoint(usize),
    Above(usize),
    Below(usize),
    NegativeZero,
    Uniform(f64),
    Invalid(usize),
}

#[derive(Debug, Clone)]
struct RequestSpec {
    /// Which glob pair to build from (modulo their number), or none for random strings.
    from: Option<usize>,
    seed: u64,
    mutate_action: bool,
    mutate_resource: bool,
    confidence: Conf,
}

fn request() -> impl Strategy<Value = RequestSpec> {
    let conf = prop_oneof![
        2 => Just(Conf::Absent),
        5 => (0..ENDPOINTS.len()).prop_map(Conf::Endpoint),
        2 => (0..ENDPOINTS.len()).prop_map(Conf::Above),
        2 => (0..ENDPOINTS.len()).prop_map(Conf::Below),
        1 => Just(Conf::NegativeZero),
        2 => (0.0..=1.0f64).prop_map(Conf::Uniform),
        1 => (0..5usize).prop_map(Conf::Invalid),
    ];
    (
        prop::option::weighted(0.85, any::<usize>()),
        any::<u64>(),
        prop::bool::weighted(0.25),
        prop::bool::weighted(0.25),
        conf,
    )
        .prop_map(
            |(from, seed, mutate_action, mutate_resource, confidence)| RequestSpec {
                from,
                seed,
                mutate_action,
                mutate_resource,
                confidence,
            },
        )
}

/// The neighbouring double above or below `x` (for `x` in [0, 1]); below 0 is `-tiny`.
fn step(x: f64, up: bool) -> f64 {
    if x == 0.0 {
        let tiny = f64::from_bits(1);
        return if up { tiny } else { -tiny };
    }
    f64::from_bits(if up { x.to_bits() + 1 } else { x.to_bits() - 1 })
}

fn build_request(spec: &RequestSpec, globs: &[(GlobSpec, GlobSpec)]) -> Request {
    let mut rng = Rng(spec.seed);
    let (mut action, mut resource) = (String::new(), String::new());
    match spec.from.filter(|_| !globs.is_empty()) {
        Some(i) => {
            let (a, r) = &globs[i % globs.len()];
            sample(&a.0, &mut rng, &mut action);
            sample(&r.0, &mut rng, &mut resource);
        }
        None => {
            for _ in 0..rng.below(5) {
                action.push(rng.pick(&ALPHABET));
            }
            for _ in 0..rng.below(4) {
                resource.push(rng.pick(&ALPHABET));
            }
        }
    }
    if spec.mutate_action {
        action = mutate(&action, &mut rng);
    }
    if spec.mutate_resource {
        resource = mutate(&resource, &mut rng);
    }
    // An empty action is refused; keep a few, to check both refuse it alike.
    if action.is_empty() && rng.below(8) != 0 {
        action.push(rng.pick(&ALPHABET));
    }
    let confidence = match spec.confidence {
        Conf::Absent => None,
        Conf::Endpoint(i) => Some(ENDPOINTS[i]),
        Conf::Above(i) => Some(step(ENDPOINTS[i], true)),
        Conf::Below(i) => Some(step(ENDPOINTS[i], false)),
        Conf::NegativeZero => Some(-0.0),
        Conf::Uniform(c) => Some(c),
        Conf::Invalid(i) => Some([f64::NAN, f64::INFINITY, -0.5, 1.5, f64::NEG_INFINITY][i]),
    };
    let mut request = Request::new(action).resource(resource);
    request.confidence = confidence;
    request
}

/// Runs `policies` random policies with `per_policy` requests each; returns the pairs checked.
fn differential(policies: u32, per_policy: usize) -> usize {
    let mut runner = TestRunner::new(Config {
        cases: policies,
        failure_persistence: None,
        ..Config::default()
    });
    let checked = std::cell::Cell::new(0usize);
    let strategy = (
        policy(),
        prop::collection::vec(request(), per_policy..per_policy + 8),
    );
    let result = runner.run(&strategy, |(spec, requests)| {
        let yaml = spec.yaml();
        let policy = Policy::from_yaml_str(&yaml, "random.yaml").map_err(|e| {
            TestCaseError::fail(format!(
                "the generator wrote an invalid policy:\n{yaml}\n{}",
                e.render()
            ))
        })?;
        let compiled = policy.compile();
        let scanned = Builder::new(&policy).automaton(false).build();
        let globs = spec.globs();
        for r in &requests {
            let request = build_request(r, &globs);
            let want = policy.decide(&request);
            prop_assert_eq!(
                &compiled.decide(&request),
                &want,
                "policy:\n{}\nrequest: {:?}",
                yaml,
                request
            );
            prop_assert_eq!(
                &scanned.decide(&request),
                &want,
                "without automaton; policy:\n{}\nrequest: {:?}",
                yaml,
                request
            );
            let parts = compiled.decide_str(&request.action, &request.resource, request.confidence);
            prop_assert_eq!(&parts, &want);
            checked.set(checked.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    checked.get()
}

#[test]
fn compiled_equals_reference_on_random_policies() {
    let pairs = differential(1_000, 20);
    assert!(pairs >= 20_000, "only {pairs} pairs");
}

#[test]
#[ignore = "a million pairs; run with --ignored"]
fn compiled_equals_reference_on_a_million_pairs() {
    let pairs = differential(20_000, 50);
    assert!(pairs >= 1_000_000, "only {pairs} pairs");
}

/// Longer than a key or a bucket entry holds in place.
const LONG: &str = "tenant-0123456789/region-eu-west-1/cluster-abcdefghij/namespace";

/// Globs for big policies: few distinct pieces, so that many rules share an action (big
/// buckets), prefixes of many lengths, keys too long to sit in place, and more complex
/// rules than are screened one by one.
fn large_glob(pick: usize, n: usize) -> String {
    match pick % 24 {
        0 => "deploy".into(),
        1 => "delete".into(),
        2 => "deploy-a".into(),
        3 => LONG.into(),
        4 => format!("svc{n}"),
        5 => "dep*".into(),
        6 => "d*".into(),
        7 => format!("svc{n}*"),
        8 => "*".into(),
        9 => format!("{LONG}*"),
        10 => "de?loy".into(),
        11 => "svc[0-9]".into(),
        12 => "*-a".into(),
        13 => "{deploy,read}*".into(),
        14 => format!("r{n}"),
        15 => format!("r{n}/*"),
        16 => "db/*".into(),
        17 => "{db,cache}/*".into(),
        18 => format!("{LONG}/r{n}"),
        // The shapes of `bench --adversarial`: a literal of the rule's own between shared
        // stars, `?` and classes around literals, braces.
        19 => format!("*x{n}*y*z*"),
        20 => format!("*{n}?*"),
        21 => format!("*[a-f]x{n}?*[!0-9]z*"),
        22 => format!("*{{x,w}}{n}*{{y,v}}*z*"),
        _ => "".into(),
    }
}

const LARGE_ACTIONS: [&str; 16] = [
    "deploy", "delete", "deploy-a", "read", "svc1", "svc12", "svc7", "dep", "d", "x-a", LONG,
    "deploy-b", "x3yz", "zyx3", "ax12qyaz", "w7vxz",
];
const LARGE_RESOURCES: [&str; 14] = [
    "db/users", "db/x", "r3", "r3/a", "r11", "", "cache/q", LONG, "r1", "x", "r7/b/c", "33b",
    "a3x", "12",
];

#[derive(Debug, Clone)]
struct LargeRule {
    action: (usize, usize),
    resource: (usize, usize),
    range: Option<(usize, usize)>,
    outcome: usize,
}

fn large_rule() -> impl Strategy<Value = LargeRule> {
    // Most rules share a few actions and differ in numbered resources, so that buckets
    // grow big (more entries than are scanned) with exact and prefix resources.
    let action =
        prop_oneof![8 => Just(0usize), 6 => Just(5usize), 2 => Just(8usize), 6 => 0..24usize];
    let resource = prop_oneof![4 => Just(14usize), 4 => Just(15usize), 2 => Just(7usize), 2 => Just(18usize), 6 => 0..24usize];
    let range = (0..ENDPOINTS.len(), 0..ENDPOINTS.len()).prop_map(|(a, b)| (a.min(b), a.max(b)));
    (
        (action, 0..30usize),
        (resource, 0..30usize),
        prop::option::weighted(0.8, range),
        0..OUTCOMES.len(),
    )
        .prop_map(|(action, resource, range, outcome)| LargeRule {
            action,
            resource,
            range,
            outcome,
        })
}

fn large_yaml(hitl: &[LargeRule], escalation: &[LargeRule]) -> String {
    let mut y = String::from(
        "version: 1\ndefaults:\n  noMatch: escalate\n  approvers: [user:oncall]\nhitl:\n  rules:\n",
    );
    for r in hitl {
        let (a, r_) = (
            large_glob(r.action.0, r.action.1),
            large_glob(r.resource.0, r.resource.1),
        );
        y.push_str(&format!(
            "    - action: {}\n      resource: {}\n",
            yaml_string(&a),
            yaml_string(&r_)
        ));
        if r.outcome % 2 == 0 {
            y.push_str("      requireApproval: true\n      approvers: [user:a]\n");
        }
    }
    y.push_str("escalation:\n  rules:\n");
    for r in escalation {
        let (a, r_) = (
            large_glob(r.action.0, r.action.1),
            large_glob(r.resource.0, r.resource.1),
        );
        y.push_str(&format!(
            "    - match: {{action: {}, resource: {}}}\n      action: {}\n",
            yaml_string(&a),
            yaml_string(&r_),
            OUTCOMES[r.outcome]
        ));
        if let Some((lo, hi)) = r.range {
            y.push_str(&format!(
                "      confidenceRange: [{:?}, {:?}]\n",
                ENDPOINTS[lo], ENDPOINTS[hi]
            ));
        }
        if matches!(OUTCOMES[r.outcome], "request-approval" | "escalate") {
            y.push_str("      approvers: [user:b]\n");
        }
    }
    y
}

/// Big policies: big buckets, long keys, many prefix lengths, many complex rules.
#[test]
fn compiled_equals_reference_on_big_policies() {
    let mut runner = TestRunner::new(Config {
        cases: 60,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(large_rule(), 40..160),
        prop::collection::vec(large_rule(), 20..80),
        prop::collection::vec(
            (
                0..LARGE_ACTIONS.len(),
                0..LARGE_RESOURCES.len(),
                0..ENDPOINTS.len() + 1,
            ),
            150,
        ),
    );
    let checked = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |(hitl, escalation, requests)| {
        let yaml = large_yaml(&hitl, &escalation);
        let policy = Policy::from_yaml_str(&yaml, "big.yaml")
            .map_err(|e| TestCaseError::fail(e.render()))?;
        let compiled = policy.compile();
        let scanned = Builder::new(&policy).automaton(false).build();
        for (a, r, c) in requests {
            let mut request = Request::new(LARGE_ACTIONS[a]).resource(LARGE_RESOURCES[r]);
            request.confidence = ENDPOINTS.get(c).copied();
            let want = policy.decide(&request);
            prop_assert_eq!(
                &compiled.decide(&request),
                &want,
                "policy:\n{}\nrequest: {:?}",
                yaml,
                request
            );
            prop_assert_eq!(
                &scanned.decide(&request),
                &want,
                "without automaton: {:?}",
                request
            );
            checked.set(checked.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(checked.get(), 60 * 150);
}

/// NUL and the other characters of a request never confuse the two fields.
#[test]
fn nul_and_non_ascii_in_requests() {
    let policy = Policy::from_yaml_str(
        r#"version: 1
hitl:
  rules:
    - action: "a"
      resource: "*"
      requireApproval: true
      approvers: [user:one]
    - action: "a*"
      resource: "c"
      requireApproval: true
      approvers: [user:two]
    - action: "a\0b"
      resource: "?"
      requireApproval: true
      approvers: [user:three]
    - action: "[!x]é*"
      resource: "{日,}"
      requireApproval: true
      approvers: [user:four]
escalation:
  rules:
    - match: {action: "a?*", resource: "*\0*"}
      action: deny
"#,
        "nul.yaml",
    )
    .unwrap();
    let compiled = policy.compile();
    let cases = [
        ("a\0b", "c"),
        ("a\0b", "\0"),
        ("a", "b\0c"),
        ("a\0", ""),
        ("\0", "c"),
        ("aé", "日"),
        ("\0é😀", ""),
        ("ÿ", "ÿ"),
        ("a", ""),
    ];
    for (action, resource) in cases {
        let request = Request::new(action).resource(resource);
        assert_eq!(
            compiled.decide(&request),
            policy.decide(&request),
            "{action:?} {resource:?}"
        );
    }
    // The rule that looks for NUL in the action does match it.
    let rule = |a: &str, r: &str| compiled.decide_str(a, r, None).unwrap().hitl_rule();
    assert_eq!(rule("a\0b", "x"), Some(2));
    assert_eq!(rule("a\0b", "é"), Some(2));
    assert_eq!(rule("a\0b", "c"), Some(1));
    assert_eq!(rule("a\0b", ""), None);
    assert_eq!(rule("a", "b\0c"), Some(0));
    assert_eq!(
        compiled
            .decide_str("ab", "x\0", None)
            .unwrap()
            .escalation_rule(),
        Some(0)
    );
}

/// More than 256 confidence classes: a class takes two bytes in the automaton's input.
#[test]
fn hundreds_of_bands_with_globs() {
    let mut y = String::from(
        "version: 1\ndefaults:\n  noMatch: notify-and-proceed\nescalation:\n  rules:\n",
    );
    for i in 0..300 {
        let (lo, hi) = (i as f64 / 300.0, (i + 2) as f64 / 300.0);
        let hi = if i == 299 { 1.0 } else { hi };
        let glob = ["d?ploy*", "[a-c]*", "*", "x{1,2}"][i % 4];
        let outcome = OUTCOMES[i % 5];
        y.push_str(&format!("    - match: {{action: \"{glob}\"}}\n      confidenceRange: [{lo:?}, {hi:?}]\n      action: {outcome}\n"));
        if matches!(outcome, "request-approval" | "escalate") {
            y.push_str("      approvers: [user:a]\n");
        }
    }
    let policy = Policy::from_yaml_str(&y, "bands.yaml").unwrap();
    let compiled = policy.compile();
    let scanned = Builder::new(&policy).automaton(false).build();
    let mut checked = 0;
    for action in ["deploy", "dxploy-1", "apply", "x1", "x3", "zzz"] {
        for i in 0..=300 {
            let base = i as f64 / 300.0;
            for c in [base, step(base, true).min(1.0), step(base, false).max(0.0)] {
                let request = Request::new(action).confidence(c);
                let want = policy.decide(&request);
                assert_eq!(compiled.decide(&request), want, "{action} at {c}");
                assert_eq!(scanned.decide(&request), want, "{action} at {c}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 301 * 3);
}

/// One compiled policy decided from several threads at once: each takes its own automaton
/// cache from the pool, and all agree with the reference.
#[test]
fn threads_share_one_compiled_policy() {
    let policy = Policy::from_yaml_str(
        r#"version: 1
hitl:
  rules:
    - action: "d?ploy"
      resource: "[a-m]*"
      requireApproval: true
      approvers: [user:a]
    - action: "*"
      resource: "*[0-9]"
      requireApproval: true
      approvers: [user:b]
escalation:
  rules:
    - match: {action: "{read,list}?*"}
      confidenceRange: [0.0, 0.5]
      action: escalate
      approvers: [user:c]
    - confidenceRange: [0.5, 1.0]
      action: auto-approve
"#,
        "threads.yaml",
    )
    .unwrap();
    let compiled = policy.compile();
    let actions = ["deploy", "dxploy", "read", "reads", "listx", "x"];
    let resources = ["alpha", "zeta9", "m", "", "n1"];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let (policy, compiled) = (&policy, &compiled);
                scope.spawn(move || {
                    let mut checked = 0;
                    for round in 0..200 {
                        for (i, action) in actions.iter().enumerate() {
                            let resource = resources[(i + round + t) % resources.len()];
                            let c = ((round * 7 + t) % 11) as f64 / 10.0;
                            let request = Request::new(*action)
                                .resource(resource)
                                .confidence(c.min(1.0));
                            assert_eq!(
                                compiled.decide(&request),
                                policy.decide(&request),
                                "{request:?}"
                            );
                            checked += 1;
                        }
                    }
                    checked
                })
            })
            .collect();
        let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(total, 4 * 200 * actions.len());
    });
}

/// Spec section 7, compiled.
#[test]
fn the_seed_policy_examples() {
    let policy = Policy::from_path("policies/seed.yaml").unwrap();
    let compiled = policy.compile();
    type Case = (
        &'static str,
        &'static str,
        Option<f64>,
        &'static str,
        &'static [&'static str],
    );
    let cases: [Case; 6] = [
        (
            "delete",
            "anything",
            Some(0.95),
            "request-approval",
            &["user:adam"],
        ),
        ("deploy", "staging", Some(0.9), "auto-approve", &[]),
        ("deploy", "staging", Some(0.8999), "notify-and-proceed", &[]),
        (
            "deploy",
            "staging",
            Some(0.4),
            "request-approval",
            &["user:adam"],
        ),
        (
            "deploy",
            "staging",
            Some(0.3999),
            "escalate",
            &["user:carol"],
        ),
        ("deploy", "staging", None, "escalate", &["user:carol"]),
    ];
    for (action, resource, confidence, outcome, approvers) in cases {
        let d = compiled.decide_str(action, resource, confidence).unwrap();
        assert_eq!(
            d.outcome().as_str(),
            outcome,
            "{action} {resource} {confidence:?}"
        );
        let names: Vec<&str> = d.approvers().iter().map(|p| p.as_str()).collect();
        assert_eq!(names, approvers);
    }
}
