//! Generated policies and workloads for benchmarks.
//!
//! [`first_match_policy_yaml`] is the policy `bench` times: N first-match rules over services
//! `svc_0` ... of the shapes real policies are made of (60% exact pairs, 20% `svc_i/*`
//! resources, 10% `svc_i.scale*` actions, 10% `*/env` and `svc_*/env` resources), a
//! catch-all, and either no escalation section or one of confidence bands; its workloads
//! ([`first_match_workload`]) hit a rule other than the catch-all 70% of the time.
//!
//! [`complex_policy_yaml`] makes rules that all need the lazy DFA (`?`, classes), to time
//! the automaton where the index cannot help. Everything is deterministic in the seed, so
//! that two runs time the same work.
//!
//! ```
//! use rekall_policy::Policy;
//! use rekall_policy::bench::generate;
//!
//! let yaml = generate::first_match_policy_yaml(100, generate::Stages::Both);
//! let policy = Policy::from_yaml_str(&yaml, "generated")?;
//! assert_eq!(policy.doc().hitl.as_ref().map(|s| s.rules.len()), Some(100));
//! let requests = generate::first_match_workload(100, 1_000, 7, false);
//! assert_eq!(requests.len(), 1_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::request::Request;

pub use crate::learn::random::Rng;

/// Which stages a generated first-match policy has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    /// A HITL section only: the confidence decides nothing.
    Hitl,
    /// A HITL section and an escalation section of confidence bands (some of them glob
    /// matched), so that every decision combines two stages.
    Both,
}

impl Stages {
    /// Both, in table order.
    pub const ALL: [Stages; 2] = [Stages::Hitl, Stages::Both];

    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Stages::Hitl => "hitl",
            Stages::Both => "both",
        }
    }
}

/// Rule `i` of [`first_match_policy_yaml`], by `i` modulo 20: 12 exact pairs, 4 exact actions
/// on `svc_i/*`, 2 `svc_i.scale*` actions, and one each of `*/env` and `svc_*/env`.
fn first_match_shape(i: usize) -> (String, String) {
    match i % 20 {
        0..=11 => {
            const VERBS: [&str; 3] = ["deploy", "restart", "read"];
            (
                format!("svc_{i}.{}", VERBS[i % 3]),
                format!("svc_{i}/env_prod"),
            )
        }
        12..=15 => (format!("svc_{i}.delete"), format!("svc_{i}/*")),
        16 | 17 => (format!("svc_{i}.scale*"), "*".to_owned()),
        18 => (format!("svc_{i}.write"), "*/env".to_owned()),
        _ => (format!("svc_{i}.write"), "svc_*/env".to_owned()),
    }
}

/// The YAML text of a first-match policy of `n` HITL rules (at least 1; the last is `*` /
/// `*`) of the shapes of `first_match_shape`, with gates of every kind (approvers, a
/// quorum and timeout, a chain, none), and with [`Stages::Both`] an escalation section of
/// bands, one of them for glob-matched actions.
pub fn first_match_policy_yaml(n: usize, stages: Stages) -> String {
    let n = n.max(1);
    let mut out = String::with_capacity(n * 130 + 1024);
    out.push_str("version: 1\nname: first-match\n");
    out.push_str("groups:\n  sre: [user:adam, user:alice]\n  dba: [user:bob, group:sre]\n");
    out.push_str("defaults:\n  noMatch: request-approval\n  approvers: [user:oncall]\n");
    out.push_str("hitl:\n  rules:\n");
    for i in 0..n - 1 {
        let (action, resource) = first_match_shape(i);
        let _ = writeln!(
            out,
            "    - id: rule-{i}\n      action: \"{action}\"\n      resource: \"{resource}\""
        );
        out.push_str(gate(i));
    }
    out.push_str("    - id: everything-else\n      action: \"*\"\n      resource: \"*\"\n      requireApproval: false\n");
    if stages == Stages::Both {
        out.push_str(ESCALATION);
    }
    out
}

/// The gate of generated rule `i`: one of four kinds in turn.
fn gate(i: usize) -> &'static str {
    match i % 4 {
        0 => "      requireApproval: true\n      approvers: [group:sre]\n",
        1 => "      requireApproval: false\n",
        2 => concat!(
            "      chain:\n        - step: review\n          approvers: [group:dba]\n",
            "        - step: sign-off\n          approvers: [user:carol]\n"
        ),
        _ => {
            "      requireApproval: true\n      approvers: [user:owner, user:adam]\n      minApprovals: 2\n      timeout: 1h\n"
        }
    }
}

