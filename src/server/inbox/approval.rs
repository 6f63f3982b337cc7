//! `/approvals/{id}`: one approval request as its approvers need to see it (the description,
//! the call being approved with the decision's reason, the chain and the votes so far), and
//! the vote: Approve or Reject with a comment, counted by the runtime exactly as `POST
//! /v1/approvals/{id}/approve` counts it. Who may see it is the API's rule
//! ([`crate::server::routes::sees_approval`]): anyone else gets the same 404.

use axum::extract::State;
use axum::http::StatusCode;

use super::changes::{Watch, digest, watched};
use super::guard::{SignedPost, Viewer};
use super::list::chain_progress;
use super::page::{self, PageError, PageResult, badge, deadline, names, when};
use super::{InboxState, PageId};
use crate::model::{ApprovalId, ApprovalRequest, ApprovalStatus, Choice, Timestamp};
use crate::runtime::{RuntimeError, VoteReceipt};
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::html::{Markup, escape};

/// The most bytes of a vote's comment.
pub const MAX_COMMENT_BYTES: usize = 4096;

/// The request, if the caller may see it: the API's own check, and its 404 otherwise.
async fn visible(
    state: &InboxState,
    caller: &Caller,
    id: &str,
) -> Result<ApprovalRequest, PageError> {
    Ok(crate::server::routes::approvals::visible(&state.app, caller, id).await?)
}

