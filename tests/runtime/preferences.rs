//! Preference suggestions: corrections and feedback repeated with the same tags on the same
//! action, from more than one execution, are listed (`preferences list`), never applied.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;
use rekall_policy::model::{
    Correction, ExecutionId, Field, Form, Memory, MemoryId, MemoryKind, NewMemory, Timestamp,
};
use rekall_policy::runtime::preferences::{self, Suggestion};
use rekall_policy::runtime::{FeedbackSpec, ManualClock, Runtime};
use serde_json::{Map, json};

use crate::common::{T0, minutes, p, rig, running};
use crate::store_cli::cli_unprivileged;

fn correction(execution: &ExecutionId, action: &str, kind: &str, note: &str) -> Correction {
    Correction {
        execution_id: Some(execution.clone()),
        principal: p("user:adam"),
        kind: kind.into(),
        action: Some(action.into()),
        original: json!("fix stuff"),
        corrected: json!("Fix the retry loop"),
        note: Some(note.into()),
    }
}

async fn correct(rt: &Runtime, c: Correction) {
    rt.memories().record_correction(c).await.unwrap();
}

async fn suggested(rt: &Runtime, min: usize) -> Vec<Suggestion> {
    rt.memories().suggested_preferences(min).await.unwrap()
}

#[tokio::test]
async fn three_corrections_on_one_action_from_two_executions_are_one_suggestion() {
    let rig = rig().await;
    let a = running(&rig.rt, "a").await;
    let b = running(&rig.rt, "b").await;
    for (i, e) in [&a, &a, &b].into_iter().enumerate() {
        rig.clock.advance(minutes(1));
        let note = format!("note {i}");
        correct(
            &rig.rt,
            correction(&e.id, "git.commit", "commit-message", &note),
        )
        .await;
    }
    let found = suggested(&rig.rt, 3).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let s = &found[0];
    assert_eq!(s.surface.action.as_deref(), Some("git.commit"));
    assert_eq!(s.surface.tags, ["commit-message", "correction", "learning"]);
    assert_eq!(s.count, 3);
    let mut both = vec![a.id.clone(), b.id.clone()];
    both.sort();
    assert_eq!(s.executions, both);
    assert_eq!(s.first_at, T0.after(minutes(1)));
    assert_eq!(s.last_at, T0.after(minutes(3)));
    assert_eq!(s.examples.len(), 3);
    assert!(s.examples[0].content.ends_with("note 2"), "newest first");
    assert_eq!(s.examples[0].corrected, Some(json!("Fix the retry loop")));
}

#[tokio::test]
async fn below_the_minimum_or_from_one_execution_nothing_is_suggested() {
    let rig = rig().await;
    let a = running(&rig.rt, "a").await;
    let b = running(&rig.rt, "b").await;
    correct(
        &rig.rt,
        correction(&a.id, "git.commit", "commit-message", "x"),
    )
    .await;
    correct(
        &rig.rt,
        correction(&b.id, "git.commit", "commit-message", "y"),
    )
    .await;
    assert!(suggested(&rig.rt, 3).await.is_empty());
    assert_eq!(suggested(&rig.rt, 2).await.len(), 1, "--min lowers the bar");

    let rig = rig_with_one_execution_repeating().await;
    assert!(
        suggested(&rig, 3).await.is_empty(),
        "one execution repeating itself is not a preference"
    );
}

async fn rig_with_one_execution_repeating() -> Runtime {
    let rig = rig().await;
    let a = running(&rig.rt, "a").await;
    for _ in 0..5 {
        correct(
            &rig.rt,
            correction(&a.id, "git.commit", "commit-message", "x"),
        )
        .await;
    }
    rig.rt
}