/// The escalation section of [`Stages::Both`]: bands sharing their edges, and one band for
/// deletions of production resources.
const ESCALATION: &str = concat!(
    "escalation:\n  rules:\n",
    "    - id: risky-deletes\n      match: {action: \"svc_1*.delete\", resource: \"*/env_prod\"}\n",
    "      confidenceRange: [0.0, 0.95]\n      action: escalate\n      approvers: [user:carol]\n",
    "    - id: confident\n      confidenceRange: [0.9, 1.0]\n      action: auto-approve\n",
    "    - id: fairly-confident\n      confidenceRange: [0.7, 0.9]\n      action: notify-and-proceed\n",
    "    - id: unsure\n      confidenceRange: [0.4, 0.7]\n      action: request-approval\n      approvers: [group:sre]\n",
    "    - id: lost\n      confidenceRange: [0.0, 0.4]\n      action: escalate\n      approvers: [user:carol]\n",
);

/// One request for [`first_match_policy_yaml`] of `n` rules: 70% made to match a random rule
/// other than the catch-all (an earlier rule may still match first), the rest near misses
/// (a real service, an action no rule of it names) and strangers. With `varied`, numbers
/// stand in for every `*`.
fn first_match_request(n: usize, rng: &mut Rng, varied: bool) -> Request {
    let rules = n.saturating_sub(1);
    let roll = rng.below(100);
    let (action, resource) = if rules > 0 && roll < 70 {
        let i = rng.below(rules);
        let (a, r) = first_match_shape(i);
        let resource = match r.as_str() {
            "*" => format!("svc_{i}/{}", filler(rng, varied)),
            "*/env" => format!("{}/env", filler(rng, varied)),
            "svc_*/env" => format!("svc_{}/env", filler(rng, varied)),
            _ => r.replace('*', &filler(rng, varied)),
        };
        (a.replace('*', &filler(rng, varied)), resource)
    } else if rules > 0 && roll < 85 {
        let i = rng.below(rules);
        (
            format!("svc_{i}.restart{}", filler(rng, varied)),
            format!("svc_{i}/{}", filler(rng, varied)),
        )
    } else {
        (
            format!("job_{}.run", rng.below(1000)),
            format!("queue/{}", filler(rng, varied)),
        )
    };
    let mut request = Request::new(action).resource(resource);
    request.confidence = confidence(rng);
    request
}

/// `count` requests for [`first_match_policy_yaml`] of `n` rules. Repeated ones recur, as
/// real traffic does; `varied` ones are pairwise distinct (numbers for every `*`, and the
/// confidence varies).
pub fn first_match_workload(n: usize, count: usize, seed: u64, varied: bool) -> Vec<Request> {
    let mut rng = Rng::new(seed);
    if !varied {
        return (0..count)
            .map(|_| first_match_request(n, &mut rng, false))
            .collect();
    }
    let mut seen: HashSet<(String, String, Option<u64>)> = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let r = first_match_request(n, &mut rng, true);
        if seen.insert((
            r.action.clone(),
            r.resource.clone(),
            r.confidence.map(f64::to_bits),
        )) {
            out.push(r);
        }
    }
    out
}

/// Like [`first_match_policy_yaml`], but every rule but the last uses `?` and character classes, so
/// that all of them go to the lazy DFA: what the automaton costs when the index cannot help.
pub fn complex_policy_yaml(n: usize) -> String {
    let n = n.max(1);
    let mut out = String::with_capacity(n * 100 + 256);
    out.push_str("version: 1\nname: generated-complex\nhitl:\n  rules:\n");
    for i in 0..n - 1 {
        let _ = writeln!(
            out,
            "    - action: \"svc_{i}.d?ploy\"\n      resource: \"svc_{i}/env_[a-m]*\"\n      requireApproval: true\n      approvers: [user:u{}]",
            i % 7
        );
    }
    out.push_str("    - action: \"*\"\n      resource: \"*\"\n      requireApproval: false\n");
    out.push_str(concat!(
        "escalation:\n  rules:\n",
        "    - match: {action: \"svc_[0-4]*.d?ploy\"}\n      confidenceRange: [0.0, 0.5]\n      action: deny\n",
        "    - confidenceRange: [0.5, 1.0]\n      action: auto-approve\n",
    ));
    out
}

