//! `GET /`: what waits for the signed-in person now. Approval requests whose open step lists
//! them and that they have not voted on, and feedback requests they may answer, chosen by the
//! same rules as the API's `?status=pending` lists ([`awaits_vote`], [`sees_feedback`]):
//! one notion of who may see what.

use axum::extract::State;

use super::InboxState;
use super::changes::{Watch, digest, watched};
use super::guard::Viewer;
use super::page::{self, PageResult, badge, deadline, names};
use crate::model::{ApprovalRequest, ApprovalStatus, FeedbackRequest, FeedbackStatus, Timestamp};
use crate::runtime::RuntimeError;
use crate::server::auth::Caller;
use crate::server::html::{Markup, escape};
use crate::server::routes::{awaits_vote, sees_feedback};
use crate::store::{ApprovalFilter, FeedbackFilter};

/// What waits for `caller`: the most urgent first (priority, then the nearest deadline, then
/// the oldest).
pub async fn pending(
    state: &InboxState,
    caller: &Caller,
) -> Result<(Vec<ApprovalRequest>, Vec<FeedbackRequest>), RuntimeError> {
    let mut approvals: Vec<ApprovalRequest> = state
        .app
        .rt
        .approvals()
        .list(ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            ..ApprovalFilter::default()
        })
        .await?
        .into_iter()
        .filter(|r| awaits_vote(caller, r))
        .collect();
    approvals.sort_by_key(|r| {
        (
            std::cmp::Reverse(r.priority),
            r.current_step()
                .and_then(|s| s.deadline)
                .unwrap_or(Timestamp(i64::MAX)),
            r.created_at,
        )
    });
    let mut feedback: Vec<FeedbackRequest> = state
        .app
        .rt
        .feedback()
        .list(FeedbackFilter {
            status: Some(FeedbackStatus::Pending),
            ..FeedbackFilter::default()
        })
        .await?
        .into_iter()
        .filter(|r| sees_feedback(caller, r) && r.requested_by != caller.principal)
        .collect();
    feedback.sort_by_key(|r| (r.deadline.unwrap_or(Timestamp(i64::MAX)), r.created_at));
    Ok((approvals, feedback))
}

pub async fn show(State(state): State<InboxState>, viewer: Viewer) -> PageResult {
    let caller = viewer.caller();
    let (approvals, feedback) = pending(&state, &caller).await?;
    let now = state.app.rt.now();
    let mut body = watched(
        &state,
        &Watch::List,
        &digest(&Watch::List, &approvals, &feedback),
    );
    let count = approvals.len() + feedback.len();
    body.push(Markup::trusted(format!(
        "<h1>Waiting for you <span class=\"badge\" id=\"count\">{count}</span></h1>"
    )));
    if count == 0 {
        body.push(Markup::trusted(
            "<p class=\"card empty\" id=\"nothing\">Nothing waits for you now. This page updates by itself.</p>",
        ));
    }
    for r in &approvals {
        body.push(approval_item(r, &caller, now));
    }
    for r in &feedback {
        body.push(feedback_item(r, now));
    }
    body.push(Markup::trusted("</div>"));
    Ok(page::signed_in(&viewer, "Inbox", body))
}

fn approval_item(r: &ApprovalRequest, caller: &Caller, now: Timestamp) -> Markup {
    let mut m = Markup::trusted(format!(
        "<article class=\"card item\" data-id=\"{}\"><h2><a href=\"/approvals/{}\">",
        escape(r.id.as_str()),
        escape(r.id.as_str())
    ));
    m.push(Markup::text(&r.title));
    m.push(Markup::trusted("</a></h2><div class=\"meta\">"));
    let priority = r.priority.map_or("normal", |p| p.as_str());
    m.push(badge(&format!("p-{priority}"), priority));
    m.push(badge("", "approval"));
    m.push(deadline(r.current_step().and_then(|s| s.deadline), now));
    m.push(Markup::trusted("<span>Asked by "));
    m.push(Markup::text(r.requested_by.as_str()));
    m.push(Markup::trusted("</span></div>"));
    m.push(chain_progress(r));
    if let Some(step) = r.current_step() {
        let others: Vec<_> = step
            .eligible()
            .into_iter()
            .filter(|p| p != &caller.principal)
            .collect();
        m.push(Markup::trusted("<div class=\"meta\"><span>Also asked: "));
        m.push(Markup::text(&names(&others)));
        m.push(Markup::trusted(format!(
            "</span><span>{} of {} approval{} given</span></div>",
            step.approved_by().len(),
            step.spec.min_approvals,
            if step.spec.min_approvals == 1 {
                ""
            } else {
                "s"
            }
        )));
    }
    m.push(Markup::trusted("</article>"));
    m
}

/// `Step k of n` with the steps' names and states, the open one marked.
pub fn chain_progress(r: &ApprovalRequest) -> Markup {
    let mut m = Markup::trusted(format!(
        "<div class=\"meta\"><span>Step {} of {}</span></div><ol class=\"steps\">",
        r.current + 1,
        r.steps.len()
    ));
    for (i, step) in r.steps.iter().enumerate() {
        let class = if i == r.current && r.status == ApprovalStatus::Pending {
            " class=\"current\""
        } else {
            ""
        };
        m.push(Markup::trusted(format!("<li{class}>")));
        m.push(Markup::text(&format!(
            "{}: {}",
            step.spec.step,
            step.status.as_str()
        )));
        m.push(Markup::trusted("</li>"));
    }
    m.push(Markup::trusted("</ol>"));
    m
}

fn feedback_item(r: &FeedbackRequest, now: Timestamp) -> Markup {
    let mut m = Markup::trusted(format!(
        "<article class=\"card item\" data-id=\"{}\"><h2><a href=\"/feedback/{}\">",
        escape(r.id.as_str()),
        escape(r.id.as_str())
    ));
    m.push(Markup::text(&r.title));
    m.push(Markup::trusted("</a></h2><div class=\"meta\">"));
    m.push(badge("", "feedback"));
    m.push(deadline(r.deadline, now));
    m.push(Markup::trusted("<span>Asked by "));
    m.push(Markup::text(r.requested_by.as_str()));
    m.push(Markup::trusted("</span><span>Reviewers: "));
    m.push(Markup::text(&if r.respondents.is_empty() {
        "any approver".to_owned()
    } else {
        names(&r.respondents)
    }));
    m.push(Markup::trusted(format!(
        "</span><span>{} field{}</span></div></article>",
        r.form.fields.len(),
        if r.form.fields.len() == 1 { "" } else { "s" }
    )));
    m
}
