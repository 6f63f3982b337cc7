//! `GET|POST /links/{token}`: the approve and reject links of approval emails.
//!
//! `GET` (and `HEAD`) only shows what the link would do, with one button: mail scanners and
//! link previews fetch every link in a message, so a fetch never votes and never spends the
//! link. The button's `POST` votes as the approver the token was signed for, through the
//! runtime, as the API's vote does.
//!
//! The link's nonce is spent only once its vote is counted (or once the request can no longer
//! take its vote): a store that fails in between leaves the link usable, and nothing counts
//! twice anyway, since the runtime counts one vote per approver and request. A counted vote
//! whose nonce then fails to be spent is still the only vote its link can make.
//!
//! Refusals, each a page saying why and an `answer_refused` audit entry:
//!
//! | status | reason | when |
//! |---|---|---|
//! | 403 | `tampered` | not a token this server signed, or changed since |
//! | 410 | `expired` | past the time it was signed for |
//! | 410 | `used` | its vote was cast already (a replay) |
//! | 404 | `not_found` | the request it names does not exist |
//! | 409 | `resolved` | the request is approved, rejected, timed out or cancelled |
//! | 409 | `already_answered` | its approver answered the request already (by another link, the inbox or the API) |
//! | 403 | `not_an_approver` | its approver is not an approver of the step open now |

use std::time::Duration;

use axum::Extension;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{Channel, Refused, Throttle, audit, retry_after_seconds};
use crate::model::{ApprovalId, ApprovalRequest, ApprovalStatus, Timestamp, VoteError};
use crate::runtime::RuntimeError;
use crate::server::app::AppState;
use crate::server::body::read_bytes;
use crate::server::error::ApiError;
use crate::server::form::Form;
use crate::server::html::{self, Markup, escape};
use crate::server::links::{Choice, LINK_PATH, LinkClaims};

/// The scope of spent link nonces in the store.
pub const SPENT_SCOPE: &str = "email-link";

/// The most characters of an approval's comment or a rejection's reason.
pub const MAX_NOTE_CHARS: usize = 4000;

/// A refused link: its page and its audit entry.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    heading: &'static str,
    refused: Refused,
}

impl Refusal {
    fn new(
        status: StatusCode,
        heading: &'static str,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Refusal {
        Refusal {
            status,
            heading,
            refused: Refused::new(Channel::Email, reason, message),
        }
    }

    fn with_detail(mut self, key: &str, value: &str) -> Refusal {
        self.refused = self.refused.with(key, value);
        self
    }

    /// Names the link's request, approver and choice in the audit entry.
    fn of(mut self, claims: &LinkClaims) -> Refusal {
        self.refused = self
            .refused
            .request(claims.request.clone())
            .by(&claims.approver)
            .with("choice", claims.choice.as_str());
        self
    }
}

/// Why a link's page is not the one it asks for.
enum Stop {
    Refused(Refusal),
    /// The store failed: nothing was counted or spent.
    Failed(ApiError),
    /// Past the rate limit: nothing was looked at.
    Limited(Duration),
}

impl From<Refusal> for Stop {
    fn from(r: Refusal) -> Stop {
        Stop::Refused(r)
    }
}

/// A link whose signature, time and request check.
struct Link {
    claims: LinkClaims,
    request: ApprovalRequest,
}

/// `GET /links/{token}` (and `HEAD`): the confirmation page; never a vote.
pub async fn show(
    State(state): State<AppState>,
    Extension(throttle): Extension<Throttle>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let token = token.map(|p| p.0).unwrap_or_default();
    let link = match verified(&state, &throttle, &token).await {
        Ok(link) => link,
        Err(stop) => return stopped(&state, stop).await,
    };
    if let Some(refusal) = preflight(&link) {
        return stopped(&state, refusal.into()).await;
    }
    html::respond(
        StatusCode::OK,
        confirmation_page(&link, &token, state.rt.now()),
    )
}

