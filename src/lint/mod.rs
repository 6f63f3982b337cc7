//! Lint: warnings about policies that are valid but probably not what their authors meant.
//! Each warning has a stable code (documented in the README with an example):
//!
//! - `shadowed-rule`: a rule that can never be the first match, because earlier rules (one, or
//!   several together) match every request it matches; for escalation rules, with the bands.
//! - `unmatchable-rule`: a rule whose globs match no request at all (such as `action: ""`).
//! - `empty-band`: a band `[x, x]` below 1.0, which holds no confidence.
//! - `dead-band-part`: part of a band that earlier rules always take.
//! - `band-gap`: requests whose escalation rules leave part of [0, 1] uncovered, so those
//!   confidences fall through to the defaults.
//! - `no-catch-all`: requests that match no rule of a stage at all and get the default.
//! - `closed-band`: a DSL band ending below 1.0 written with `]`, which reads as if its upper
//!   bound were in the band.
//! - `undecided`: the policy is too large for the exact analysis within its budget.
//! - `costly-globs`: rules whose globs the compiled policy cannot decide within its promised
//!   work per request byte (literals that end inside one another by the dozen, many
//!   `?`-and-class-only segments, more alternatives than it expands).
//!
//! A file can accept a code with a comment `# lint: allow CODE`.
//!
//! The same exact analysis, run over two versions of a policy, decides whether the new one is
//! at least as strict on every request: [`stricter`].

mod bands;
mod budget;
mod costly;
mod language;
mod nfa;
pub mod stricter;

use serde::Serialize;

use crate::decision::Verdict;
use crate::glob::Glob;
use crate::ir::{EscalationRule, HitlRule, PolicyDoc};
use crate::policy::Policy;
use crate::source::Span;
use bands::Piece;
pub use budget::Budget;
use budget::OutOfBudget;
use language::MatchSet;

/// The work (in [`Budget`] units: glob states stepped, rules looked at, example characters
/// written, four bytes held) that the exact analysis of one stage may do before it gives up
/// and says `undecided`. It bounds both time and memory, whatever the policy.
pub const BUDGET: usize = 40_000_000;

/// One warning.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
    #[serde(skip)]
    pub span: Span,
    pub line: u32,
    pub col: u32,
    /// The other rules involved, with where they are.
    pub related: Vec<Related>,
    /// A request that shows the problem, where there is one.
    pub example: Option<Example>,
    pub help: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Related {
    pub stage: &'static str,
    pub rule: usize,
    pub line: u32,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    pub action: String,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
}

impl std::fmt::Display for Example {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "action {:?}, resource {:?}", self.action, self.resource)?;
        if let Some(c) = self.confidence {
            write!(f, ", confidence {c:?}")?;
        }
        Ok(())
    }
}

impl Warning {
    fn new(code: &'static str, span: Span, message: String) -> Warning {
        Warning {
            code,
            message,
            span,
            line: span.line,
            col: span.col,
            related: Vec::new(),
            example: None,
            help: None,
        }
    }
}

/// Lints a valid policy. Warnings come in source order.
pub fn lint(policy: &Policy) -> Vec<Warning> {
    lint_within(policy, BUDGET).warnings
}

/// What [`lint_within`] found, and the work its exact analysis did.
#[derive(Debug, Clone)]
pub struct Report {
    pub warnings: Vec<Warning>,
    /// Budget units used by each stage's analysis; neither exceeds the budget.
    pub work: Work,
}

/// Budget units used, per stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Work {
    pub hitl: usize,
    pub escalation: usize,
}

