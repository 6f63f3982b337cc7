//! The vote rules against an independent model: random chains and random sequences of votes
//! (listed, unlisted, repeated, by the agent, approvals and rejections) must give the same
//! effect, vote by vote, as a plain reading of spec section 8.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rekall_policy::model::VoteEffect;
use rekall_policy::model::{
    ApprovalRequest, ApprovalStatus, Choice, ExecutionId, StepSpec, VoteError,
};
use rekall_policy::runtime::RuntimeError;

use crate::common::{T0, p};

const POOL: [&str; 6] = [
    "user:a",
    "user:b",
    "user:c",
    "user:d",
    "user:e",
    "agent:bot",
];
const AGENT: usize = 5;

#[derive(Debug, Clone)]
struct Chain {
    /// Per step: approvers (indices into POOL) and minApprovals.
    steps: Vec<(BTreeSet<usize>, u32)>,
}

fn chain() -> impl Strategy<Value = Chain> {
    prop::collection::vec(
        (prop::collection::btree_set(0usize..6, 1..5), 1u32..4),
        1..4,
    )
    .prop_map(|steps| Chain {
        steps: steps
            .into_iter()
            .map(|(approvers, min)| {
                // Keep the quorum reachable without the agent, as request_approval requires.
                let others = approvers.iter().filter(|i| **i != AGENT).count().max(1) as u32;
                let mut approvers = approvers;
                if approvers.iter().all(|i| *i == AGENT) {
                    approvers.insert(0);
                }
                (approvers, min.min(others))
            })
            .collect(),
    })
}

/// What the model expects of one vote.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Resolved,
    SelfApproval,
    CrossStep,
    NotListed,
    Ignored,
    Counted,
    NextStep(usize),
    Done(ApprovalStatus),
}

struct Model {
    chain: Chain,
    current: usize,
    status: ApprovalStatus,
    approvals: Vec<BTreeSet<usize>>,
    voted_in: BTreeMap<usize, usize>,
}

impl Model {
    fn vote(&mut self, who: usize, approve: bool) -> Expect {
        // Authorization first: the requester, then principals no step lists.
        if who == AGENT {
            return Expect::SelfApproval;
        }
        if !self
            .chain
            .steps
            .iter()
            .any(|(approvers, _)| approvers.contains(&who))
        {
            return Expect::NotListed;
        }
        if self.status != ApprovalStatus::Pending {
            return Expect::Resolved;
        }
        if let Some(step) = self.voted_in.get(&who)
            && *step < self.current
        {
            return Expect::CrossStep;
        }
        let (approvers, min) = &self.chain.steps[self.current];
        if !approvers.contains(&who) {
            return Expect::NotListed;
        }
        if self.voted_in.get(&who) == Some(&self.current) {
            return Expect::Ignored;
        }
        self.voted_in.insert(who, self.current);
        if !approve {
            self.status = ApprovalStatus::Rejected;
            return Expect::Done(ApprovalStatus::Rejected);
        }
        self.approvals[self.current].insert(who);
        if (self.approvals[self.current].len() as u32) < *min {
            return Expect::Counted;
        }
        if self.current + 1 < self.chain.steps.len() {
            self.current += 1;
            return Expect::NextStep(self.current);
        }
        self.status = ApprovalStatus::Approved;
        Expect::Done(ApprovalStatus::Approved)
    }
}

fn actual(r: Result<VoteEffect, VoteError>) -> Expect {
    match r {
        Ok(VoteEffect::Ignored) => Expect::Ignored,
        Ok(VoteEffect::Counted) => Expect::Counted,
        Ok(VoteEffect::NextStep(i)) => Expect::NextStep(i),
        Ok(VoteEffect::Resolved(s)) => Expect::Done(s),
        Err(VoteError::AlreadyResolved { .. }) => Expect::Resolved,
        Err(VoteError::SelfApproval { .. }) => Expect::SelfApproval,
        Err(VoteError::CrossStepVote { .. }) => Expect::CrossStep,
        Err(VoteError::NotAnApprover { .. }) => Expect::NotListed,
        Err(e @ VoteError::DeadlinePassed { .. }) => {
            panic!("no deadlines here: {}", RuntimeError::from(e))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn votes_follow_the_model(chain in chain(), votes in prop::collection::vec((0usize..6, prop::bool::weighted(0.85)), 0..30)) {
        let specs: Vec<StepSpec> = chain
            .steps
            .iter()
            .enumerate()
            .map(|(i, (approvers, min))| {
                StepSpec::new(format!("step {i}"), approvers.iter().map(|a| p(POOL[*a])).collect())
                    .min_approvals(*min)
            })
            .collect();
        let mut req = ApprovalRequest::new(
            ExecutionId::from("exe_model"),
            p(POOL[AGENT]),
            "model".into(),
            String::new(),
            specs,
            true,
            T0,
        );
        let mut model = Model {
            approvals: vec![BTreeSet::new(); chain.steps.len()],
            chain,
            current: 0,
            status: ApprovalStatus::Pending,
            voted_in: BTreeMap::new(),
        };
        let mut resolutions = 0;
        for (who, approve) in votes {
            let choice = if approve { Choice::Approve } else { Choice::Reject };
            let before = req.clone();
            let may = req.may_vote(&p(POOL[who]));
            let got = actual(req.vote(&p(POOL[who]), choice, None, T0));
            let want = model.vote(who, approve);
            prop_assert_eq!(&got, &want, "vote by {} ({:?})", POOL[who], choice);
            let counted = matches!(want, Expect::Counted | Expect::NextStep(_) | Expect::Done(_));
            prop_assert_eq!(may, counted, "may_vote agrees with the vote");
            if matches!(got, Expect::Done(_)) {
                resolutions += 1;
            }
            if !matches!(got, Expect::Counted | Expect::NextStep(_) | Expect::Done(_)) {
                prop_assert_eq!(&req, &before, "a refused or ignored vote changes nothing");
            }
            prop_assert_eq!(req.status, model.status);
            prop_assert_eq!(req.current, model.current);
        }
        prop_assert!(resolutions <= 1, "resolved at most once");
        // Approved means every step has its quorum of distinct listed approvers, none the agent.
        if req.status == ApprovalStatus::Approved {
            for step in &req.steps {
                let by: BTreeSet<_> = step.approved_by().into_iter().collect();
                prop_assert!(by.len() as u32 >= step.spec.min_approvals);
                prop_assert!(by.iter().all(|p| step.spec.approvers.contains(p)));
                prop_assert!(!by.contains(&req.requested_by));
            }
        }
    }
}
