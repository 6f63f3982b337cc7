//! Which votes of an approval request a write adds. Each backend keeps one row per counted
//! vote, keyed by (request, step, principal), so that a second vote by one principal on one
//! step is refused by the schema itself, even from a caller that got the rules wrong. A
//! step's votes are only ever appended, so the new ones are those past the count stored.

use crate::model::{ApprovalRequest, Choice, Vote};
use crate::store::StoreError;

/// A vote to store: its step's index and the vote.
pub(crate) type NewVote<'a> = (usize, &'a Vote);

/// The votes of `request` past `stored` (how many rows each step has, by step index).
/// A step with fewer votes than stored rows would take a counted vote back: refused.
pub(crate) fn new_votes<'a>(
    request: &'a ApprovalRequest,
    stored: &[(usize, usize)],
) -> Result<Vec<NewVote<'a>>, StoreError> {
    let mut out = Vec::new();
    for (index, step) in request.steps.iter().enumerate() {
        let have = stored
            .iter()
            .find(|(s, _)| *s == index)
            .map_or(0, |(_, n)| *n);
        if step.votes.len() < have {
            return Err(StoreError::Conflict {
                record: "vote",
                id: format!("{} step {}", request.id, index + 1),
                expected: None,
            });
        }
        out.extend(step.votes.iter().skip(have).map(|v| (index, v)));
    }
    Ok(out)
}

/// The conflict of a vote that the key refused: this principal already voted on this step.
pub(crate) fn duplicate(request: &ApprovalRequest, step: usize, vote: &Vote) -> StoreError {
    StoreError::Conflict {
        record: "vote",
        id: format!(
            "{} step {} by {}",
            request.id,
            step + 1,
            vote.principal.as_str()
        ),
        expected: None,
    }
}

pub(crate) fn choice_name(c: Choice) -> &'static str {
    match c {
        Choice::Approve => "approve",
        Choice::Reject => "reject",
    }
}