/// Lints a valid policy, with `budget` units for the analysis of each stage (the CLI's is
/// [`BUDGET`]). A stage whose analysis runs out gets one `undecided` warning and no other
/// claim from the analysis.
pub fn lint_within(policy: &Policy, budget: usize) -> Report {
    let doc = policy.doc();
    let default = describe_verdict(&policy.verdicts().no_match);
    let mut out = Vec::new();
    let mut work = Work::default();
    if let Some(hitl) = &doc.hitl {
        let mut b = Budget::new(budget);
        match hitl_stage(&hitl.rules, *hitl.span, &default, &mut b) {
            Ok(found) => out.extend(found),
            Err(OutOfBudget) => out.push(undecided(*hitl.span, "hitl", budget)),
        }
        work.hitl = b.used();
    }
    if let Some(escalation) = &doc.escalation {
        let mut b = Budget::new(budget);
        // Warnings that need no analysis come whether or not it finishes.
        out.extend(closed_bands(&escalation.rules));
        match escalation_stage(&escalation.rules, *escalation.span, &default, &mut b) {
            Ok(found) => out.extend(found),
            Err(OutOfBudget) => out.push(undecided(*escalation.span, "escalation", budget)),
        }
        work.escalation = b.used();
    }
    costly::costly_globs(policy, &mut out);
    let allowed = allowed_codes(doc);
    out.retain(|w| !allowed.iter().any(|a| a == w.code));
    out.sort_by_key(|w| (w.line, w.col, w.code));
    Report {
        warnings: out,
        work,
    }
}

/// Codes accepted by `# lint: allow CODE` comments.
fn allowed_codes(doc: &PolicyDoc) -> Vec<String> {
    doc.comments
        .by_line
        .values()
        .flatten()
        .chain(&doc.comments.trailing)
        .filter_map(|c| c.trim().strip_prefix("lint: allow "))
        .flat_map(|codes| {
            codes
                .split([',', ' '])
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
        })
        .collect()
}

/// For each HITL rule, a request it is the first match for, or `None` when no request is
/// (the rule is shadowed or matches nothing). `None` overall when the analysis exceeds its
/// budget. This is the evidence behind `shadowed-rule`.
pub fn hitl_first_match_examples(policy: &Policy) -> Option<Vec<Option<Example>>> {
    let rules = policy.doc().hitl.as_ref().map_or(&[][..], |s| &s.rules[..]);
    let globs: Vec<(Glob, Glob)> = rules
        .iter()
        .map(|r| (r.action.node.clone(), r.resource_glob()))
        .collect();
    let refs: Vec<(&Glob, &Glob)> = globs.iter().map(|(a, r)| (a, r)).collect();
    let sets = language::explore(&refs, &mut Budget::new(BUDGET)).ok()?;
    let mut examples: Vec<Option<Example>> = vec![None; rules.len()];
    for m in &sets {
        if let Some(&k) = m.rules.first()
            && examples[k].is_none()
        {
            examples[k] = Some(Example {
                action: m.action.clone(),
                resource: m.resource.clone(),
                confidence: None,
            });
        }
    }
    Some(examples)
}

fn describe_verdict(v: &Verdict) -> String {
    if v.approvers.is_empty() {
        v.outcome.to_string()
    } else {
        let names: Vec<&str> = v.approvers.iter().map(|p| p.as_str()).collect();
        format!("{} by {}", v.outcome, names.join(", "))
    }
}

fn rule_label(
    stage: &str,
    index: usize,
    id: Option<&str>,
    action: &Glob,
    resource: &Glob,
) -> String {
    match id {
        Some(id) => format!("{stage} rule {index} ({id})"),
        None => format!("{stage} rule {index} (`{action}` on `{resource}`)"),
    }
}

fn head(span: Span) -> Span {
    Span::at(span.line, span.col, 1)
}

fn undecided(span: Span, stage: &str, budget: usize) -> Warning {
    let mut w = Warning::new(
        "undecided",
        head(span),
        format!(
            "could not decide which {stage} rules are shadowed: the analysis needs more than its budget of {budget} steps"
        ),
    );
    w.help = Some("split the stage's rules into simpler globs, or accept the code with `# lint: allow undecided`".into());
    w
}

