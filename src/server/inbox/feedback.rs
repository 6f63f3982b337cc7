//! `/feedback/{id}`: a feedback request's form, rendered from its field specs (rating, select,
//! multiselect, text, code), with the HTML constraints the browser checks (`required`,
//! `min`/`max`, `maxlength`; `/inbox.js` shows the problems next to the fields) and checked
//! again on the server by the runtime's own check of a form answer. A refused answer comes
//! back with each problem next to its field and the person's input kept.
//!
//! Answers are posted as `a.NAME=value`; only a multiselect's key may repeat.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use super::changes::{Watch, digest, watched};
use super::form_body::FormBody;
use super::guard::{SignedPost, Viewer};
use super::page::{self, PageError, PageResult, badge, deadline, names, when};
use super::{InboxState, PageId};
use crate::model::{
    Artifact, FeedbackError, FeedbackRequest, FeedbackStatus, Field, FieldKind, MAX_ANSWER_BYTES,
};
use crate::runtime::RuntimeError;
use crate::server::auth::Caller;
use crate::server::error::ApiError;
use crate::server::html::{Markup, escape};

/// The prefix of an answer's key in the form post.
const ANSWER: &str = "a.";

/// The request, if the caller may see it: the API's own check, and its 404 otherwise.
async fn visible(
    state: &InboxState,
    caller: &Caller,
    id: &str,
) -> Result<FeedbackRequest, PageError> {
    Ok(crate::server::routes::feedback::visible(&state.app, caller, id).await?)
}

/// What the page shows besides the request: the person's input, and problems.
#[derive(Default)]
struct Answered<'a> {
    input: Option<&'a FormBody>,
    /// Problems by field name.
    errors: HashMap<String, String>,
    /// A refusal of the whole answer, or its acceptance.
    banner: Option<(&'static str, String)>,
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
        &Answered::default(),
    ))
}

/// `POST /feedback/{id}`.
pub async fn submit(
    State(state): State<InboxState>,
    PageId(id): PageId,
    post: SignedPost,
) -> PageResult {
    let SignedPost { viewer, form } = post;
    let caller = viewer.caller();
    let r = visible(&state, &caller, &id).await?;
    let field_of = |key: &str| {
        key.strip_prefix(ANSWER)
            .and_then(|name| r.form.fields.iter().find(|f| f.name == name))
    };
    form.allow(
        |k| field_of(k).is_some(),
        |k| field_of(k).is_some_and(|f| matches!(f.kind, FieldKind::Multiselect { .. })),
    )?;
    let answers = answers_of(&r.form.fields, &form);
    match state
        .app
        .rt
        .feedback()
        .submit(&r.id, &caller.principal, Value::Object(answers))
        .await
    {
        Ok(r) => {
            let done = Answered {
                banner: Some(("ok", "Thank you: your answer was recorded.".to_owned())),
                ..Answered::default()
            };
            Ok(render(&state, &viewer, &r, StatusCode::OK, &done))
        }
        Err(RuntimeError::Feedback(FeedbackError::Invalid { errors, .. })) => {
            let mut by_field: HashMap<String, String> = HashMap::new();
            for e in errors {
                let entry = by_field.entry(e.field.clone()).or_default();
                if !entry.is_empty() {
                    entry.push_str("; ");
                }
                entry.push_str(&format!("{}: {}", label_of(&r, &e.field), e.problem));
            }
            let refused = Answered {
                input: Some(&form),
                banner: Some((
                    "error",
                    "Some answers need a fix; see the fields marked below.".to_owned(),
                )),
                errors: by_field,
            };
            Ok(render(
                &state,
                &viewer,
                &r,
                StatusCode::UNPROCESSABLE_ENTITY,
                &refused,
            ))
        }
        Err(RuntimeError::Store(e)) => Err(ApiError::from(e).into()),
        Err(e) => {
            let e = ApiError::from(e);
            let r = visible(&state, &caller, &id).await?;
            let refused = Answered {
                input: Some(&form),
                banner: Some(("error", format!("Your answer was refused: {}", e.message))),
                ..Answered::default()
            };
            Ok(render(&state, &viewer, &r, e.status, &refused))
        }
    }
}

fn label_of(r: &FeedbackRequest, name: &str) -> String {
    r.form
        .fields
        .iter()
        .find(|f| f.name == name)
        .map_or_else(|| name.to_owned(), |f| f.label.clone())
}

