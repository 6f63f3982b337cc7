//! The live-policy holder: atomic swaps under concurrent readers, refused invalid policies.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use rekall_policy::compile::LivePolicy;
use rekall_policy::{Outcome, Request};

/// Everything is auto-approved, except `delete`.
const OPEN: &str = r#"version: 1
name: open
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:adam]
    - action: "*"
      requireApproval: false
"#;

/// Everything needs approval, `delete` by someone else.
const CLOSED: &str = r#"version: 1
name: closed
hitl:
  rules:
    - action: delete
      requireApproval: true
      approvers: [user:carol]
    - action: "*"
      requireApproval: true
      approvers: [user:bob]
escalation:
  rules:
    - confidenceRange: [0.0, 0.5]
      action: escalate
      approvers: [user:carol]
    - confidenceRange: [0.5, 1.0]
      action: auto-approve
"#;

/// A policy with several errors: an unclosed class and an unknown key.
const BROKEN: &str = r#"version: 1
name: broken
hitl:
  rules:
    - action: "deploy["
      requireAproval: true
"#;

/// What each of the two good policies decides for the requests the readers ask.
fn expected(name: &str, request: &Request) -> (Outcome, Vec<&'static str>) {
    let delete = request.action == "delete";
    let low = request.confidence.unwrap_or(0.0) < 0.5;
    match (name, delete) {
        ("open", true) => (Outcome::RequestApproval, vec!["user:adam"]),
        ("open", false) => (Outcome::AutoApprove, vec![]),
        ("closed", _) if low => (Outcome::Escalate, vec!["user:carol"]),
        ("closed", true) => (Outcome::RequestApproval, vec!["user:carol"]),
        _ => (Outcome::RequestApproval, vec!["user:bob"]),
    }
}

#[test]
fn readers_see_one_whole_policy_at_a_time_while_it_is_swapped() {
    let live = Arc::new(LivePolicy::from_yaml_str(OPEN, "open.yaml").unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(4));
    let seen_open = Arc::new(AtomicUsize::new(0));
    let seen_closed = Arc::new(AtomicUsize::new(0));
    let requests = [
        Request::new("delete").resource("db/users").confidence(0.9),
        Request::new("deploy").resource("prod").confidence(0.9),
        Request::new("deploy").resource("prod").confidence(0.2),
        Request::new("delete"),
    ];

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (live, done, start) = (live.clone(), done.clone(), start.clone());
            let (seen_open, seen_closed, requests) =
                (seen_open.clone(), seen_closed.clone(), requests.clone());
            thread::spawn(move || {
                start.wait();
                let mut decisions = 0usize;
                // Bounded, so that a bug cannot hang the test run.
                while decisions < 2_000_000 && !(done.load(Ordering::Acquire) && decisions > 1_000)
                {
                    let policy = live.load();
                    let name = policy.name().unwrap_or_default().to_owned();
                    for request in &requests {
                        let decision = policy.decide(request).unwrap();
                        let approvers: Vec<&str> =
                            decision.approvers().iter().map(|p| p.as_str()).collect();
                        let (outcome, want) = expected(&name, request);
                        assert_eq!(
                            (decision.outcome(), approvers),
                            (outcome, want),
                            "{name} on {request:?}"
                        );
                        decisions += 1;
                    }
                    match name.as_str() {
                        "open" => seen_open.fetch_add(1, Ordering::Relaxed),
                        "closed" => seen_closed.fetch_add(1, Ordering::Relaxed),
                        other => panic!("a policy that was never put in force: {other}"),
                    };
                }
                decisions
            })
        })
        .collect();

    start.wait();
    for i in 0..400 {
        let (text, name) = if i % 2 == 0 {
            (CLOSED, "closed")
        } else {
            (OPEN, "open")
        };
        let old = live
            .replace_from_str(text, &format!("{name}.yaml"))
            .unwrap();
        assert_ne!(
            old.name(),
            Some(name),
            "the replaced policy is the other one"
        );
        // A broken policy never goes live, and says what is wrong.
        let err = live.replace_from_str(BROKEN, "broken.yaml").unwrap_err();
        assert!(err.diagnostics.len() >= 2, "{}", err.render());
        assert_eq!(live.load().name(), Some(name));
        thread::yield_now();
    }
    done.store(true, Ordering::Release);
    let total: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(total >= 3 * 1_000);
    assert!(seen_open.load(Ordering::Relaxed) > 0);
    assert!(seen_closed.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_decision_in_flight_finishes_on_the_old_policy() {
    let live = LivePolicy::from_yaml_str(OPEN, "open.yaml").unwrap();
    let request = Request::new("deploy").resource("prod").confidence(0.9);
    let held = live.load_full();
    let old = live.replace_from_str(CLOSED, "closed.yaml").unwrap();
    assert!(Arc::ptr_eq(&held, &old));
    // The one held still decides as the old policy; new loads see the new one.
    assert_eq!(
        held.decide(&request).unwrap().outcome(),
        Outcome::AutoApprove
    );
    assert_eq!(
        live.load().decide(&request).unwrap().outcome(),
        Outcome::RequestApproval
    );
    // The old policy is freed once its last holder lets go.
    let weak = Arc::downgrade(&held);
    drop((held, old));
    assert!(weak.upgrade().is_none());
}

#[test]
fn a_missing_or_invalid_file_is_refused_and_the_policy_stays() {
    let dir = std::env::temp_dir().join(format!("rekall-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.yaml");
    let bad = dir.join("bad.yaml");
    std::fs::write(&good, CLOSED).unwrap();
    std::fs::write(&bad, BROKEN).unwrap();

    let live = LivePolicy::from_path(&good).unwrap();
    assert_eq!(live.load().name(), Some("closed"));
    let err = live.replace_from_path(&bad).unwrap_err();
    let rendered = err.render();
    assert!(rendered.contains("bad.yaml"), "{rendered}");
    assert!(
        err.diagnostics.iter().any(|d| d.span.line == 5),
        "{rendered}"
    );
    assert!(live.replace_from_path(dir.join("absent.yaml")).is_err());
    assert_eq!(live.load().name(), Some("closed"));
    assert!(LivePolicy::from_path(&bad).is_err());

    std::fs::write(&good, OPEN).unwrap();
    live.replace_from_path(&good).unwrap();
    assert_eq!(live.load().name(), Some("open"));
    std::fs::remove_dir_all(&dir).unwrap();
}
