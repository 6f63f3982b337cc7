//! `GET /history`: the signed-in person's past answers, newest first, a page at a time: their
//! votes (read from the requests, which keep every counted vote with its note and time) and
//! the feedback they submitted.

use axum::extract::State;
use axum::http::Uri;

use super::InboxState;
use super::guard::Viewer;
use super::page::{self, PageError, PageResult, badge, when};
use crate::model::{Choice, Timestamp};
use crate::server::form;
use crate::server::html::{Markup, escape};
use crate::store::{ApprovalFilter, FeedbackFilter};

/// Answers on one page.
pub const PAGE_SIZE: usize = 25;

/// One past answer.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    at: Timestamp,
    /// `approved`, `rejected` or `answered`.
    what: &'static str,
    title: String,
    href: String,
    note: Option<String>,
    /// The request's status now.
    status: &'static str,
}

/// The page number of `?page=N` (1 when not given).
fn page_number(uri: &Uri) -> Result<usize, PageError> {
    let pairs = form::parse(uri.query().unwrap_or("")).map_err(PageError::bad_request)?;
    match pairs.as_slice() {
        [] => Ok(1),
        [(k, v)] if k == "page" => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100_000).contains(n))
            .ok_or_else(|| {
                PageError::bad_request(format!("`page` must be a page number, found `{v}`"))
            }),
        _ => Err(PageError::bad_request("the history takes only `page=N`")),
    }
}

pub async fn show(State(state): State<InboxState>, viewer: Viewer, uri: Uri) -> PageResult {
    let number = page_number(&uri)?;
    let me = &viewer.session.principal;
    let mut answers = Vec::new();
    for r in state
        .app
        .rt
        .approvals()
        .list(ApprovalFilter::default())
        .await?
    {
        for step in &r.steps {
            for v in step.votes.iter().filter(|v| &v.principal == me) {
                answers.push(Answer {
                    at: v.at,
                    what: match v.choice {
                        Choice::Approve => "approved",
                        Choice::Reject => "rejected",
                    },
                    title: r.title.clone(),
                    href: format!("/approvals/{}", r.id.as_str()),
                    note: v.note.clone().filter(|n| !n.is_empty()),
                    status: r.status.as_str(),
                });
            }
        }
    }
    for r in state
        .app
        .rt
        .feedback()
        .list(FeedbackFilter::default())
        .await?
    {
        if r.submitted_by.as_ref() == Some(me) {
            answers.push(Answer {
                at: r.resolved_at.unwrap_or(r.created_at),
                what: "answered",
                title: r.title.clone(),
                href: format!("/feedback/{}", r.id.as_str()),
                note: None,
                status: r.status.as_str(),
            });
        }
    }
    answers.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.href.cmp(&a.href)));
    let total = answers.len();
    let shown: Vec<&Answer> = answers
        .iter()
        .skip((number - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    let mut body = Markup::trusted(format!(
        "<h1>Your answers <span class=\"badge\">{total}</span></h1>"
    ));
    if shown.is_empty() {
        body.push(Markup::trusted(
            "<p class=\"card empty\">No answers here.</p>",
        ));
    }
    body.push(Markup::trusted(
        "<ol class=\"history\" style=\"list-style:none;padding:0\">",
    ));
    for a in shown {
        body.push(Markup::trusted(format!(
            "<li class=\"card item\"><h2><a href=\"{}\">",
            escape(&a.href)
        )));
        body.push(Markup::text(&a.title));
        body.push(Markup::trusted("</a></h2><div class=\"meta\">"));
        body.push(badge(&format!("s-{}", a.status), a.status));
        body.push(Markup::text(&format!("You {} on {}", a.what, when(a.at))));
        body.push(Markup::trusted("</div>"));
        if let Some(note) = &a.note {
            body.push(Markup::trusted("<p class=\"text\">"));
            body.push(Markup::text(note));
            body.push(Markup::trusted("</p>"));
        }
        body.push(Markup::trusted("</li>"));
    }
    body.push(Markup::trusted("</ol><nav class=\"pager\">"));
    if number > 1 {
        body.push(Markup::trusted(format!(
            "<a href=\"/history?page={}\">Newer</a>",
            number - 1
        )));
    }
    if number * PAGE_SIZE < total {
        body.push(Markup::trusted(format!(
            "&nbsp;<a href=\"/history?page={}\" id=\"older\">Older</a>",
            number + 1
        )));
    }
    body.push(Markup::trusted("</nav>"));
    Ok(page::signed_in(&viewer, "History", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_page_number_is_taken() {
        let n = |q: &str| page_number(&format!("/history{q}").parse().unwrap());
        assert_eq!(n(""), Ok(1));
        assert_eq!(n("?page=3"), Ok(3));
        for bad in [
            "?page=0",
            "?page=x",
            "?page=1&page=2",
            "?other=1",
            "?page=-1",
        ] {
            assert!(n(bad).is_err(), "{bad}");
        }
    }
}