/// What the page says above the vote form after an answer.
enum Outcome<'a> {
    None,
    Voted(&'a VoteReceipt, Choice),
    Refused(&'a str),
}

pub async fn show(
    State(state): State<InboxState>,
    viewer: Viewer,
    PageId(id): PageId,
) -> PageResult {
    let r = visible(&state, &viewer.caller(), &id).await?;
    Ok(render(
        &state,
        &viewer,
        &r,
        StatusCode::OK,
        &Outcome::None,
        "",
    ))
}

/// `POST /approvals/{id}`: `choice=approve|reject`, `comment`.
pub async fn vote(
    State(state): State<InboxState>,
    PageId(id): PageId,
    post: SignedPost,
) -> PageResult {
    let SignedPost { viewer, form } = post;
    form.allow(|k| k == "choice" || k == "comment", |_| false)?;
    let caller = viewer.caller();
    let r = visible(&state, &caller, &id).await?;
    let comment = form.get("comment").unwrap_or("").trim().to_owned();
    let choice = match form.get("choice") {
        Some("approve") => Choice::Approve,
        Some("reject") => Choice::Reject,
        _ => {
            return Err(PageError::bad_request(
                "the vote must say `choice=approve` or `choice=reject`",
            ));
        }
    };
    if comment.len() > MAX_COMMENT_BYTES {
        let why = format!(
            "the comment is {} bytes long; a comment may have at most {MAX_COMMENT_BYTES}",
            comment.len()
        );
        return Ok(render(
            &state,
            &viewer,
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            &Outcome::Refused(&why),
            &comment,
        ));
    }
    let approvals = state.app.rt.approvals();
    let request = ApprovalId::from(id.as_str());
    let note = (!comment.is_empty()).then_some(comment.as_str());
    let voted = match choice {
        Choice::Approve => approvals.approve(&request, &caller.principal, note).await,
        Choice::Reject => {
            approvals
                .reject(&request, &caller.principal, note.unwrap_or(""))
                .await
        }
    };
    match voted {
        Ok(receipt) => {
            state
                .app
                .metrics
                .voted(choice == Choice::Approve, receipt.counted);
            let r = approvals.get(&request).await?;
            Ok(render(
                &state,
                &viewer,
                &r,
                StatusCode::OK,
                &Outcome::Voted(&receipt, choice),
                "",
            ))
        }
        Err(RuntimeError::Store(e)) => Err(ApiError::from(e).into()),
        Err(e) => {
            let e = ApiError::from(e);
            let r = approvals.get(&request).await?;
            Ok(render(
                &state,
                &viewer,
                &r,
                e.status,
                &Outcome::Refused(&e.message),
                &comment,
            ))
        }
    }
}

fn render(
    state: &InboxState,
    viewer: &Viewer,
    r: &ApprovalRequest,
    status: StatusCode,
    outcome: &Outcome<'_>,
    comment: &str,
) -> axum::response::Response {
    let now = state.app.rt.now();
    let watch = Watch::Approval(r.id.as_str().to_owned());
    let mut body = watched(state, &watch, &digest(&watch, std::slice::from_ref(r), &[]));
    body.push(Markup::trusted("<section class=\"card\"><h1>"));
    body.push(Markup::text(&r.title));
    body.push(Markup::trusted("</h1><div class=\"meta\">"));
    body.push(badge(
        &format!("s-{}", r.status.as_str()),
        r.status.as_str(),
    ));
    let priority = r.priority.map_or("normal", |p| p.as_str());
    body.push(badge(&format!("p-{priority}"), priority));
    body.push(Markup::trusted("<span>Asked by "));
    body.push(Markup::text(r.requested_by.as_str()));
    body.push(Markup::trusted(format!(
        "</span><span>Asked {}</span>",
        escape(&when(r.created_at))
    )));
    if r.status == ApprovalStatus::Pending {
        body.push(deadline(r.current_step().and_then(|s| s.deadline), now));
    } else if let Some(at) = r.resolved_at {
        body.push(Markup::trusted(format!(
            "<span>Resolved {}</span>",
            escape(&when(at))
        )));
    }
    body.push(Markup::trusted("</div>"));
    // A bound request's description is the runtime's account of the call and the decision,
    // which the call's card shows field by field.
    if !r.description.is_empty() && r.binding.is_none() {
        body.push(Markup::trusted(
            "<h2>Description</h2><p class=\"text\" id=\"description\">",
        ));
        body.push(Markup::text(&r.description));
        body.push(Markup::trusted("</p>"));
    }
    if let Some(reason) = &r.reason {
        body.push(Markup::trusted("<h2>Resolution</h2><p class=\"text\">"));
        body.push(Markup::text(reason));
        body.push(Markup::trusted("</p>"));
    }
    body.push(Markup::trusted("</section>"));
    body.push(call_card(r));
    body.push(chain_card(r, now));
    body.push(votes_card(r));
    body.push(outcome_card(outcome, r));
    body.push(vote_form(viewer, r, comment));
    body.push(Markup::trusted("</div>"));
    page::signed_in_with(viewer, status, &r.title, body)
}

/// The call being approved, when the request came from `escalation-check`.
fn call_card(r: &ApprovalRequest) -> Markup {
    let Some(b) = &r.binding else {
        return Markup::default();
    };
    let mut m = Markup::trusted(
        "<section class=\"card\" id=\"call\"><h2>The call being approved</h2><dl class=\"call\"><dt>Action</dt><dd><code>",
    );
    m.push(Markup::text(&b.action));
    m.push(Markup::trusted("</code></dd><dt>Resource</dt><dd><code>"));
    m.push(Markup::text(&b.resource));
    m.push(Markup::trusted("</code></dd><dt>Confidence</dt><dd>"));
    m.push(Markup::text(
        &b.confidence
            .map_or_else(|| "not given".to_owned(), |c| format!("{c}")),
    ));
    m.push(Markup::trusted("</dd><dt>Outcome</dt><dd>"));
    m.push(Markup::text(&b.outcome.to_string()));
    m.push(Markup::trusted("</dd><dt>Policy version</dt><dd>"));
    m.push(Markup::text(&b.policy_version));
    m.push(Markup::trusted("</dd></dl>"));
    // The runtime writes the decision's reason as the description's first paragraph.
    if let Some(reason) = r.description.split("\n\n").next().filter(|s| !s.is_empty()) {
        m.push(Markup::trusted(
            "<h2>Why it was asked</h2><p class=\"text\" id=\"reason\">",
        ));
        m.push(Markup::text(reason));
        m.push(Markup::trusted("</p>"));
    }
    m.push(Markup::trusted(
        "<h2>Context</h2><div class=\"lang\">json</div><pre><code class=\"language-json\" id=\"context\">",
    ));
    m.push(Markup::text(
        &serde_json::to_string_pretty(&b.context).unwrap_or_default(),
    ));
    m.push(Markup::trusted("</code></pre></section>"));
    m
}

fn chain_card(r: &ApprovalRequest, now: Timestamp) -> Markup {
    let mut m = Markup::trusted("<section class=\"card\" id=\"chain\"><h2>Chain</h2>");
    m.push(chain_progress(r));
    m.push(Markup::trusted(
        "<div class=\"table\"><table><thead><tr><th>Step</th><th>Status</th><th>Approvers</th><th>Needs</th><th>Approved by</th><th>Deadline</th></tr></thead><tbody>",
    ));
    for step in &r.steps {
        m.push(Markup::trusted("<tr><td data-label=\"Step\">"));
        m.push(Markup::text(&step.spec.step));
        m.push(Markup::trusted("</td><td data-label=\"Status\">"));
        m.push(Markup::text(step.status.as_str()));
        m.push(Markup::trusted("</td><td data-label=\"Approvers\">"));
        m.push(Markup::text(&names(&step.eligible())));
        m.push(Markup::trusted(format!(
            "</td><td data-label=\"Needs\">{}</td><td data-label=\"Approved by\">",
            step.spec.min_approvals
        )));
        m.push(Markup::text(&names(&step.approved_by())));
        m.push(Markup::trusted("</td><td data-label=\"Deadline\">"));
        match step.deadline {
            Some(d) if step.status.as_str() == "pending" => {
                m.push(Markup::text(&format!(
                    "{} ({})",
                    when(d),
                    page::time_left(d, now)
                )));
            }
            Some(d) => m.push(Markup::text(&when(d))),
            None => m.push(Markup::text("none")),
        }
        m.push(Markup::trusted("</td></tr>"));
    }
    m.push(Markup::trusted("</tbody></table></div></section>"));
    m
}

fn votes_card(r: &ApprovalRequest) -> Markup {
    let votes: Vec<_> = r
        .steps
        .iter()
        .flat_map(|s| s.votes.iter().map(move |v| (s, v)))
        .collect();
    let mut m = Markup::trusted("<section class=\"card\" id=\"votes\"><h2>Votes so far</h2>");
    if votes.is_empty() {
        m.push(Markup::trusted("<p class=\"empty\">No votes yet.</p>"));
    } else {
        m.push(Markup::trusted("<ul>"));
        for (step, v) in votes {
            let verb = match v.choice {
                Choice::Approve => "approved",
                Choice::Reject => "rejected",
            };
            m.push(Markup::trusted("<li><strong>"));
            m.push(Markup::text(v.principal.as_str()));
            m.push(Markup::trusted("</strong> "));
            m.push(Markup::text(&format!(
                "{verb} at step {} ({})",
                step.spec.step,
                when(v.at)
            )));
            if let Some(note) = v.note.as_deref().filter(|n| !n.is_empty()) {
                m.push(Markup::trusted(": <span class=\"text\">"));
                m.push(Markup::text(note));
                m.push(Markup::trusted("</span>"));
            }
            m.push(Markup::trusted("</li>"));
        }
        m.push(Markup::trusted("</ul>"));
    }
    m.push(Markup::trusted("</section>"));
    m
}

fn outcome_card(outcome: &Outcome<'_>, r: &ApprovalRequest) -> Markup {
    let (class, text) = match outcome {
        Outcome::None => return Markup::default(),
        Outcome::Voted(receipt, choice) if receipt.counted => {
            let verb = match choice {
                Choice::Approve => "approval",
                Choice::Reject => "rejection",
            };
            let now = match r.current_step() {
                Some(open)
                    if r.status == ApprovalStatus::Pending && open.spec.step != receipt.step =>
                {
                    format!(
                        "step `{}` is approved; the request waits on `{}`",
                        receipt.step, open.spec.step
                    )
                }
                _ => format!("the request is now {}", r.status.as_str()),
            };
            ("ok", format!("Your {verb} was counted: {now}."))
        }
        Outcome::Voted(..) => (
            "ok",
            "You have already voted in this step; a second vote is not counted.".to_owned(),
        ),
        Outcome::Refused(why) => ("error", format!("Your answer was refused: {why}")),
    };
    let mut m = Markup::trusted(format!(
        "<p class=\"card {class}\" id=\"result\" role=\"status\">"
    ));
    m.push(Markup::text(&text));
    m.push(Markup::trusted("</p>"));
    m
}

fn vote_form(viewer: &Viewer, r: &ApprovalRequest, comment: &str) -> Markup {
    let principal = &viewer.session.principal;
    if !r.may_vote(principal) {
        let why = if r.status != ApprovalStatus::Pending {
            format!(
                "This request is {}; it takes no more votes.",
                r.status.as_str()
            )
        } else if r
            .steps
            .iter()
            .any(|s| s.votes.iter().any(|v| &v.principal == principal))
        {
            "You have voted on this request.".to_owned()
        } else {
            "You are not an approver of the step open now.".to_owned()
        };
        let mut m = Markup::trusted("<p class=\"card empty\" id=\"no-vote\">");
        m.push(Markup::text(&why));
        m.push(Markup::trusted("</p>"));
        return m;
    }
    let mut m = Markup::trusted(format!(
        "<section class=\"card\"><h2>Your answer</h2><form method=\"post\" action=\"/approvals/{}\" id=\"vote\">",
        escape(r.id.as_str())
    ));
    m.push(viewer.csrf_field());
    m.push(Markup::trusted(format!(
        "<div class=\"field\"><label class=\"name\" for=\"comment\">Comment (or the reason of a rejection)</label>\
         <textarea id=\"comment\" name=\"comment\" rows=\"3\" maxlength=\"{MAX_COMMENT_BYTES}\">{}</textarea></div>\
         <div class=\"actions\"><button class=\"primary\" type=\"submit\" name=\"choice\" value=\"approve\">Approve</button>\
         <button class=\"danger\" type=\"submit\" name=\"choice\" value=\"reject\">Reject</button></div></form></section>",
        escape(comment)
    )));
    m
}