fn hitl_stage(
    rules: &[HitlRule],
    section: Span,
    default: &str,
    budget: &mut Budget,
) -> Result<Vec<Warning>, OutOfBudget> {
    let mut out = Vec::new();
    let globs: Vec<(Glob, Glob)> = rules
        .iter()
        .map(|r| (r.action.node.clone(), r.resource_glob()))
        .collect();
    let refs: Vec<(&Glob, &Glob)> = globs.iter().map(|(a, r)| (a, r)).collect();
    let sets = language::explore(&refs, budget)?;
    let label = |j: usize| {
        rule_label(
            "hitl",
            j,
            rules[j].id.as_deref().map(String::as_str),
            &globs[j].0,
            &globs[j].1,
        )
    };
    let related = |j: usize| Related {
        stage: "hitl",
        rule: j,
        line: rules[j].span.line,
        label: label(j),
    };
    // One pass over the sets: which rules match at all, which come first somewhere, and which
    // rules come before each one.
    let mut matched = vec![false; rules.len()];
    let mut first = vec![false; rules.len()];
    let mut covering: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
    for m in &sets {
        budget.charge(m.rules.len())?;
        let Some(&lead) = m.rules.first() else {
            continue;
        };
        first[lead] = true;
        for &j in &m.rules {
            matched[j] = true;
            if j != lead {
                covering[j].push(lead);
            }
        }
    }
    for (k, rule) in rules.iter().enumerate() {
        if !matched[k] {
            let mut w = Warning::new(
                "unmatchable-rule",
                head(*rule.span),
                format!("{} matches no request", label(k)),
            );
            w.help = Some("an action is never empty; check the globs".into());
            out.push(w);
            continue;
        }
        if first[k] {
            continue;
        }
        let covering = &mut covering[k];
        covering.sort_unstable();
        covering.dedup();
        budget.charge(covering.len())?;
        let mut w = Warning::new(
            "shadowed-rule",
            head(*rule.span),
            format!("{} can never be the first match", label(k)),
        );
        w.related = covering.iter().map(|&j| related(j)).collect();
        let by: Vec<String> = covering
            .iter()
            .map(|&j| format!("{} at line {}", label(j), rules[j].span.line))
            .collect();
        w.help = Some(format!(
            "every request it matches is matched first by {}; move it above, or remove it",
            join_and(&by)
        ));
        out.push(w);
    }
    if let Some(none) = sets.iter().find(|m| m.rules.is_empty()) {
        let mut w = Warning::new(
            "no-catch-all",
            head(section),
            format!(
                "some requests match no hitl rule, such as action {:?} on resource {:?}; they get the default: {default}",
                none.action, none.resource
            ),
        );
        w.example = Some(Example {
            action: none.action.clone(),
            resource: none.resource.clone(),
            confidence: None,
        });
        w.help = Some("end the rules with `action: \"*\"` (and `resource: \"*\"`) to say what everything else gets".into());
        out.push(w);
    }
    Ok(out)
}

/// The escalation rules' joint glob language and the pieces their bands cut [0, 1] into:
/// together, every kind of request the stage can see.
struct EscalationLanguage {
    globs: Vec<(Glob, Glob)>,
    sets: Vec<MatchSet>,
    pieces: Vec<Piece>,
    /// For each rule, the sets it is in (indices into `sets`).
    containing: Vec<Vec<usize>>,
}

impl EscalationLanguage {
    fn explore(rules: &[EscalationRule], budget: &mut Budget) -> Result<Self, OutOfBudget> {
        let globs: Vec<(Glob, Glob)> = rules
            .iter()
            .map(|r| (r.action_glob(), r.resource_glob()))
            .collect();
        let refs: Vec<(&Glob, &Glob)> = globs.iter().map(|(a, r)| (a, r)).collect();
        let sets = language::explore(&refs, budget)?;
        let band_list: Vec<(f64, f64)> = rules.iter().map(EscalationRule::band).collect();
        let pieces = bands::pieces(&band_list);
        budget.charge(pieces.len())?;
        let mut containing: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
        for (i, m) in sets.iter().enumerate() {
            budget.charge(m.rules.len())?;
            for &j in &m.rules {
                containing[j].push(i);
            }
        }
        Ok(EscalationLanguage {
            globs,
            sets,
            pieces,
            containing,
        })
    }

