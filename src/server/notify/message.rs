//! What a notification says, for each channel: an email's subject, plain-text and HTML
//! parts, a Slack message's blocks, a webhook's JSON. Every text that comes from an agent (a
//! title, a description) is untrusted: escaped for HTML and for Slack's markup, and kept out
//! of mail headers' line structure.

use serde_json::{Value, json};

use crate::ir::Principal;
use crate::model::{Notification, NotificationKind, Timestamp};
use crate::server::html::escape;
use crate::server::links;

/// What kind of request a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Approval,
    Feedback,
}

impl RequestKind {
    fn as_str(self) -> &'static str {
        match self {
            RequestKind::Approval => "approval",
            RequestKind::Feedback => "feedback",
        }
    }

    /// The path of its page in the inbox.
    fn page_path(self) -> &'static str {
        match self {
            RequestKind::Approval => "/approvals",
            RequestKind::Feedback => "/feedback",
        }
    }
}

/// The request a notification is about, as the store holds it when the notification goes out.
#[derive(Debug, Clone, PartialEq)]
pub struct About {
    pub kind: RequestKind,
    pub id: String,
    /// The agent that asked.
    pub asked_by: Principal,
    pub description: String,
    /// The open step's deadline (an approval) or the request's (feedback).
    pub deadline: Option<Timestamp>,
    /// Whether it still waits for an answer.
    pub pending: bool,
}

/// The Approve and Reject links of one approver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Links {
    pub approve: String,
    pub reject: String,
}

/// One notification with what is known of its request: what every channel renders.
#[derive(Debug, Clone)]
pub struct Content<'a> {
    pub notification: &'a Notification,
    pub about: Option<About>,
    /// The server's public address, without a trailing `/`.
    pub public_url: String,
}

/// The longest subject or Slack header; longer titles are cut (the full one is in the body).
const MAX_HEADING: usize = 150;
/// The longest description a Slack section holds (Slack refuses more than 3000 characters).
const MAX_SLACK_TEXT: usize = 2800;