/// The answers of a form post as the runtime takes them: a field left empty is not
/// answered (so a required one is reported missing), a rating is a number when it reads as
/// one (otherwise the text goes on, and the runtime says what is wrong with it), a
/// multiselect a list.
pub fn answers_of(fields: &[Field], form: &FormBody) -> Map<String, Value> {
    let mut answers = Map::new();
    for field in fields {
        let key = format!("{ANSWER}{}", field.name);
        let value = match &field.kind {
            FieldKind::Multiselect { .. } => {
                let chosen: Vec<Value> = form
                    .all(&key)
                    .map(|v| Value::String(v.to_owned()))
                    .collect();
                (!chosen.is_empty()).then_some(Value::Array(chosen))
            }
            FieldKind::Rating { .. } => form
                .get(&key)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse::<i64>()
                        .map_or_else(|_| Value::String(v.to_owned()), Value::from)
                }),
            FieldKind::Select { .. } => form
                .get(&key)
                .filter(|v| !v.is_empty())
                .map(|v| Value::String(v.to_owned())),
            FieldKind::Text | FieldKind::Code { .. } => form
                .get(&key)
                .filter(|v| !v.trim().is_empty())
                // Browsers send a textarea's line breaks as CRLF.
                .map(|v| Value::String(v.replace("\r\n", "\n"))),
        };
        if let Some(value) = value {
            answers.insert(field.name.clone(), value);
        }
    }
    answers
}

fn render(
    state: &InboxState,
    viewer: &Viewer,
    r: &FeedbackRequest,
    status: StatusCode,
    answered: &Answered<'_>,
) -> axum::response::Response {
    let now = state.app.rt.now();
    let watch = Watch::Feedback(r.id.as_str().to_owned());
    let mut body = watched(state, &watch, &digest(&watch, &[], std::slice::from_ref(r)));
    body.push(Markup::trusted("<section class=\"card\"><h1>"));
    body.push(Markup::text(&r.title));
    body.push(Markup::trusted("</h1><div class=\"meta\">"));
    body.push(badge(
        &format!("s-{}", r.status.as_str()),
        r.status.as_str(),
    ));
    body.push(badge("", "feedback"));
    body.push(Markup::trusted("<span>Asked by "));
    body.push(Markup::text(r.requested_by.as_str()));
    body.push(Markup::trusted(format!(
        "</span><span>Asked {}</span>",
        escape(&when(r.created_at))
    )));
    if r.status == FeedbackStatus::Pending {
        body.push(deadline(r.deadline, now));
    }
    body.push(Markup::trusted("</div>"));
    if !r.description.is_empty() {
        body.push(Markup::trusted(
            "<h2>Description</h2><p class=\"text\" id=\"description\">",
        ));
        body.push(Markup::text(&r.description));
        body.push(Markup::trusted("</p>"));
    }
    body.push(Markup::trusted("</section>"));
    if !r.artifacts.is_empty() {
        body.push(Markup::trusted(
            "<section class=\"card\" id=\"artifacts\"><h2>Artifacts</h2>",
        ));
        for a in &r.artifacts {
            body.push(artifact(a));
        }
        body.push(Markup::trusted("</section>"));
    }
    if let Some((class, text)) = &answered.banner {
        body.push(Markup::trusted(format!(
            "<p class=\"card {class}\" id=\"result\" role=\"status\">"
        )));
        body.push(Markup::text(text));
        body.push(Markup::trusted("</p>"));
    }
    if r.status == FeedbackStatus::Pending {
        body.push(form(viewer, r, answered));
    } else {
        body.push(answers_card(r));
    }
    body.push(Markup::trusted("</div>"));
    page::signed_in_with(viewer, status, &r.title, body)
}

/// A language name fit for a class attribute (`language-rust`), or none.
fn language_class(language: Option<&str>) -> Option<&str> {
    language.filter(|l| {
        !l.is_empty()
            && l.len() <= 32
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '#' | '-' | '_' | '.'))
    })
}