/// Requests for [`complex_policy_yaml`]: 70% built to match a rule other than the last.
pub fn complex_workload(n: usize, count: usize, seed: u64) -> Vec<Request> {
    let mut rng = Rng::new(seed);
    let rules = n.saturating_sub(1).max(1);
    (0..count)
        .map(|_| {
            let i = rng.below(rules);
            let letter = |rng: &mut Rng| char::from(b'a' + rng.below(26) as u8);
            let hit = rng.below(10) < 7;
            let (x, y) = (
                letter(&mut rng),
                if hit {
                    char::from(b'a' + rng.below(13) as u8)
                } else {
                    'z'
                },
            );
            let action = format!("svc_{i}.d{x}ploy");
            let resource = format!("svc_{i}/env_{y}{}", filler(&mut rng, false));
            let mut request = Request::new(action).resource(resource);
            request.confidence = confidence(&mut rng);
            request
        })
        .collect()
}

/// Confidences worth asking about: none, the band boundaries exactly, and anything between.
fn confidence(rng: &mut Rng) -> Option<f64> {
    const EDGES: [f64; 6] = [0.0, 0.4, 0.7, 0.9, 0.95, 1.0];
    match rng.below(10) {
        0 => None,
        1..=3 => Some(EDGES[rng.below(EDGES.len())]),
        _ => Some(rng.unit()),
    }
}

/// What stands in for a `*` in a request: a few common words, or a number when `varied`.
fn filler(rng: &mut Rng, varied: bool) -> String {
    const WORDS: [&str; 6] = ["prod", "staging", "dev", "eu-1", "x", ""];
    if varied {
        format!("{}{}", WORDS[rng.below(WORDS.len())], rng.below(1_000_000))
    } else {
        WORDS[rng.below(WORDS.len())].to_owned()
    }
}

/// The action and resource globs of every rule of a policy, as written.
fn glob_pairs(policy: &crate::Policy) -> Vec<(String, String)> {
    let doc = policy.doc();
    let hitl = doc
        .hitl
        .iter()
        .flat_map(|s| &s.rules)
        .map(|r| (r.action.node.to_string(), r.resource_glob().to_string()));
    let escalation = doc
        .escalation
        .iter()
        .flat_map(|s| &s.rules)
        .map(|r| (r.action_glob().to_string(), r.resource_glob().to_string()));
    hitl.chain(escalation).collect()
}