/// `POST /links/{token}`: the vote of the confirmation page's button.
pub async fn answer(
    State(state): State<AppState>,
    Extension(throttle): Extension<Throttle>,
    token: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    let token = token.map(|p| p.0).unwrap_or_default();
    let link = match verified(&state, &throttle, &token).await {
        Ok(link) => link,
        Err(stop) => return stopped(&state, stop).await,
    };
    let note = match note(&state, &link.claims, req).await {
        Ok(note) => note,
        Err(page) => return page,
    };
    if let Some(refusal) = preflight(&link) {
        let refusal = used_or(&state, &link.claims, refusal).await;
        return stopped(&state, refusal.into()).await;
    }
    let claims = &link.claims;
    let id = ApprovalId::from(claims.request.as_str());
    let approvals = state.rt.approvals();
    let voted = match claims.choice {
        Choice::Approve => {
            approvals
                .approve(&id, &claims.approver, note.as_deref())
                .await
        }
        Choice::Reject => {
            approvals
                .reject(&id, &claims.approver, note.as_deref().unwrap_or_default())
                .await
        }
    };
    let refusal = match voted {
        Ok(receipt) if receipt.counted => {
            state.metrics.voted(claims.choice == Choice::Approve, true);
            spend_after_vote(&state, claims).await;
            let after = approvals.get(&id).await.unwrap_or(link.request);
            return html::respond(StatusCode::OK, counted_page(claims, &after));
        }
        Ok(_) => {
            state.metrics.voted(claims.choice == Choice::Approve, false);
            already_answered(claims)
        }
        Err(RuntimeError::Vote(e)) => vote_refused(claims, &e),
        Err(RuntimeError::NotFound { .. }) => not_found(claims),
        Err(e) => return stopped(&state, Stop::Failed(e.into())).await,
    };
    let refusal = used_or(&state, claims, refusal).await;
    stopped(&state, refusal.into()).await
}

/// The token's claims and its request, or why not.
async fn verified(state: &AppState, throttle: &Throttle, token: &str) -> Result<Link, Stop> {
    let claims = match LinkClaims::verify_signature(token, &state.keys.links) {
        Ok(claims) => claims,
        Err(_) => {
            throttle.take("email:unverified").map_err(Stop::Limited)?;
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "This link is not valid",
                "tampered",
                "This link was changed, cut short, or not made by this server, so it cannot vote. \
                 Open the link from the email again, whole, or answer in the inbox.",
            )
            .into());
        }
    };
    throttle
        .take(&format!("email:{}", claims.approver))
        .map_err(Stop::Limited)?;
    if state.rt.now() > claims.expires_at {
        return Err(Refusal::new(
            StatusCode::GONE,
            "This link has expired",
            "expired",
            format!(
                "This link expired at {}; it can no longer vote. Answer in the inbox instead.",
                claims.expires_at
            ),
        )
        .of(&claims)
        .into());
    }
    match state
        .rt
        .approvals()
        .get(&ApprovalId::from(claims.request.as_str()))
        .await
    {
        Ok(request) => Ok(Link { claims, request }),
        Err(RuntimeError::NotFound { .. }) => Err(not_found(&claims).into()),
        Err(e) => Err(Stop::Failed(e.into())),
    }
}

/// Why the link's approver cannot vote on its request now, if that is so: the checks the
/// runtime makes when it counts, made first so that the page says why in words.
fn preflight(link: &Link) -> Option<Refusal> {
    let (claims, r) = (&link.claims, &link.request);
    if r.status != ApprovalStatus::Pending {
        return Some(resolved(claims, r));
    }
    let voted = r
        .steps
        .iter()
        .any(|s| s.votes.iter().any(|v| v.principal == claims.approver));
    if voted {
        return Some(already_answered(claims));
    }
    if !r.may_vote(&claims.approver) {
        let step = r.current_step().map(|s| s.spec.step.as_str()).unwrap_or("");
        return Some(
            Refusal::new(
                StatusCode::FORBIDDEN,
                "You are not an approver of this step",
                "not_an_approver",
                format!(
                    "This link is for {}, who is not an approver of the step open now (`{step}`) of this request, so it cannot vote.",
                    claims.approver
                ),
            )
            .of(claims),
        );
    }
    None
}

