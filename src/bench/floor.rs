//! The floor: the least any engine can cost on a workload, since it only looks the answer up.
//!
//! Answers are precomputed (by the compiled policy) for every request of the workload and
//! stored once each. A lookup does what any engine must: it hashes the request's action and
//! resource with `std`'s `HashMap` (SipHash), borrowed from the request, finds the
//! confidence's band (the policy's own classes, a binary search over the band edges), and
//! returns the answer by reference. Nothing is copied or allocated per lookup.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::compile::CompiledPolicy;
use crate::{Decision, Request};

/// Marks a band no request of the workload asked about.
const UNSEEN: u32 = u32::MAX;

/// An action and a resource, owned (in the table) or borrowed (a request being looked up):
/// `HashMap` can look the owned keys up by the borrowed ones through this view.
trait Pair {
    fn parts(&self) -> (&str, &str);
}

impl Pair for (Box<str>, Box<str>) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl Pair for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn Pair + 'a> for (Box<str>, Box<str>) {
    fn borrow(&self) -> &(dyn Pair + 'a) {
        self
    }
}

impl Hash for dyn Pair + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `(String, String)` hashes: each string in turn.
        let (a, b) = self.parts();
        a.hash(state);
        b.hash(state);
    }
}

impl PartialEq for dyn Pair + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn Pair + '_ {}

/// Precomputed answers, found by the request. See the module docs.
pub struct Floor<'p> {
    compiled: &'p CompiledPolicy,
    /// Each pair's first slot in `slots`; a pair has one slot per band.
    map: HashMap<(Box<str>, Box<str>), u32>,
    /// An answer per pair and band (`UNSEEN` where no request asked).
    slots: Vec<u32>,
    answers: Vec<Decision<'p>>,
}

impl<'p> Floor<'p> {
    /// The answers of `compiled` for every request of `requests` (those it refuses are left
    /// out, and the floor has no answer for them either).
    pub fn new(compiled: &'p CompiledPolicy, requests: &[Request]) -> Floor<'p> {
        let bands = compiled.confidence_classes() as usize;
        let mut map: HashMap<(Box<str>, Box<str>), u32> = HashMap::with_capacity(requests.len());
        let mut slots = Vec::new();
        let mut answers = Vec::new();
        let mut answer_of: HashMap<(Option<usize>, Option<usize>), u32> = HashMap::new();
        for r in requests {
            let Ok(d) = compiled.decide(r) else { continue };
            let answer = *answer_of
                .entry((d.hitl_rule(), d.escalation_rule()))
                .or_insert_with(|| {
                    answers.push(d);
                    (answers.len() - 1) as u32
                });
            let first = *map
                .entry((r.action.as_str().into(), r.resource.as_str().into()))
                .or_insert_with(|| {
                    slots.resize(slots.len() + bands, UNSEEN);
                    (slots.len() - bands) as u32
                });
            let band = compiled.confidence_class(r.confidence.unwrap_or(0.0)) as usize;
            if let Some(slot) = slots.get_mut(first as usize + band) {
                *slot = answer;
            }
        }
        Floor {
            compiled,
            map,
            slots,
            answers,
        }
    }

    /// The answer to a request of the workload, by reference; `None` for any other.
    #[inline]
    pub fn decide(&self, request: &Request) -> Option<&Decision<'p>> {
        let key: &dyn Pair = &(request.action.as_str(), request.resource.as_str());
        let first = *self.map.get(key)?;
        let band = self
            .compiled
            .confidence_class(request.confidence.unwrap_or(0.0));
        let answer = *self.slots.get(first as usize + band as usize)?;
        self.answers.get(answer as usize)
    }

    /// How many distinct action and resource pairs it holds.
    pub fn pairs(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;
    use crate::bench::generate::{self, Stages};

    #[test]
    fn the_floor_answers_what_the_compiled_policy_decides() {
        for stages in Stages::ALL {
            let yaml = generate::first_match_policy_yaml(40, stages);
            let policy = Policy::from_yaml_str(&yaml, "floor.yaml").unwrap();
            let compiled = policy.compile();
            let requests = generate::first_match_workload(40, 2_000, 5, true);
            let floor = Floor::new(&compiled, &requests);
            for r in &requests {
                assert_eq!(floor.decide(r), compiled.decide(r).ok().as_ref(), "{r:?}");
            }
            let stranger = Request::new("never.asked").resource("nowhere");
            assert_eq!(floor.decide(&stranger), None);
            // Distinct requests that differ only in their confidence share one pair.
            assert!(floor.pairs() < requests.len());
        }
    }
}