#[tokio::test]
async fn the_same_tags_on_another_action_are_another_group() {
    let rig = rig().await;
    let a = running(&rig.rt, "a").await;
    let b = running(&rig.rt, "b").await;
    for e in [&a, &b, &b] {
        correct(&rig.rt, correction(&e.id, "git.commit", "message", "x")).await;
        correct(&rig.rt, correction(&e.id, "pr.open", "message", "x")).await;
    }
    correct(&rig.rt, correction(&a.id, "pr.open", "message", "x")).await;
    let found = suggested(&rig.rt, 3).await;
    let actions: Vec<_> = found
        .iter()
        .map(|s| (s.surface.action.clone().unwrap(), s.count))
        .collect();
    assert_eq!(
        actions,
        [("pr.open".to_owned(), 4), ("git.commit".to_owned(), 3)],
        "two groups, the more repeated first"
    );
}

fn memory(id: &str, tags: &[&str], execution: &str, at: i64) -> Memory {
    Memory {
        id: MemoryId::from(id.to_owned()),
        kind: MemoryKind::Episodic,
        content: format!("memory {id}"),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        metadata: Map::from_iter([("action".to_owned(), json!("deploy"))]),
        importance: 0.8,
        execution_id: Some(ExecutionId::from(execution.to_owned())),
        created_at: Timestamp(at),
    }
}

#[test]
fn tags_group_whatever_their_order() {
    let memories = [
        memory("m1", &["feedback", "code-generation"], "exe_1", 1),
        memory("m2", &["code-generation", "feedback"], "exe_2", 2),
        memory(
            "m3",
            &["feedback", "code-generation", "feedback"],
            "exe_2",
            3,
        ),
    ];
    let found = preferences::suggest(&memories, 3);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].surface.tags, ["code-generation", "feedback"]);
}

#[tokio::test]
async fn tags_given_in_any_order_to_the_runtime_group_together() {
    let rig = rig().await;
    let a = running(&rig.rt, "a").await;
    let b = running(&rig.rt, "b").await;
    for (e, tags) in [
        (&a, ["feedback", "code-generation"]),
        (&b, ["code-generation", "feedback"]),
        (&b, ["feedback", "code-generation"]),
    ] {
        let new = NewMemory::new(
            MemoryKind::Episodic,
            "Code generation feedback: quality 2/5",
        )
        .tags(&tags)
        .importance(0.8)
        .execution(&e.id);
        rig.rt.memories().create(new).await.unwrap();
    }
    let found = suggested(&rig.rt, 3).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].surface.tags, ["code-generation", "feedback"]);
    assert_eq!(found[0].surface.action, None);
}

#[tokio::test]
async fn answered_feedback_requests_count_by_their_subject() {
    let rig = rig().await;
    let form = || Form::new(vec![Field::rating("quality", "Code Quality", 1, 5)]);
    for name in ["a", "b", "b"] {
        let e = running(&rig.rt, name).await;
        let spec = FeedbackSpec::new("Review generated code", form());
        let h = rig
            .rt
            .execution()
            .request_feedback(&e.id, spec)
            .await
            .unwrap();
        rig.rt
            .feedback()
            .submit(h.id(), &p("user:adam"), json!({"quality": 2}))
            .await
            .unwrap();
    }
    let found = suggested(&rig.rt, 3).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].surface.subject.as_deref(),
        Some("Review generated code")
    );
    assert_eq!(found[0].surface.tags, ["feedback"]);
    assert_eq!(found[0].executions.len(), 3);
}

#[test]
fn memories_that_are_neither_corrections_nor_feedback_do_not_count() {
    let memories = [
        memory("m1", &["escalation"], "exe_1", 1),
        memory("m2", &["escalation"], "exe_2", 2),
        memory("m3", &["escalation"], "exe_3", 3),
    ];
    assert!(preferences::suggest(&memories, 1).is_empty());
}