impl Content<'_> {
    /// Whether this notification asks its recipients for a vote they can still give.
    pub fn asks_for_vote(&self) -> bool {
        let asking = matches!(
            self.notification.kind,
            NotificationKind::ApprovalRequested
                | NotificationKind::NextStep
                | NotificationKind::Reminder
                | NotificationKind::Escalated
        );
        asking
            && self
                .about
                .as_ref()
                .is_some_and(|a| a.kind == RequestKind::Approval && a.pending)
    }

    /// The request's page in the inbox.
    pub fn page_url(&self) -> Option<String> {
        let a = self.about.as_ref()?;
        Some(format!(
            "{}{}/{}",
            self.public_url,
            a.kind.page_path(),
            url_segment(&a.id)
        ))
    }

    /// What happened, in a few words, before the title.
    fn headline(&self) -> &'static str {
        match self.notification.kind {
            NotificationKind::ApprovalRequested => "Approval requested",
            NotificationKind::NextStep => "Approval requested (next step)",
            NotificationKind::Reminder => "Reminder: approval waiting",
            NotificationKind::Escalated => "Escalated to you",
            NotificationKind::Resolved => "Resolved",
            NotificationKind::TimedOut => "Timed out",
            NotificationKind::Proceeding => "Proceeding",
            NotificationKind::FeedbackRequested => "Feedback requested",
            NotificationKind::FeedbackResolved => "Feedback answered",
        }
    }

    /// The first line of the runtime's message (who asks for what, or what happened).
    fn lead(&self) -> &str {
        self.notification.message.lines().next().unwrap_or_default()
    }

    /// The request's description, or else the rest of the runtime's message.
    fn description(&self) -> String {
        match &self.about {
            Some(a) => a.description.clone(),
            None => {
                let m = &self.notification.message;
                m.split_once('\n')
                    .map_or("", |(_, rest)| rest)
                    .trim()
                    .to_owned()
            }
        }
    }

    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = Vec::new();
        if let Some(a) = &self.about {
            facts.push(("Asked by", a.asked_by.to_string()));
        }
        if let Some(p) = self.notification.priority {
            facts.push(("Priority", p.as_str().to_owned()));
        }
        if let Some(d) = self.about.as_ref().and_then(|a| a.deadline) {
            facts.push(("Deadline", d.to_string()));
        }
        if let Some(a) = &self.about {
            facts.push(("Request", a.id.clone()));
        }
        facts
    }

    /// An email's subject: one line whatever the title holds, so that it cannot add a header.
    pub fn subject(&self) -> String {
        one_line(
            &format!("[rekall] {}: {}", self.headline(), self.notification.title),
            MAX_HEADING + 40,
        )
    }

    /// The plain-text part of an email.
    pub fn email_text(&self, links: Option<&Links>) -> String {
        let mut out = format!(
            "{}: {}\n\n{}\n\n",
            self.headline(),
            self.notification.title,
            self.lead()
        );
        for (name, value) in self.facts() {
            out.push_str(&format!("{name}: {value}\n"));
        }
        let description = self.description();
        if !description.is_empty() {
            out.push_str(&format!("\n{description}\n"));
        }
        if let Some(l) = links {
            out.push_str(&format!(
                "\nApprove: {}\nReject: {}\n\nEach link opens a page that asks you to confirm; it works once, for you only.\n",
                l.approve, l.reject
            ));
        }
        if let Some(page) = self.page_url() {
            out.push_str(&format!("\nOpen it in the inbox: {page}\n"));
        }
        out
    }

    /// The HTML part of an email; every text from the request escaped.
    pub fn email_html(&self, links: Option<&Links>) -> String {
        let mut out = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family: sans-serif\">\n",
        );
        out.push_str(&format!(
            "<h2>{}: {}</h2>\n<p>{}</p>\n<table>\n",
            escape(self.headline()),
            escape(&self.notification.title),
            escape(self.lead())
        ));
        for (name, value) in self.facts() {
            out.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
                escape(name),
                escape(&value)
            ));
        }
        out.push_str("</table>\n");
        let description = self.description();
        if !description.is_empty() {
            out.push_str(&format!(
                "<pre style=\"white-space: pre-wrap\">{}</pre>\n",
                escape(&description)
            ));
        }
        if let Some(l) = links {
            out.push_str(&format!(
                "<p><a href=\"{}\">Approve</a> &middot; <a href=\"{}\">Reject</a></p>\n<p><small>Each link opens a page that asks you to confirm; it works once, for you only.</small></p>\n",
                escape(&l.approve),
                escape(&l.reject)
            ));
        }
        if let Some(page) = self.page_url() {
            out.push_str(&format!(
                "<p><a href=\"{}\">Open it in the inbox</a></p>\n",
                escape(&page)
            ));
        }
        out.push_str("</body></html>\n");
        out
    }

    /// A `chat.postMessage` body: the title, who asks, the deadline, the mentions of the
    /// recipients, Approve and Reject buttons while a vote is asked for, and the inbox link.
    /// `mentions` are Slack user ids; `unmapped` the recipients with none.
    pub fn slack_message(
        &self,
        channel: &str,
        mentions: &[&str],
        unmapped: &[&Principal],
    ) -> Value {
        let n = self.notification;
        let heading = one_line(&format!("{}: {}", self.headline(), n.title), MAX_HEADING);
        let mut blocks = vec![json!({
            "type": "header",
            "text": {"type": "plain_text", "text": heading, "emoji": false}
        })];
        let mut text = slack_escape(self.lead());
        let description = self.description();
        if !description.is_empty() {
            text.push_str("\n\n");
            text.push_str(&slack_escape(&truncate(&description, MAX_SLACK_TEXT)));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
        let facts: Vec<Value> = self
            .facts()
            .into_iter()
            .map(|(name, value)| {
                json!({"type": "mrkdwn", "text": format!("*{name}:* {}", slack_escape(&value))})
            })
            .collect();
        if !facts.is_empty() {
            blocks.push(json!({"type": "context", "elements": facts}));
        }
        let mut to: Vec<String> = mentions.iter().map(|id| format!("<@{id}>")).collect();
        to.extend(unmapped.iter().map(|p| slack_escape(p.as_str())));
        if !to.is_empty() {
            blocks.push(json!({"type": "section",
                               "text": {"type": "mrkdwn", "text": format!("For: {}", to.join(", "))}}));
        }
        if self.asks_for_vote()
            && let Some(a) = &self.about
        {
            blocks.push(json!({
                "type": "actions",
                "block_id": "rekall_vote",
                "elements": [
                    {"type": "button", "action_id": links::SLACK_APPROVE, "style": "primary",
                     "text": {"type": "plain_text", "text": "Approve"}, "value": a.id},
                    {"type": "button", "action_id": links::SLACK_REJECT, "style": "danger",
                     "text": {"type": "plain_text", "text": "Reject"}, "value": a.id},
                ]
            }));
        }
        if let Some(page) = self.page_url() {
            blocks.push(json!({"type": "section",
                               "text": {"type": "mrkdwn", "text": format!("<{page}|Open it in the inbox>")}}));
        }
        json!({
            "channel": channel,
            // What notifications and screen readers show.
            "text": heading,
            "blocks": blocks,
            "unfurl_links": false,
        })
    }

    /// A webhook's body: the notification and its request, as data. It holds no links that
    /// vote: whoever receives a webhook is not an approver.
    pub fn webhook_body(&self) -> Value {
        let about = self.about.as_ref().map(|a| {
            json!({"type": a.kind.as_str(), "id": a.id, "askedBy": a.asked_by,
                   "description": a.description, "deadline": a.deadline,
                   "pending": a.pending})
        });
        json!({
            "notification": self.notification,
            "request": about,
            "inboxUrl": self.page_url(),
        })
    }
}