/// A string a glob might match: its literal characters, with a filler for each wildcard.
fn fill(glob: &str, rng: &mut Rng, varied: bool) -> String {
    let filler = filler(rng, varied);
    glob.chars()
        .filter(|c| !matches!(c, '[' | ']' | '{' | '}' | ',' | '\\' | '!' | '^'))
        .map(|c| {
            if c == '*' || c == '?' {
                filler.clone()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn request_for(pairs: &[(String, String)], rng: &mut Rng, varied: bool) -> Request {
    let (action, resource) = match pairs.get(rng.below(pairs.len())) {
        Some((a, r)) if rng.below(10) < 8 => (fill(a, rng, varied), fill(r, rng, varied)),
        _ => (
            format!("job_{}.run", rng.below(1000)),
            format!("queue/{}", filler(rng, varied)),
        ),
    };
    let action = if action.is_empty() {
        "x".to_owned()
    } else {
        action
    };
    let mut request = Request::new(action).resource(resource);
    request.confidence = confidence(rng);
    request
}

/// A workload for any policy: requests made of the literal parts of its own globs, so that
/// they reach past the first rules, mixed with strangers.
pub fn workload_for(policy: &crate::Policy, count: usize, seed: u64) -> Vec<Request> {
    let mut rng = Rng::new(seed);
    let pairs = glob_pairs(policy);
    (0..count)
        .map(|_| request_for(&pairs, &mut rng, false))
        .collect()
}

/// Like [`workload_for`], but pairwise distinct (numbers stand in for wildcards, and the
/// confidence varies); at most `count`, fewer only if the policy allows too few.
pub fn varied_workload_for(policy: &crate::Policy, count: usize, seed: u64) -> Vec<Request> {
    let mut rng = Rng::new(seed);
    let pairs = glob_pairs(policy);
    let mut seen: HashSet<(String, String, Option<u64>)> = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count.saturating_mul(4) {
        if out.len() == count {
            break;
        }
        let r = request_for(&pairs, &mut rng, true);
        if seen.insert((
            r.action.clone(),
            r.resource.clone(),
            r.confidence.map(f64::to_bits),
        )) {
            out.push(r);
        }
    }
    out
}

/// Families of complex globs that a policy may hold by the thousand, for `bench
/// --adversarial`: each rule `i` has its own literal (so no two rules are alike) between
/// stars shared by all, the shape that made a lazy DFA over their union explode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `*x{i}*y*z*` on `*{i}?*`.
    StarLiteral,
    /// `?` and classes: `*[a-f]x{i}?*[!0-9]z*` on `*?{i}[0-9a-f]*`.
    Classes,
    /// Brace alternations: `*{x,w}{i}*{y,v}*z*` on `*{a,b,}{i}?*`.
    Braces,
    /// The three above in turn, and `?*x{i}*` on `*[a-z]*{i}*`.
    Mixed,
}

impl Family {
    /// Every family, in table order.
    pub const ALL: [Family; 4] = [
        Family::StarLiteral,
        Family::Classes,
        Family::Braces,
        Family::Mixed,
    ];

    /// The family's name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Family::StarLiteral => "star-literal",
            Family::Classes => "classes",
            Family::Braces => "braces",
            Family::Mixed => "mixed",
        }
    }

    /// Rule `i`'s action and resource globs.
    pub fn globs(self, i: usize) -> (String, String) {
        let family = match self {
            Family::Mixed => match i % 4 {
                0 => Family::StarLiteral,
                1 => Family::Classes,
                2 => Family::Braces,
                _ => return (format!("?*x{i}*"), format!("*[a-z]*{i}*")),
            },
            other => other,
        };
        match family {
            Family::StarLiteral => (format!("*x{i}*y*z*"), format!("*{i}?*")),
            Family::Classes => (format!("*[a-f]x{i}?*[!0-9]z*"), format!("*?{i}[0-9a-f]*")),
            _ => (format!("*{{x,w}}{i}*{{y,v}}*z*"), format!("*{{a,b,}}{i}?*")),
        }
    }
}

/// A policy of `n` rules of a [`Family`] (rule numbers 0 to n-1), then a catch-all.
pub fn adversarial_policy_yaml(family: Family, n: usize) -> String {
    let mut out = String::with_capacity(n * 110 + 256);
    let _ = writeln!(
        out,
        "version: 1\nname: adversarial-{}\nhitl:\n  rules:",
        family.name()
    );
    for i in 0..n {
        let (action, resource) = family.globs(i);
        let _ = writeln!(
            out,
            "    - action: \"{action}\"\n      resource: \"{resource}\"\n      requireApproval: true\n      approvers: [user:u{}]",
            i % 7
        );
    }
    out.push_str("    - action: \"*\"\n      resource: \"*\"\n      requireApproval: false\n");
    out
}

/// The most bytes an adversarial field has: within the default request limit.
const ADVERSARIAL_BYTES: usize = crate::request::MAX_FIELD_BYTES;

/// Requests built to make a [`Family`] policy of `n` rules work hardest, every field within
/// the default limit (4 KiB): actions that hold the literal of one rule after another (so
/// that every rule is a candidate) with the shared pieces out of place (so that none
/// matches, and all are verified), and digit strings in which every rule's number occurs;
/// or dense runs of the characters the globs name; or, now and then, a request that a rule
/// deep in the list matches; or a *split* request, whose action half the rules match and
/// whose resource the other half match (see `split`), so that no rule matches and both
/// fields must be read whole. Pairwise distinct; deterministic in the seed.
pub fn adversarial_requests(family: Family, n: usize, count: usize, seed: u64) -> Vec<Request> {
    let mut rng = Rng::new(seed);
    let mut seen: HashSet<(String, String)> = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    for attempt in 0..count.saturating_mul(KINDS) {
        if out.len() == count {
            break;
        }
        let (action, resource) = match attempt % KINDS {
            0 | 1 => (keys_action(family, n, &mut rng), digits(&mut rng)),
            2 => (
                dense(&mut rng, &["x", "y", "z", "w", "v", "a", "1", "2", "é"]),
                dense(&mut rng, &["1", "2", "3", "a", "b", "é", "x"]),
            ),
            3 => late_match(family, n, &mut rng),
            _ => split(family, n, &mut rng),
        };
        if seen.insert((action.clone(), resource.clone())) {
            let mut request = Request::new(action).resource(resource);
            request.confidence = Some(rng.unit());
            out.push(request);
        }
    }
    out
}

/// How many kinds of request [`adversarial_requests`] makes, in turn.
pub const KINDS: usize = 5;

/// An action that the rules whose number starts with a digit from 5 to 9 match (their
/// literals, then the shared pieces in place), and a resource of digits 0 to 4 only, which
/// only rules whose number has no other digit can match: no rule matches both, and each
/// field has hundreds of candidates that hold until the field's end.
fn split(family: Family, n: usize, rng: &mut Rng) -> (String, String) {
    let tail = match family {
        Family::StarLiteral | Family::Braces => "yz",
        Family::Classes | Family::Mixed => "qyz",
    };
    let mut action = String::new();
    let high: Vec<usize> = (0..n.max(1))
        .filter(|i| i.to_string().as_bytes()[0] >= b'5')
        .collect();
    let start = rng.below(high.len().max(1));
    for k in 0..high.len() {
        let i = high[(start + k * 7919) % high.len()];
        let piece = match family {
            Family::StarLiteral => format!("x{i}"),
            Family::Classes | Family::Mixed => format!("ax{i}q"),
            Family::Braces => format!("{}{i}", if k % 2 == 0 { 'x' } else { 'w' }),
        };
        if action.len() + piece.len() + tail.len() > ADVERSARIAL_BYTES {
            break;
        }
        action.push_str(&piece);
    }
    action.push_str(tail);
    let mut resource = String::from("a");
    while resource.len() < ADVERSARIAL_BYTES {
        resource.push(char::from(b'0' + rng.below(5) as u8));
    }
    (action, resource)
}

/// Pushes `piece` unless that would pass the adversarial length.
fn push_within(out: &mut String, piece: &str) -> bool {
    if out.len() + piece.len() > ADVERSARIAL_BYTES {
        return false;
    }
    out.push_str(piece);
    true
}

/// The shared pieces first (where no rule can use them), then one rule's literal after
/// another, each with what its classes want around it.
fn keys_action(family: Family, n: usize, rng: &mut Rng) -> String {
    let mut out = String::from("zvyz");
    let start = rng.below(n.max(1));
    for k in 0..n {
        let i = (start + k * 7919) % n.max(1);
        let piece = match family {
            Family::StarLiteral => format!("x{i}"),
            Family::Classes => format!("ax{i}q"),
            Family::Braces => format!("{}{i}", if k % 2 == 0 { 'x' } else { 'w' }),
            Family::Mixed => format!("ax{i}q"),
        };
        if !push_within(&mut out, &piece) {
            break;
        }
    }
    out
}

/// Random digits (and a letter now and then): every number of a few digits occurs.
fn digits(rng: &mut Rng) -> String {
    let mut out = String::with_capacity(ADVERSARIAL_BYTES);
    while out.len() < ADVERSARIAL_BYTES {
        let c = if rng.below(16) == 0 {
            char::from(b'a' + rng.below(6) as u8)
        } else {
            char::from(b'0' + rng.below(10) as u8)
        };
        out.push(c);
    }
    out
}

/// Random picks of `pieces` up to the length.
fn dense(rng: &mut Rng, pieces: &[&str]) -> String {
    let mut out = String::with_capacity(ADVERSARIAL_BYTES);
    while let Some(piece) = pieces.get(rng.below(pieces.len())) {
        if !push_within(&mut out, piece) {
            break;
        }
    }
    out
}

/// A request that one rule in the last tenth matches, padded to the length.
fn late_match(family: Family, n: usize, rng: &mut Rng) -> (String, String) {
    let i = n.saturating_sub(1 + rng.below(n / 10 + 1));
    let (action, resource) = family.globs(i);
    let fill = |glob: &str, rng: &mut Rng| {
        let mut text = String::new();
        let mut chars = glob.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' | '?' => text.push('a'),
                '[' => {
                    // The class's first character, or one outside a negated class.
                    let negated = chars.peek() == Some(&'!');
                    let first = chars.find(|&c| c != '!').unwrap_or('a');
                    text.push(if negated { 'q' } else { first });
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                    }
                }
                '{' => {
                    let first: String = chars.by_ref().take_while(|&c| c != ',').collect();
                    text.push_str(&first);
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                }
                c => text.push(c),
            }
        }
        let pad = "é".repeat(rng.below(200));
        format!("{pad}{text}{pad}")
    };
    let action = fill(&action, rng);
    let resource = fill(&resource, rng);
    (action, resource)
}
