//! Feedback forms: the form is checked when asked for, answers field by field when given.

use rekall_policy::model::{
    Artifact, ExecutionStatus, FeedbackError, FeedbackStatus, Field, FieldProblem, Form,
    MemoryQuery,
};
use rekall_policy::runtime::{FeedbackSpec, RuntimeError};
use serde_json::json;

use crate::common::{hours, p, ps, rig, running};

fn review_form() -> Form {
    Form::new(vec![
        Field::rating("quality", "Code Quality", 1, 5),
        Field::multiselect(
            "issues",
            "Issues Found",
            &["Missing error handling", "Security concern", "No issues"],
        ),
        Field::select("action", "Action", &["Block PR", "Approve with comments"]),
        Field::code("patch", "Suggested patch", Some("rust")).optional(),
        Field::text("comments", "Additional Comments").optional(),
    ])
}

fn problems(err: RuntimeError) -> Vec<(String, FieldProblem)> {
    match err {
        RuntimeError::Feedback(FeedbackError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| (e.field, e.problem)).collect()
        }
        other => panic!("expected invalid answers, got {other}"),
    }
}

#[tokio::test]
async fn bad_answers_are_refused_field_by_field() {
    let rig = rig().await;
    let e = running(&rig.rt, "review").await;
    let spec = FeedbackSpec::new("Review Generated Code", review_form())
        .artifact(Artifact::code("fn main() {}", Some("rust")).titled("main.rs"));
    let h = rig
        .rt
        .execution()
        .request_feedback(&e.id, spec)
        .await
        .unwrap();
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Paused
    );
    let f = rig.rt.feedback();
    let human = p("user:adam");

    let got = problems(
        f.submit(
            h.id(),
            &human,
            json!({"quality": 7, "issues": ["Security concern", "Bugs"], "comments": 3, "extra": 1}),
        )
        .await
        .unwrap_err(),
    );
    let fields: Vec<&str> = got.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["extra", "quality", "issues", "action", "comments"]);
    assert!(matches!(got[0].1, FieldProblem::UnknownField { .. }));
    assert_eq!(
        got[1].1,
        FieldProblem::OutOfRange {
            value: "7".into(),
            min: 1,
            max: 5
        }
    );
    assert!(matches!(&got[2].1, FieldProblem::NotAnOption { value, .. } if value == "Bugs"));
    assert_eq!(got[3].1, FieldProblem::Missing);
    assert!(matches!(
        &got[4].1,
        FieldProblem::WrongType {
            expected: "a string",
            ..
        }
    ));

    let cases = [
        (
            json!({"quality": 4.5, "issues": [], "action": "Block PR"}),
            "quality",
            "must be a whole number",
        ),
        (
            json!({"quality": "5", "issues": [], "action": "Block PR"}),
            "quality",
            "must be a whole number, found the string \"5\"",
        ),
        (
            json!({"quality": 0, "issues": [], "action": "Block PR"}),
            "quality",
            "0 is outside the range 1 to 5",
        ),
        (
            json!({"quality": 3, "issues": "No issues", "action": "Block PR"}),
            "issues",
            "must be a list of options",
        ),
        (
            json!({"quality": 3, "issues": ["No issues", "No issues"], "action": "Block PR"}),
            "issues",
            "chosen twice",
        ),
        (
            json!({"quality": 3, "issues": [1], "action": "Block PR"}),
            "issues",
            "a list of strings",
        ),
        (
            json!({"quality": 3, "issues": [], "action": ["Block PR"]}),
            "action",
            "one of the options",
        ),
        (
            json!({"quality": 3, "issues": [], "action": "Merge"}),
            "action",
            "`Merge` is not one of the options",
        ),
        (
            json!({"quality": 3, "issues": [], "action": "Block PR", "patch": {"diff": 1}}),
            "patch",
            "must be a string",
        ),
        (
            json!({"quality": null, "issues": [], "action": "Block PR"}),
            "quality",
            "is required",
        ),
    ];
    for (answers, field, says) in cases {
        let err = f.submit(h.id(), &human, answers.clone()).await.unwrap_err();
        let text = err.to_string();
        let got = problems(err);
        assert_eq!(got.len(), 1, "{answers}: {got:?}");
        assert_eq!(got[0].0, field, "{answers}");
        assert!(text.contains(says), "{answers}: {text}");
    }
    let err = f.submit(h.id(), &human, json!([1, 2])).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::InvalidInput { field, .. } if field == "answers"),
        "{err}"
    );
    assert_eq!(
        f.get(h.id()).await.unwrap().status,
        FeedbackStatus::Pending,
        "nothing was recorded"
    );

    // The agent never answers its own request.
    let err = f
        .submit(
            h.id(),
            &e.agent,
            json!({"quality": 3, "issues": [], "action": "Block PR"}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Feedback(FeedbackError::SelfAnswer { .. })
        ),
        "{err}"
    );

    // A good answer: optional fields may be left out; ratings may be written 4.0.
    f.submit(
        h.id(),
        &human,
        json!({"quality": 4.0, "issues": ["No issues"], "action": "Approve with comments"}),
    )
    .await
    .unwrap();
    let outcome = h.wait().await.unwrap();
    assert!(outcome.submitted());
    assert_eq!(outcome.data["action"], "Approve with comments");
    assert_eq!(outcome.submitted_by, Some(human.clone()));
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );

    // Every answer is remembered.
    let remembered = rig
        .rt
        .memories()
        .query(MemoryQuery::tagged(&["feedback"]))
        .await
        .unwrap();
    assert_eq!(remembered.len(), 1);
    assert!(
        remembered[0]
            .content
            .contains("Action: Approve with comments"),
        "{}",
        remembered[0].content
    );

    let late = f
        .submit(
            h.id(),
            &human,
            json!({"quality": 1, "issues": [], "action": "Block PR"}),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        late,
        RuntimeError::Feedback(FeedbackError::AlreadyClosed {
            status: FeedbackStatus::Submitted,
            ..
        })
    ));
}