/// `text` on one line: every control character (CR and LF above all) becomes a space, and it
/// is cut at `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(&line, max)
}

/// At most `max` characters, with an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Slack's markup escaping: `&`, `<` and `>` are the only characters it gives a meaning
/// (`<!channel>`, `<@U123>`, `<url|text>`), so an agent's text cannot mention or link.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An id as one path segment: ids are the server's own, but one read from a store is still
/// not trusted to be URL-safe.
fn url_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Priority;
    use crate::model::NotificationId;

    fn note(title: &str, kind: NotificationKind) -> Notification {
        Notification {
            id: NotificationId::from("ntf_1"),
            kind,
            recipients: vec![Principal::parse("user:adam").unwrap()],
            channels: vec!["email".into()],
            title: title.into(),
            message: "agent:bot asks for approval: x\n\nignored\n\nRequest: apr_1".into(),
            priority: Some(Priority::High),
            execution_id: None,
            request_id: Some("apr_1".into()),
            created_at: Timestamp(0),
        }
    }

    fn about(description: &str) -> About {
        About {
            kind: RequestKind::Approval,
            id: "apr_1".into(),
            asked_by: Principal::parse("agent:bot").unwrap(),
            description: description.into(),
            deadline: Some(Timestamp(86_400_000)),
            pending: true,
        }
    }

    fn content<'a>(n: &'a Notification, a: Option<About>) -> Content<'a> {
        Content {
            notification: n,
            about: a,
            public_url: "http://127.0.0.1:9".into(),
        }
    }

    fn links() -> Links {
        Links {
            approve: "http://127.0.0.1:9/links/a?x=1&y=2".into(),
            reject: "http://127.0.0.1:9/links/r".into(),
        }
    }

    #[test]
    fn the_html_part_escapes_the_agents_text() {
        let n = note("<b>Deploy</b>", NotificationKind::ApprovalRequested);
        let c = content(&n, Some(about("<script>alert('x')</script> & \"quotes\"")));
        let html = c.email_html(Some(&links()));
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>Deploy"), "{html}");
        assert!(
            html.contains(
                "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;"
            )
        );
        assert!(html.contains("&lt;b&gt;Deploy&lt;/b&gt;"));
        // The link's own `&` is escaped in the attribute, and still the same link.
        assert!(html.contains("href=\"http://127.0.0.1:9/links/a?x=1&amp;y=2\""));
        assert!(html.contains("href=\"http://127.0.0.1:9/approvals/apr_1\""));
    }

    #[test]
    fn the_text_part_holds_the_facts_and_both_links() {
        let n = note("Deploy", NotificationKind::ApprovalRequested);
        let c = content(&n, Some(about("rolls out v2")));
        let text = c.email_text(Some(&links()));
        for want in [
            "Approval requested: Deploy",
            "Asked by: agent:bot",
            "Priority: high",
            "Deadline: 1970-01-02T00:00:00.000Z",
            "rolls out v2",
            "Approve: http://127.0.0.1:9/links/a?x=1&y=2",
            "Reject: http://127.0.0.1:9/links/r",
            "http://127.0.0.1:9/approvals/apr_1",
        ] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
        assert!(
            !text.contains("ignored"),
            "the description comes from the request"
        );
    }

    #[test]
    fn a_subject_is_one_line_whatever_the_title_holds() {
        let n = note(
            "ok\r\nBcc: victim@example.com\nX-Evil: 1",
            NotificationKind::Reminder,
        );
        let subject = content(&n, None).subject();
        assert!(
            !subject.contains('\r') && !subject.contains('\n'),
            "{subject:?}"
        );
        assert!(subject.starts_with("[rekall] Reminder: approval waiting: ok  Bcc:"));
        let long = note(&"x".repeat(1000), NotificationKind::Reminder);
        assert!(content(&long, None).subject().chars().count() <= MAX_HEADING + 40);
    }

    #[test]
    fn slack_buttons_only_while_a_vote_is_asked_and_agent_text_cannot_mention() {
        let n = note("Deploy", NotificationKind::ApprovalRequested);
        let adam = Principal::parse("user:bob").unwrap();
        let c = content(&n, Some(about("<!channel> look <http://evil|here>")));
        let m = c.slack_message("#approvals", &["U1"], &[&adam]);
        let text = m.to_string();
        assert!(text.contains(links::SLACK_APPROVE) && text.contains(links::SLACK_REJECT));
        assert!(text.contains("<@U1>") && text.contains("user:bob"));
        assert!(!text.contains("<!channel>") && text.contains("&lt;!channel&gt;"));
        assert_eq!(m["channel"], "#approvals");

        let resolved = note("Deploy", NotificationKind::Resolved);
        let m = content(&resolved, Some(about(""))).slack_message("#a", &[], &[]);
        assert!(!m.to_string().contains(links::SLACK_APPROVE));
        let mut done = about("");
        done.pending = false;
        let m = content(&n, Some(done)).slack_message("#a", &[], &[]);
        assert!(
            !m.to_string().contains(links::SLACK_APPROVE),
            "resolved meanwhile"
        );
    }

    #[test]
    fn a_webhook_body_carries_no_voting_link() {
        let n = note("Deploy", NotificationKind::ApprovalRequested);
        let body = content(&n, Some(about("d"))).webhook_body();
        assert_eq!(body["request"]["id"], "apr_1");
        assert_eq!(body["notification"]["title"], "Deploy");
        assert_eq!(body["inboxUrl"], "http://127.0.0.1:9/approvals/apr_1");
        assert!(!body.to_string().contains(links::LINK_PATH));
    }
}
