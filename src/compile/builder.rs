//! From a validated [`Policy`] to a [`CompiledPolicy`]: each rule goes to the cheapest
//! matcher that can take it (the index for exact and prefix globs, the automaton for the
//! rest), and rules that an earlier catch-all hides are dropped.

use regex_automata::util::pool::Pool;

use crate::policy::Policy;
use crate::request::Limits;

use super::automaton::{Automaton, ComplexRule, Prefilter};
use super::complex::{
    ComplexMatcherBuilder, ComplexScratch, MAX_FORMS as MAX_MATCHER_FORMS, matcher_forms,
};
use super::confidence::{ClassRange, Classes};
use super::index::{IndexBuilder, NONE};
use super::pattern::{MAX_FORMS, Simple, simple_forms};
use super::{Caches, CompiledPolicy, StageMatcher};

/// Compiles a policy. Separate from [`CompiledPolicy`], as a globset `GlobSetBuilder` is
/// from its `GlobSet`: building sorts and indexes, matching only looks up.
///
/// ```
/// use rekall_policy::Policy;
/// use rekall_policy::compile::Builder;
///
/// let policy = Policy::from_path("policies/seed.yaml")?;
/// let compiled = Builder::new(&policy).build();
/// assert_eq!(compiled.decide_str("delete", "db", Some(0.95))?.outcome().as_str(), "request-approval");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder<'p> {
    policy: &'p Policy,
    automaton: bool,
    limits: Limits,
}

/// One rule as a stage sees it.
struct StageRule<'a> {
    action: &'a crate::glob::Glob,
    resource: crate::glob::Glob,
    /// `None` for a HITL rule, which holds at every confidence.
    band: Option<(f64, f64)>,
}

impl<'p> Builder<'p> {
    /// A builder for `policy`, with the automaton on.
    pub fn new(policy: &'p Policy) -> Builder<'p> {
        Builder {
            policy,
            automaton: true,
            limits: Limits::default(),
        }
    }

    /// The bounds a request must keep to be decided (by default [`Limits::default`]: 4 KiB
    /// per field). A request beyond them is an error, never a decision.
    pub fn limits(mut self, limits: Limits) -> Builder<'p> {
        self.limits = limits;
        self
    }