#[tokio::test]
async fn broken_forms_are_refused_when_asked_for() {
    let rig = rig().await;
    let e = running(&rig.rt, "forms").await;
    let cases = [
        (Form::new(vec![]), "form.fields"),
        (
            Form::new(vec![Field::rating("q", "Q", 5, 1)]),
            "form.fields[0].min",
        ),
        (
            Form::new(vec![Field::text("a", "A"), Field::select("b", "B", &[])]),
            "form.fields[1].options",
        ),
        (
            Form::new(vec![Field::text("a", "A"), Field::text("a", "again")]),
            "form.fields[1].name",
        ),
        (
            Form::new(vec![Field::multiselect("m", "M", &["x", "x"])]),
            "form.fields[0].options",
        ),
        (Form::new(vec![Field::text("", "A")]), "form.fields[0].name"),
    ];
    for (form, field) in cases {
        let err = rig
            .rt
            .execution()
            .request_feedback(&e.id, FeedbackSpec::new("t", form))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, RuntimeError::InvalidInput { field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );
}

#[tokio::test]
async fn respondents_deadlines_and_the_json_form() {
    let rig = rig().await;
    let e = running(&rig.rt, "review").await;
    let spec = FeedbackSpec::new(
        "Critical issues",
        Form::new(vec![Field::text("comments", "Review comments")]),
    )
    .respondents(ps(&["user:alice"]))
    .timeout(hours(24));
    let h = rig
        .rt
        .execution()
        .request_feedback(&e.id, spec)
        .await
        .unwrap();
    let err = rig
        .rt
        .feedback()
        .submit(h.id(), &p("user:bob"), json!({"comments": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Feedback(FeedbackError::NotARespondent { .. })
        ),
        "{err}"
    );
    rig.clock.advance(hours(24));
    let err = rig
        .rt
        .feedback()
        .submit(h.id(), &p("user:alice"), json!({"comments": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RuntimeError::Feedback(FeedbackError::DeadlinePassed { .. })
        ),
        "{err}"
    );
    rig.rt.process_due().await.unwrap();
    assert_eq!(h.wait().await.unwrap().status, FeedbackStatus::TimedOut);
    assert_eq!(
        rig.rt.execution().get(&e.id).await.unwrap().status,
        ExecutionStatus::Running
    );

    // Forms read from the product document's JSON shape.
    let form: Form = serde_json::from_value(json!({"fields": [
        {"name": "quality", "type": "rating", "label": "Code Quality", "min": 1, "max": 5},
        {"name": "comments", "type": "text", "label": "Additional Comments", "required": false}
    ]}))
    .unwrap();
    assert_eq!(
        form,
        Form::new(vec![
            Field::rating("quality", "Code Quality", 1, 5),
            Field::text("comments", "Additional Comments").optional(),
        ])
    );
}