    /// The first rule of `m` whose band holds piece `p`, charging the rules looked at.
    fn first(
        rules: &[EscalationRule],
        m: &MatchSet,
        p: &Piece,
        budget: &mut Budget,
    ) -> Result<Option<usize>, OutOfBudget> {
        let found = m.rules.iter().position(|&j| rules[j].holds(p.sample()));
        budget.charge(found.map_or(m.rules.len(), |i| i + 1))?;
        Ok(found.map(|i| m.rules[i]))
    }
}

/// For each escalation rule, a request (with a confidence) it is the first match for, or
/// `None` when no request is. `None` overall when the analysis exceeds its budget. This is
/// the evidence behind `shadowed-rule` and `empty-band` for the escalation stage.
pub fn escalation_first_match_examples(policy: &Policy) -> Option<Vec<Option<Example>>> {
    let rules = policy
        .doc()
        .escalation
        .as_ref()
        .map_or(&[][..], |s| &s.rules[..]);
    let budget = &mut Budget::new(BUDGET);
    let language = EscalationLanguage::explore(rules, budget).ok()?;
    let mut examples: Vec<Option<Example>> = vec![None; rules.len()];
    // The first set (in order) where a rule comes first, at the first such piece.
    for m in &language.sets {
        for p in &language.pieces {
            if let Some(k) = EscalationLanguage::first(rules, m, p, budget).ok()?
                && examples[k].is_none()
            {
                examples[k] = Some(Example {
                    action: m.action.clone(),
                    resource: m.resource.clone(),
                    confidence: Some(p.sample()),
                });
            }
        }
    }
    Some(examples)
}

/// `closed-band`: a band written `[lo, hi]` with `hi` below 1.0, which needs no analysis.
fn closed_bands(rules: &[EscalationRule]) -> Vec<Warning> {
    let mut out = Vec::new();
    for (k, rule) in rules.iter().enumerate() {
        if let Some(range) = &rule.confidence_range
            && let Some(at) = range.node.closed_below_one.0
        {
            let (lo, hi) = (range.node.lo.node, range.node.hi.node);
            let label = rule_label(
                "escalation",
                k,
                rule.id.as_deref().map(String::as_str),
                &rule.action_glob(),
                &rule.resource_glob(),
            );
            let mut w = Warning::new(
                "closed-band",
                at,
                format!(
                    "the band of {label} is written [{lo:?}, {hi:?}] but does not hold {hi:?}: a band holds lo <= c < hi unless hi is 1.0"
                ),
            );
            w.help = Some(format!(
                "write `[{lo:?}, {hi:?})`, which says what it means"
            ));
            out.push(w);
        }
    }
    out
}