fn not_found(claims: &LinkClaims) -> Refusal {
    Refusal::new(
        StatusCode::NOT_FOUND,
        "No such request",
        "not_found",
        format!(
            "The request `{}` this link is for does not exist.",
            claims.request
        ),
    )
    .of(claims)
}

fn resolved(claims: &LinkClaims, r: &ApprovalRequest) -> Refusal {
    let by = r.approved_by();
    let by = if by.is_empty() || r.status != ApprovalStatus::Approved {
        String::new()
    } else {
        let names: Vec<&str> = by.iter().map(|p| p.as_str()).collect();
        format!(" by {}", names.join(", "))
    };
    Refusal::new(
        StatusCode::CONFLICT,
        "This request is already resolved",
        "resolved",
        format!(
            "This request is already {}{by}; no more votes are counted.",
            status_words(r.status)
        ),
    )
    .of(claims)
}

fn already_answered(claims: &LinkClaims) -> Refusal {
    Refusal::new(
        StatusCode::CONFLICT,
        "You already answered",
        "already_answered",
        format!(
            "{} has already answered this request; one approver's answer counts once.",
            claims.approver
        ),
    )
    .of(claims)
}

fn vote_refused(claims: &LinkClaims, e: &VoteError) -> Refusal {
    match e {
        VoteError::AlreadyResolved { .. } | VoteError::DeadlinePassed { .. } => Refusal::new(
            StatusCode::CONFLICT,
            "This request is already resolved",
            "resolved",
            format!("The vote was not counted: {e}."),
        ),
        VoteError::NotAnApprover { .. }
        | VoteError::SelfApproval { .. }
        | VoteError::CrossStepVote { .. } => Refusal::new(
            StatusCode::FORBIDDEN,
            "You are not an approver of this step",
            "not_an_approver",
            format!("The vote was not counted: {e}."),
        ),
    }
    .of(claims)
}

/// `refusal`, or `used` when the link's nonce is spent already: a replay of a link that
/// voted finds the request resolved or its approver's answer given, and is told the truer
/// reason. The nonce is spent here when it was not: the link can no longer vote anyway.
async fn used_or(state: &AppState, claims: &LinkClaims, refusal: Refusal) -> Refusal {
    let spent = state
        .rt
        .store()
        .spend_token(
            SPENT_SCOPE,
            &claims.nonce,
            state.rt.now(),
            claims.expires_at,
        )
        .await;
    match spent {
        Ok(false) => Refusal::new(
            StatusCode::GONE,
            "This link was already used",
            "used",
            "This link was already used: its vote was counted once, and a link votes only once.",
        )
        .of(claims)
        .with_detail("then", refusal.refused.reason),
        Ok(true) => refusal,
        Err(e) => {
            eprintln!("serve: a refused link's nonce could not be spent: {e}");
            refusal
        }
    }
}

/// Spends the nonce of a link whose vote was counted. `false` means a second submission of
/// the same link raced this one; the runtime counted only one of them.
async fn spend_after_vote(state: &AppState, claims: &LinkClaims) {
    let spent = state
        .rt
        .store()
        .spend_token(
            SPENT_SCOPE,
            &claims.nonce,
            state.rt.now(),
            claims.expires_at,
        )
        .await;
    if let Err(e) = spent {
        eprintln!(
            "serve: a counted link's nonce could not be spent (the runtime still counts its approver once): {e}"
        );
    }
}

