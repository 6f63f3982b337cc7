//! The product document's code-review workflow: an automated analysis, a structured review
//! form for a person when critical issues turn up, and an episodic memory when generated
//! code is rated poorly. Run it with `cargo run --example code_review_feedback`.

use std::error::Error;

use rekall_policy::demo::SimulatedHuman;
use rekall_policy::ir::{Duration, Principal};
use rekall_policy::model::{
    Artifact, CheckpointInterval, Execution, Field, Form, MemoryKind, NewMemory, OnFailure,
};
use rekall_policy::runtime::{FeedbackSpec, NewExecution, Runtime, RuntimeError};
use serde_json::{Value, json};

/// One finding of the analysis.
#[derive(Debug, Clone)]
pub struct Issue {
    pub title: String,
    pub severity: &'static str,
    pub code_snippet: String,
}

/// A stand-in for the analysis: PR numbers divisible by 7 have a critical issue.
pub fn analyze_code(pr: u32) -> Vec<Issue> {
    let mut issues = vec![Issue {
        title: "Long function".into(),
        severity: "minor",
        code_snippet: "fn handle() { /* 200 lines */ }".into(),
    }];
    if pr.is_multiple_of(7) {
        issues.push(Issue {
            title: "SQL built from user input".into(),
            severity: "critical",
            code_snippet: "format!(\"SELECT * FROM users WHERE name = '{name}'\")".into(),
        });
    }
    issues
}

/// Reviews a pull request, asking a person when critical issues are found.
pub async fn code_review_workflow(rt: &Runtime, pr: u32) -> Result<Execution, RuntimeError> {
    let x = rt.execution();
    let execution = x
        .create(
            NewExecution::new(format!("Code review for PR #{pr}"))
                .checkpoint_interval(CheckpointInterval::PerStep)
                .on_failure(OnFailure::Pause),
        )
        .await?;
    x.start(&execution.id).await?;

    // Step 1: automated analysis.
    let issues = analyze_code(pr);
    let analysis = json!({ "issues": issues.iter().map(|i| json!({"title": i.title, "severity": i.severity})).collect::<Vec<_>>() });
    x.checkpoint(
        &execution.id,
        1,
        Some(json!({ "analysis": analysis })),
        &format!("Analysis complete: {} issues found", issues.len()),
    )
    .await?;

    // Step 2: a person reviews the critical issues.
    let critical: Vec<&Issue> = issues.iter().filter(|i| i.severity == "critical").collect();
    if !critical.is_empty() {
        let mut spec = FeedbackSpec::new(
            format!("Critical issues in PR #{pr}"),
            Form::new(vec![
                Field::select(
                    "action",
                    "Action",
                    &["Block PR", "Approve with comments", "False positive"],
                ),
                Field::text("comments", "Review comments"),
            ]),
        )
        .description(format!(
            "Found {} critical issues that need human review.",
            critical.len()
        ));
        for issue in &critical {
            spec = spec.artifact(
                Artifact::code(issue.code_snippet.clone(), None).titled(issue.title.clone()),
            );
        }
        let review = x
            .request_feedback(&execution.id, spec)
            .await?
            .wait()
            .await?;
        let action = review
            .data
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("");
        x.checkpoint(
            &execution.id,
            2,
            Some(json!({ "analysis": analysis, "humanReview": review.data })),
            &format!("Human review: {action}"),
        )
        .await?;
        if action == "Block PR" {
            // postReview(pr, 'changes_requested', comments) would go here.
            return x
                .complete(&execution.id, json!({ "review": "changes_requested", "comments": review.data.get("comments") }))
                .await;
        }
    }

    // Step 3: post the review.
    x.complete(
        &execution.id,
        json!({ "issues": issues.len(), "criticalReviewed": critical.len() }),
    )
    .await
}

/// Asks a person to rate generated code; a poor rating is remembered for learning.
pub async fn review_generated_code(rt: &Runtime, code: &str) -> Result<Value, RuntimeError> {
    let x = rt.execution();
    let execution = x
        .create(NewExecution::new("Generate the auth module"))
        .await?;
    x.start(&execution.id).await?;
    let spec = FeedbackSpec::new(
        "Review Generated Code",
        Form::new(vec![
            Field::rating("quality", "Code Quality", 1, 5),
            Field::multiselect(
                "issues",
                "Issues Found",
                &[
                    "Missing error handling",
                    "Security concern",
                    "Performance issue",
                    "Style mismatch",
                    "Logic error",
                    "No issues",
                ],
            ),
            Field::text("comments", "Additional Comments").optional(),
        ]),
    )
    .description("Please review the generated authentication module")
    .artifact(Artifact::code(code, Some("rust")))
    .timeout(Duration(86_400_000));
    let feedback = x
        .request_feedback(&execution.id, spec)
        .await?
        .wait()
        .await?;
    let quality = feedback
        .data
        .get("quality")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if feedback.submitted() && quality < 3 {
        let issues: Vec<&str> = feedback
            .data
            .get("issues")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let comments = feedback
            .data
            .get("comments")
            .and_then(Value::as_str)
            .unwrap_or("");
        rt.memories()
            .create(
                NewMemory::new(
                    MemoryKind::Episodic,
                    format!(
                        "Code generation feedback: quality {quality}/5. Issues: {}. {comments}",
                        issues.join(", ")
                    ),
                )
                .tags(&["feedback", "code-generation"])
                .importance(0.8)
                .execution(&execution.id),
            )
            .await?;
    }
    x.complete(&execution.id, json!({ "quality": quality }))
        .await?;
    Ok(Value::Object(feedback.data))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite::memory:".into());
    let rt = Runtime::builder().store_url(&url).build().await?;
    let reviewer = Principal::parse("user:alice").ok_or("bad principal")?;
    let human = SimulatedHuman::new(rt.clone(), reviewer)
        .on_feedback(|req| {
            Some(if req.title.starts_with("Critical") {
                json!({"action": "Block PR", "comments": "Use a prepared statement."})
            } else {
                json!({"quality": 2, "issues": ["Missing error handling"], "comments": "unwraps everywhere"})
            })
        })
        .spawn();
    for pr in [12, 14] {
        let done = code_review_workflow(&rt, pr).await?;
        println!("{}: {}", done.name, done.result.unwrap_or_default());
    }
    let rating = review_generated_code(&rt, "fn login() { db.query(user).unwrap(); }").await?;
    println!("generated code rated: {rating}");
    human.abort();
    Ok(())
}