fn escalation_stage(
    rules: &[EscalationRule],
    section: Span,
    default: &str,
    budget: &mut Budget,
) -> Result<Vec<Warning>, OutOfBudget> {
    let mut out = Vec::new();
    let EscalationLanguage {
        globs,
        sets,
        pieces,
        containing,
    } = EscalationLanguage::explore(rules, budget)?;
    let holds = |j: usize, p: &Piece| rules[j].holds(p.sample());
    let first = |m: &MatchSet, p: &Piece, budget: &mut Budget| {
        EscalationLanguage::first(rules, m, p, budget)
    };
    let label = |j: usize| {
        rule_label(
            "escalation",
            j,
            rules[j].id.as_deref().map(String::as_str),
            &globs[j].0,
            &globs[j].1,
        )
    };

    for (k, rule) in rules.iter().enumerate() {
        budget.charge(pieces.len())?;
        let live: Vec<Piece> = pieces.iter().copied().filter(|p| holds(k, p)).collect();
        let at = rule
            .confidence_range
            .as_ref()
            .map_or(head(*rule.span), |r| r.span);
        if live.is_empty() {
            let (lo, hi) = rule.band();
            let mut w = Warning::new(
                "empty-band",
                at,
                format!(
                    "{} has the band [{lo:?}, {hi:?}], which holds no confidence",
                    label(k)
                ),
            );
            w.help = Some(
                "a band holds lo <= c < hi (1.0 only when hi is 1.0); widen it or remove the rule"
                    .into(),
            );
            out.push(w);
            continue;
        }
        let with_k: Vec<&MatchSet> = containing[k].iter().map(|&i| &sets[i]).collect();
        if with_k.is_empty() {
            out.push(Warning::new(
                "unmatchable-rule",
                head(*rule.span),
                format!("{} matches no request", label(k)),
            ));
            continue;
        }
        // For each live piece: does rule k ever come first there, and if not, who takes it?
        let mut dead: Vec<Piece> = Vec::new();
        let mut takers: Vec<usize> = Vec::new();
        for p in &live {
            let mut firsts: Vec<usize> = Vec::new();
            for m in &with_k {
                if let Some(j) = first(m, p, budget)? {
                    firsts.push(j);
                }
            }
            if !firsts.contains(&k) {
                dead.push(*p);
                takers.extend(firsts);
            }
        }
        if dead.is_empty() {
            continue;
        }
        takers.sort_unstable();
        takers.dedup();
        budget.charge(takers.len())?;
        let by: Vec<String> = takers
            .iter()
            .map(|&j| format!("{} at line {}", label(j), rules[j].span.line))
            .collect();
        let related: Vec<Related> = takers
            .iter()
            .map(|&j| Related {
                stage: "escalation",
                rule: j,
                line: rules[j].span.line,
                label: label(j),
            })
            .collect();
        let mut w = if dead.len() == live.len() {
            let mut w = Warning::new(
                "shadowed-rule",
                head(*rule.span),
                format!("{} can never be the first match", label(k)),
            );
            w.help = Some(format!(
                "every request it matches, at every confidence of its band, is matched first by {}",
                join_and(&by)
            ));
            w
        } else {
            let part = bands::describe(&bands::intervals(&dead));
            let mut w = Warning::new(
                "dead-band-part",
                at,
                format!(
                    "the part {part} of the band of {} is always taken by earlier rules",
                    label(k)
                ),
            );
            w.help = Some(format!(
                "{} take it first; narrow the band to what is left",
                join_and(&by)
            ));
            w
        };
        w.related = related;
        out.push(w);
    }

    // Gaps: per set of rules that can match together, the confidences none of them holds.
    let mut reported: std::collections::HashSet<String> = std::collections::HashSet::new();
    for m in &sets {
        let mut uncovered: Vec<Piece> = Vec::new();
        for p in &pieces {
            if first(m, p, budget)?.is_none() {
                uncovered.push(*p);
            }
        }
        if uncovered.is_empty() {
            continue;
        }
        let part = bands::describe(&bands::intervals(&uncovered));
        budget.charge(part.len())?;
        if reported.contains(&part) && !m.rules.is_empty() {
            continue;
        }
        let example = Example {
            action: m.action.clone(),
            resource: m.resource.clone(),
            confidence: Some(uncovered[0].sample()),
        };
        let w = if m.rules.is_empty() {
            let mut w = Warning::new(
                "no-catch-all",
                head(section),
                format!(
                    "some requests match no escalation rule at any confidence, such as {example}; they get the default: {default}"
                ),
            );
            w.help = Some("add a rule without `match` to say what everything else gets".into());
            w
        } else {
            budget.charge(m.rules.len())?;
            let names: Vec<String> = m.rules.iter().map(|&j| label(j)).collect();
            let mut w = Warning::new(
                "band-gap",
                head(section),
                format!(
                    "confidences {part} are in no band for requests such as {example} (matched by {}); they get the default: {default}",
                    join_and(&names)
                ),
            );
            w.help = Some("add a band for those confidences, or accept the default with `# lint: allow band-gap`".into());
            w
        };
        reported.insert(part);
        out.push(Warning {
            example: Some(example),
            ..w
        });
    }
    Ok(out)
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
