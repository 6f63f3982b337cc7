//! "Did you mean ...?" for misspelled keys, outcomes and group names.

use crate::ir::Outcome;

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word_lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= threshold(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn threshold(candidate: &str) -> usize {
    match candidate.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    }
}

/// Levenshtein distance over chars, with a transposition counted as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(prev2[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Outcomes are often written in other cases and spellings (`requireApproval`, `approve`);
/// suggest by meaning as well as by spelling.
pub fn outcome(text: &str) -> Option<&'static str> {
    let folded: String = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    let by_meaning = match folded.as_str() {
        "autoapprove" | "approve" | "allow" | "auto" => Some("auto-approve"),
        "notify" | "notifyandproceed" | "notifyproceed" => Some("notify-and-proceed"),
        "requestapproval" | "requireapproval" | "approval" | "ask" => Some("request-approval"),
        "escalation" | "escalate" => Some("escalate"),
        "reject" | "block" | "forbid" | "deny" => Some("deny"),
        _ => None,
    };
    by_meaning.or_else(|| closest(text, Outcome::NAMES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        let keys = ["requireApproval", "approvers", "minApprovals"];
        assert_eq!(closest("requireAproval", keys), Some("requireApproval"));
        assert_eq!(closest("aprovers", keys), Some("approvers"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