/// The comment (approve) or reason (reject) of the page's form; a bad form is a 400 page.
async fn note(
    state: &AppState,
    claims: &LinkClaims,
    req: Request,
) -> Result<Option<String>, Response> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    let bytes = match read_bytes(req, state.limits.body_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return Err(bad_form(e.status, &e.message)),
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    if !form_type {
        return Err(bad_form(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the answer is sent as the page's form (application/x-www-form-urlencoded)",
        ));
    }
    let field = note_field(claims.choice);
    let form = Form::parse_fields(&bytes, &[(field, MAX_NOTE_CHARS)])
        .map_err(|e| bad_form(StatusCode::BAD_REQUEST, &e))?;
    Ok(form.text(field).map(str::to_owned))
}

fn note_field(choice: Choice) -> &'static str {
    match choice {
        Choice::Approve => "comment",
        Choice::Reject => "reason",
    }
}

fn bad_form(status: StatusCode, why: &str) -> Response {
    let mut body =
        Markup::trusted("<main><div class=\"card error\"><h1>The answer was not sent</h1><p>");
    body.push(Markup::text(&format!("Nothing was counted: {why}.")));
    body.push(Markup::trusted("</p></div></main>"));
    html::respond(status, html::page("The answer was not sent", &body))
}

/// The page of a refusal (with its audit entry) or of a failed store.
async fn stopped(state: &AppState, stop: Stop) -> Response {
    match stop {
        Stop::Refused(r) => {
            audit(state, &r.refused).await;
            let mut body = Markup::trusted("<main><div class=\"card error\"><h1>");
            body.push(Markup::text(r.heading));
            body.push(Markup::trusted("</h1><p>"));
            body.push(Markup::text(&r.refused.message));
            body.push(Markup::trusted(
                "</p><p>Nothing was counted by this link. <a href=\"/\">Open the inbox</a> to see what waits for you.</p></div></main>",
            ));
            html::respond(r.status, html::page(r.heading, &body))
        }
        Stop::Failed(e) => {
            let mut body =
                Markup::trusted("<main><div class=\"card error\"><h1>Nothing was counted</h1><p>");
            body.push(Markup::text(&e.message));
            body.push(Markup::trusted(
                "</p><p>The link was not used up: open it again in a moment.</p></div></main>",
            ));
            let mut response = html::respond(e.status, html::page("Nothing was counted", &body));
            if e.status == StatusCode::SERVICE_UNAVAILABLE {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
        Stop::Limited(wait) => {
            let seconds = retry_after_seconds(wait);
            let mut body =
                Markup::trusted("<main><div class=\"card error\"><h1>Too many answers</h1><p>");
            body.push(Markup::text(&format!(
                "Too many answers came for this link's approver at once; nothing was counted. Open the link again in {seconds} s."
            )));
            body.push(Markup::trusted("</p></div></main>"));
            let mut response = html::respond(
                StatusCode::TOO_MANY_REQUESTS,
                html::page("Too many answers", &body),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

fn status_words(s: ApprovalStatus) -> &'static str {
    match s {
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Approved => "approved",
        ApprovalStatus::Rejected => "rejected",
        ApprovalStatus::TimedOut => "timed out",
        ApprovalStatus::Cancelled => "cancelled",
    }
}

/// "in 59 min", "2 h 5 min ago": how far `at` is from `now`.
fn time_left(at: Timestamp, now: Timestamp) -> String {
    let ms = at.0.saturating_sub(now.0);
    let minutes = ms.unsigned_abs() / 60_000;
    let span = match minutes {
        0 => "less than a minute".to_owned(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} days", m / (24 * 60)),
    };
    if ms >= 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// What the link would do, and the button that does it.
fn confirmation_page(link: &Link, token: &str, now: Timestamp) -> String {
    let (claims, r) = (&link.claims, &link.request);
    let (verb, button_class) = match claims.choice {
        Choice::Approve => ("Approve", "primary"),
        Choice::Reject => ("Reject", "danger"),
    };
    let mut b = Markup::trusted("<main><div class=\"card\"><h1>");
    b.push(Markup::text(&format!("{verb} this request?")));
    b.push(Markup::trusted("</h1><h2>"));
    b.push(Markup::text(&r.title));
    b.push(Markup::trusted("</h2><p>Asked by <code>"));
    b.push(Markup::text(r.requested_by.as_str()));
    b.push(Markup::trusted("</code>"));
    if let Some(p) = r.priority {
        b.push(Markup::text(&format!(", priority {p}")));
    }
    b.push(Markup::trusted(".</p>"));
    if !r.description.is_empty() {
        b.push(Markup::trusted("<pre>"));
        b.push(Markup::text(&r.description));
        b.push(Markup::trusted("</pre>"));
    }
    if let Some(call) = &r.binding {
        b.push(Markup::trusted("<p>The call: <code>"));
        b.push(Markup::text(&call.action));
        b.push(Markup::trusted("</code> on <code>"));
        b.push(Markup::text(&call.resource));
        b.push(Markup::trusted("</code></p>"));
    }
    if let Some(step) = r.current_step() {
        b.push(Markup::trusted("<p>"));
        let mut line = if r.steps.len() > 1 {
            format!(
                "Step {} of {} (`{}`)",
                r.current + 1,
                r.steps.len(),
                step.spec.step
            )
        } else {
            "This gate".to_owned()
        };
        line.push_str(&format!(
            " needs {} approval{}",
            step.spec.min_approvals,
            if step.spec.min_approvals == 1 {
                ""
            } else {
                "s"
            }
        ));
        if let Some(deadline) = step.deadline {
            line.push_str(&format!(
                "; its deadline is {deadline} ({})",
                time_left(deadline, now)
            ));
        }
        line.push('.');
        b.push(Markup::text(&line));
        b.push(Markup::trusted("</p>"));
    }
    b.push(Markup::trusted("<p>You answer as <code>"));
    b.push(Markup::text(claims.approver.as_str()));
    b.push(Markup::trusted(
        "</code>. Opening this page did not vote; the button below does, once.</p>",
    ));
    b.push(Markup::trusted(format!(
        "<form method=\"post\" action=\"{}/{}\">",
        LINK_PATH,
        escape(token)
    )));
    let (field, label) = match claims.choice {
        Choice::Approve => ("comment", "Comment (optional)"),
        Choice::Reject => ("reason", "Reason (optional, sent to the agent)"),
    };
    b.push(Markup::trusted(format!(
        "<p><label for=\"{field}\">{label}</label><br><textarea id=\"{field}\" name=\"{field}\" rows=\"3\" maxlength=\"{MAX_NOTE_CHARS}\"></textarea></p>\
         <p><button type=\"submit\" class=\"{button_class}\">{verb}</button></p></form>"
    )));
    b.push(Markup::trusted("</div></main>"));
    html::page(&format!("{verb}: {}", r.title), &b)
}

/// The page after a counted vote.
fn counted_page(claims: &LinkClaims, r: &ApprovalRequest) -> String {
    let done = match claims.choice {
        Choice::Approve => "approval",
        Choice::Reject => "rejection",
    };
    let after = match r.status {
        ApprovalStatus::Pending => "The request still waits for other approvers.".to_owned(),
        s => format!("The request is now {}.", status_words(s)),
    };
    let mut b = Markup::trusted("<main><div class=\"card ok\"><h1>Counted</h1><p>");
    b.push(Markup::text(&format!(
        "Your {done} of “{}” is counted, as {}. {after}",
        r.title, claims.approver
    )));
    b.push(Markup::trusted("</p></div></main>"));
    html::page("Counted", &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_both_ways() {
        let now = Timestamp(10_000_000);
        assert_eq!(time_left(Timestamp(now.0 + 59 * 60_000), now), "in 59 min");
        assert_eq!(
            time_left(Timestamp(now.0 - 125 * 60_000), now),
            "2 h 5 min ago"
        );
        assert_eq!(time_left(now, now), "in less than a minute");
    }
}