proptest! {
    /// The listing depends on the memories, not on the order the store returns them in nor on
    /// a memory returned by both queries.
    #[test]
    fn order_and_repeats_change_nothing(
        picks in prop::collection::vec((0usize..3, 0usize..3, 0usize..4, 0i64..50), 0..30),
        seed in any::<u64>(),
    ) {
        let tag_sets: [&[&str]; 3] =
            [&["correction", "learning"], &["feedback"], &["feedback", "ui"]];
        let memories: Vec<Memory> = picks
            .iter()
            .enumerate()
            .map(|(i, &(tags, action, exe, at))| {
                let mut m = memory(&format!("m{i}"), tag_sets[tags], &format!("exe_{exe}"), at);
                m.metadata.insert("action".into(), json!(format!("act{action}")));
                m
            })
            .collect();
        let mut shuffled = memories.clone();
        shuffled.extend(memories.iter().step_by(2).cloned());
        let n = shuffled.len();
        for i in 0..n {
            let j = (seed as usize).wrapping_mul(i + 7) % n;
            shuffled.swap(i, j);
        }
        let expected = preferences::suggest(&memories, 2);
        prop_assert_eq!(preferences::suggest(&shuffled, 2), expected.clone());
        for w in expected.windows(2) {
            prop_assert!(w[0].count > w[1].count
                || (w[0].count == w[1].count && w[0].surface < w[1].surface));
        }
        for s in &expected {
            prop_assert!(s.count >= 2 && s.executions.len() >= 2);
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A store file with three corrections of one action from two executions, whose note is
/// hostile (escape sequences and markup, as an agent could relay them), and two answered
/// feedback requests from two executions whose title is hostile too.
async fn seeded(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("agent.db");
    let url = format!("sqlite://{}", path.display());
    let rt = Runtime::builder()
        .store_url(&url)
        .clock(Arc::new(ManualClock::at(T0)))
        .background(false)
        .build()
        .await
        .unwrap();
    let a = running(&rt, "a").await;
    let b = running(&rt, "b").await;
    for e in [&a, &b, &b] {
        let note = "\u{1b}]0;owned\u{7}\u{1b}[2J<script>alert(1)</script>";
        correct(&rt, correction(&e.id, "git.commit", "commit-message", note)).await;
    }
    for _ in 0..2 {
        let e = running(&rt, "review").await;
        let form = Form::new(vec![Field::rating("quality", "Code Quality", 1, 5)]);
        let spec = FeedbackSpec::new("Review \u{1b}[31mthis\u{1b}[0m", form);
        let h = rt.execution().request_feedback(&e.id, spec).await.unwrap();
        let answer = json!({"quality": 1});
        rt.feedback()
            .submit(h.id(), &p("user:adam"), answer)
            .await
            .unwrap();
    }
    drop(rt);
    // The store's thread closes the database once the last handle is gone.
    for _ in 0..200 {
        if !Path::new(&format!("{}-wal", path.display())).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (path, url)
}

#[tokio::test]
async fn listing_a_read_only_store_in_a_read_only_folder_escapes_agent_text_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, url) = seeded(dir.path()).await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = std::fs::read(&path).unwrap();

    let out = cli_unprivileged(&["preferences", "list", "--store", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
    assert!(
        shown.contains("\\u{1b}]0;owned\\u{7}\\u{1b}[2J<script>"),
        "{shown}"
    );
    assert!(shown.contains("action git.commit, tags commit-message, correction, learning"));
    assert!(shown.contains("3 times from 2 executions"), "{shown}");
    assert!(shown.contains("nothing is applied"), "{shown}");

    let out = cli_unprivileged(&["preferences", "list", "--store", &url, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["suggestions"][0]["count"], 3);
    assert_eq!(listed["suggestions"][0]["action"], "git.commit");
    assert!(!text(&out.stdout).contains('\u{1b}'));

    let out = cli_unprivileged(&["preferences", "list", "--store", &url, "--min", "2"]);
    let shown = text(&out.stdout);
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    assert!(
        shown.contains("feedback on \"Review \\u{1b}[31mthis\\u{1b}[0m\", tags feedback"),
        "two answers meet --min 2, and a hostile subject is shown escaped: {shown}"
    );
    let out = cli_unprivileged(&["preferences", "list", "--store", &url, "--min", "4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("no suggested preferences"));

    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a listing changed the store"
    );
    let listed: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(listed.len(), 1, "nothing was created beside the store");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
}