/// An artifact: code as code with its language, a lone http(s) address as a link, anything
/// else as text.
fn artifact(a: &Artifact) -> Markup {
    let mut m = Markup::trusted("<div class=\"artifact\">");
    if let Some(title) = &a.title {
        m.push(Markup::trusted("<h3>"));
        m.push(Markup::text(title));
        m.push(Markup::trusted("</h3>"));
    }
    let content = a.content.trim();
    let is_link = (content.starts_with("https://") || content.starts_with("http://"))
        && !content.chars().any(char::is_whitespace);
    if a.kind == "code" {
        let language = language_class(a.language.as_deref());
        m.push(Markup::trusted("<div class=\"lang\">"));
        m.push(Markup::text(language.unwrap_or("code")));
        m.push(Markup::trusted("</div><pre><code"));
        if let Some(l) = language {
            m.push(Markup::trusted(format!(
                " class=\"language-{}\"",
                escape(l)
            )));
        }
        m.push(Markup::trusted(">"));
        m.push(Markup::text(&a.content));
        m.push(Markup::trusted("</code></pre>"));
    } else if is_link {
        m.push(Markup::trusted("<div class=\"lang\">"));
        m.push(Markup::text(&a.kind));
        m.push(Markup::trusted(format!(
            "</div><p><a href=\"{}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">",
            escape(content)
        )));
        m.push(Markup::text(content));
        m.push(Markup::trusted("</a></p>"));
    } else {
        m.push(Markup::trusted("<div class=\"lang\">"));
        m.push(Markup::text(&a.kind));
        m.push(Markup::trusted("</div><pre class=\"text\">"));
        m.push(Markup::text(&a.content));
        m.push(Markup::trusted("</pre>"));
    }
    m.push(Markup::trusted("</div>"));
    m
}

fn form(viewer: &Viewer, r: &FeedbackRequest, answered: &Answered<'_>) -> Markup {
    let mut m = Markup::trusted(format!(
        "<section class=\"card\"><h2>Your answer</h2><form method=\"post\" action=\"/feedback/{}\" id=\"feedback\" data-validate>",
        escape(r.id.as_str())
    ));
    m.push(viewer.csrf_field());
    for (i, field) in r.form.fields.iter().enumerate() {
        m.push(field_markup(i, field, answered));
    }
    m.push(Markup::trusted(
        "<div class=\"actions\"><button class=\"primary\" type=\"submit\">Send</button></div></form>",
    ));
    m.push(Markup::trusted(format!(
        "<p class=\"meta\">Reviewers: {}</p></section>",
        escape(&if r.respondents.is_empty() {
            "any approver".to_owned()
        } else {
            names(&r.respondents)
        })
    )));
    m
}

fn field_markup(i: usize, field: &Field, answered: &Answered<'_>) -> Markup {
    let id = format!("f{i}");
    let key = format!("{ANSWER}{}", field.name);
    let error = answered.errors.get(&field.name);
    let input: Vec<&str> = answered
        .input
        .map(|f| f.all(&key).collect())
        .unwrap_or_default();
    let first = input.first().copied().unwrap_or("");
    let required = if field.required { " required" } else { "" };
    let mark = if field.required {
        "required"
    } else {
        "optional"
    };
    let invalid = if error.is_some() { " invalid" } else { "" };
    let described = format!(" aria-describedby=\"{id}-error\"");
    let name = escape(&key);
    let mut m = Markup::trusted(format!(
        "<div class=\"field{invalid}\" data-field=\"{id}\">"
    ));
    let label = |m: &mut Markup, tag: &str| {
        m.push(Markup::trusted(format!("<{tag}>")));
        m.push(Markup::text(&field.label));
        m.push(Markup::trusted(format!(
            " <span class=\"meta\">({mark})</span></{}>",
            tag.split(' ').next().unwrap_or(tag)
        )));
    };
    match &field.kind {
        FieldKind::Rating { min, max } => {
            label(&mut m, &format!("label class=\"name\" for=\"{id}\""));
            m.push(Markup::trusted(format!(
                "<input type=\"number\" id=\"{id}\" name=\"{name}\" min=\"{min}\" max=\"{max}\" step=\"1\" inputmode=\"numeric\" value=\"{}\"{required}{described}> <span class=\"meta\">{min} to {max}</span>",
                escape(first)
            )));
        }
        FieldKind::Select { options } => {
            label(&mut m, &format!("label class=\"name\" for=\"{id}\""));
            m.push(Markup::trusted(format!("<select id=\"{id}\" name=\"{name}\"{required}{described}><option value=\"\">Choose…</option>")));
            for o in options {
                let selected = if o == first { " selected" } else { "" };
                m.push(Markup::trusted(format!(
                    "<option value=\"{}\"{selected}>",
                    escape(o)
                )));
                m.push(Markup::text(o));
                m.push(Markup::trusted("</option>"));
            }
            m.push(Markup::trusted("</select>"));
        }
        FieldKind::Multiselect { options } => {
            let data_required = if field.required { " data-required" } else { "" };
            m.push(Markup::trusted(format!(
                "<fieldset id=\"{id}\" data-multiselect{data_required}{described}>"
            )));
            label(&mut m, "legend");
            for (j, o) in options.iter().enumerate() {
                let checked = if input.contains(&o.as_str()) {
                    " checked"
                } else {
                    ""
                };
                m.push(Markup::trusted(format!(
                    "<label class=\"option\"><input type=\"checkbox\" id=\"{id}-{j}\" name=\"{name}\" value=\"{}\"{checked}> ",
                    escape(o)
                )));
                m.push(Markup::text(o));
                m.push(Markup::trusted("</label>"));
            }
            m.push(Markup::trusted("</fieldset>"));
        }
        FieldKind::Text => {
            label(&mut m, &format!("label class=\"name\" for=\"{id}\""));
            m.push(Markup::trusted(format!(
                "<textarea id=\"{id}\" name=\"{name}\" rows=\"4\" maxlength=\"{MAX_ANSWER_BYTES}\"{required}{described}>{}</textarea>",
                escape(first)
            )));
        }
        FieldKind::Code { language } => {
            label(&mut m, &format!("label class=\"name\" for=\"{id}\""));
            m.push(Markup::trusted("<div class=\"lang\">"));
            m.push(Markup::text(
                language_class(language.as_deref()).unwrap_or("code"),
            ));
            m.push(Markup::trusted(format!(
                "</div><textarea class=\"code\" id=\"{id}\" name=\"{name}\" rows=\"8\" spellcheck=\"false\" maxlength=\"{MAX_ANSWER_BYTES}\"{required}{described}>{}</textarea>",
                escape(first)
            )));
        }
    }
    m.push(Markup::trusted(format!(
        "<p class=\"field-error\" id=\"{id}-error\" aria-live=\"polite\">"
    )));
    if let Some(e) = error {
        m.push(Markup::text(e));
    }
    m.push(Markup::trusted("</p></div>"));
    m
}