    /// Whether rules with complex globs go to the complex-glob matcher and the lazy DFA (the
    /// default) or are matched one by one with the reference glob matcher. Meant for tests
    /// and measurements.
    pub fn automaton(mut self, yes: bool) -> Builder<'p> {
        self.automaton = yes;
        self
    }

    /// Compiles. Never fails: a rule the automaton cannot take is matched one by one.
    pub fn build(&self) -> CompiledPolicy {
        let doc = self.policy.doc();
        let escalation_rules = doc.escalation.as_ref().map(|s| &s.rules);
        let classes = Classes::new(escalation_rules.into_iter().flatten().map(|r| r.band()));
        let hitl = doc.hitl.as_ref().map(|s| {
            let rules = s.rules.iter().map(|r| StageRule {
                action: &r.action.node,
                resource: r.resource_glob(),
                band: None,
            });
            self.stage(rules, &classes)
        });
        let any = crate::glob::Glob::any();
        let escalation = escalation_rules.map(|rules| {
            let rules = rules.iter().map(|r| StageRule {
                action: r.match_action.as_ref().map_or(&any, |g| &g.node),
                resource: r.resource_glob(),
                band: Some(r.band()),
            });
            self.stage(rules, &classes)
        });
        let automata = (
            hitl.as_ref().and_then(|s| s.automaton.clone()),
            escalation.as_ref().and_then(|s| s.automaton.clone()),
        );
        let caches = Pool::new(Box::new(move || Caches {
            hitl: automata.0.as_ref().map(Automaton::create_cache),
            escalation: automata.1.as_ref().map(Automaton::create_cache),
            hitl_scratch: ComplexScratch::default(),
            escalation_scratch: ComplexScratch::default(),
            fallback: 0,
        }) as super::CacheFn);
        CompiledPolicy {
            verdicts: self.policy.shared_verdicts(),
            name: self.policy.name().map(str::to_owned),
            classes,
            hitl,
            escalation,
            caches,
            limits: self.limits,
        }
    }

    fn stage<'a>(
        &self,
        rules: impl Iterator<Item = StageRule<'a>>,
        classes: &Classes,
    ) -> StageMatcher {
        let mut index = IndexBuilder::default();
        let mut complex = Vec::new();
        let full: ClassRange = (0, classes.count() - 1);
        let mut band_stage = false;
        for (i, rule) in rules.enumerate() {
            band_stage |= rule.band.is_some();
            let Ok(number) = u32::try_from(i) else { break };
            let band = match rule.band {
                None => None,
                Some((lo, hi)) => match classes.range(lo, hi) {
                    Some(range) => Some(range),
                    // A band that holds no confidence (`[x, x]` below 1): the rule never matches.
                    None => continue,
                },
            };
            let forms = (simple_forms(rule.action), simple_forms(&rule.resource));
            match forms {
                // The index has one class for a HITL stage, whose rules hold everywhere.
                (Some(actions), Some(resources))
                    if actions.len() * resources.len() <= MAX_FORMS
                        && index.add(number, &actions, &resources, band.unwrap_or((0, 0))) =>
                {
                    let everything = Simple::Prefix(String::new());
                    if actions.contains(&everything)
                        && resources.contains(&everything)
                        && band.is_none_or(|b| b == full)
                    {
                        // Every later rule is hidden behind this one.
                        break;
                    }
                }
                _ => complex.push(ComplexRule {
                    rule: number,
                    action: rule.action.clone(),
                    resource: rule.resource,
                    band,
                }),
            }
        }
        let prefilter: Option<Vec<Prefilter>> = (complex.len() <= Prefilter::MAX_RULES)
            .then(|| complex.iter().map(Prefilter::new).collect());
        let screened = prefilter
            .as_ref()
            .is_some_and(|p| p.iter().all(Prefilter::exact));
        // The matcher takes every rule whose globs expand to few enough forms; the lazy DFA
        // (and, when it gives up, the reference matcher) the others.
        let mut matcher = ComplexMatcherBuilder::default();
        let mut fallback = Vec::new();
        for rule in &complex {
            let taken = if self.automaton && !screened {
                matcher_forms(&rule.action).zip(matcher_forms(&rule.resource))
            } else {
                None
            };
            match taken {
                Some((actions, resources)) => matcher.add(
                    rule.rule,
                    (&rule.action, &actions),
                    (&rule.resource, &resources),
                    rule.band,
                ),
                None => fallback.push(rule.clone()),
            }
        }
        let mut costly: Vec<(u32, String)> = if screened {
            Vec::new()
        } else {
            fallback
                .iter()
                .map(|r| {
                    (
                        r.rule,
                        format!(
                            "its globs expand to more than {MAX_MATCHER_FORMS} alternatives, so it is matched by a lazy DFA or one rule at a time, in time that grows with the request's length times the rules'"
                        ),
                    )
                })
                .collect()
        };
        let matcher = (!matcher.is_empty()).then(|| {
            let (matcher, blamed) = matcher.build();
            costly.extend(blamed);
            matcher
        });
        costly.sort_by_key(|(rule, _)| *rule);
        costly.dedup_by_key(|(rule, _)| *rule);
        let automaton = if self.automaton && !screened && !fallback.is_empty() {
            Automaton::build(&fallback, classes)
        } else {
            None
        };
        StageMatcher {
            index: index.build(if band_stage { classes.count() } else { 1 }),
            complex_min: complex.first().map_or(NONE, |c| c.rule),
            prefilter,
            screened,
            automaton,
            matcher,
            costly,
            fallback,
            complex,
        }
    }
}

impl Policy {
    /// Compiles the policy for fast deciding, with the defaults of [`Builder`]; see
    /// [`crate::compile`].
    pub fn compile(&self) -> CompiledPolicy {
        Builder::new(self).build()
    }
}