/// A resolved request: who answered, and the answers.
fn answers_card(r: &FeedbackRequest) -> Markup {
    let mut m = Markup::trusted("<section class=\"card\" id=\"answers\"><h2>");
    m.push(Markup::text(&match (&r.submitted_by, r.status) {
        (Some(p), _) => format!("Answered by {p}"),
        (None, status) => format!("Closed: {}", status.as_str()),
    }));
    m.push(Markup::trusted("</h2>"));
    if let Some(answers) = &r.answers {
        m.push(Markup::trusted("<dl class=\"call\">"));
        for field in &r.form.fields {
            m.push(Markup::trusted("<dt>"));
            m.push(Markup::text(&field.label));
            m.push(Markup::trusted("</dt><dd class=\"text\">"));
            let shown = match answers.get(&field.name) {
                None | Some(Value::Null) => "(no answer)".to_owned(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(other) => other.to_string(),
            };
            m.push(Markup::text(&shown));
            m.push(Markup::trusted("</dd>"));
        }
        m.push(Markup::trusted("</dl>"));
    }
    m.push(Markup::trusted("</section>"));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::form::{Form, parse};

    #[test]
    fn a_form_post_reads_as_the_runtime_takes_answers() {
        let fields = vec![
            Field::rating("quality", "Quality", 1, 5),
            Field::multiselect("issues", "Issues", &["a", "b"]),
            Field::select("pick", "Pick", &["x"]),
            Field::text("comments", "Comments").optional(),
            Field::code("fix", "Fix", Some("rust")).optional(),
        ];
        let form = FormBody(Form(
            parse("a.quality=4&a.issues=a&a.issues=b&a.pick=&a.comments=line1%0D%0Aline2&a.fix=++")
                .unwrap(),
        ));
        let answers = answers_of(&fields, &form);
        assert_eq!(
            Value::Object(answers),
            serde_json::json!({"quality": 4, "issues": ["a", "b"], "comments": "line1\nline2"})
        );
        let form = FormBody(Form(parse("a.quality=four").unwrap()));
        assert_eq!(answers_of(&fields, &form)["quality"], "four");
    }

    #[test]
    fn only_plain_language_names_become_classes() {
        assert_eq!(language_class(Some("typescript")), Some("typescript"));
        assert_eq!(language_class(Some("c++")), Some("c++"));
        assert_eq!(language_class(Some("x\" onmouseover=\"y")), None);
        assert_eq!(language_class(Some("")), None);
        assert_eq!(language_class(None), None);
    }
}
