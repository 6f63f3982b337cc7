//! The OpenAPI document against the router: every operation it lists is served, and every
//! route of the contract the server serves is in it, with no method it does not list.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::support::{ROOT, Server, token};

/// Every route of the contract (sections 3, 4 and 7), with the method.
const CONTRACT: &[(&str, &str)] = &[
    ("POST", "/v1/executions"),
    ("GET", "/v1/executions"),
    ("GET", "/v1/executions/{id}"),
    ("POST", "/v1/executions/{id}/start"),
    ("POST", "/v1/executions/{id}/pause"),
    ("POST", "/v1/executions/{id}/resume"),
    ("POST", "/v1/executions/{id}/cancel"),
    ("POST", "/v1/executions/{id}/checkpoint"),
    ("POST", "/v1/executions/{id}/complete"),
    ("POST", "/v1/executions/{id}/fail"),
    ("POST", "/v1/executions/{id}/escalation-check"),
    ("POST", "/v1/executions/{id}/approvals"),
    ("POST", "/v1/executions/{id}/feedback"),
    ("GET", "/v1/approvals"),
    ("GET", "/v1/approvals/{id}"),
    ("POST", "/v1/approvals/{id}/approve"),
    ("POST", "/v1/approvals/{id}/reject"),
    ("GET", "/v1/feedback"),
    ("GET", "/v1/feedback/{id}"),
    ("POST", "/v1/feedback/{id}/submit"),
    ("POST", "/v1/memories"),
    ("GET", "/v1/memories"),
    ("GET", "/v1/audit"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/policy"),
    ("PUT", "/v1/policy"),
    ("PUT", "/v1/policy/hitl"),
    ("PUT", "/v1/policy/escalation"),
    ("GET", "/v1/policy/versions"),
    ("POST", "/v1/policy/rollback"),
    ("POST", "/v1/decide"),
    ("POST", "/v1/slack/interactions"),
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// Whether the router has a handler for `method` on `path` (an id filled in): any answer but
/// the fallback's `no such endpoint` and the wrong method's 405.
async fn served(server: &Server, method: &str, path: &str) -> bool {
    let path = path.replace("{id}", "id-that-does-not-exist");
    let r = reqwest::Client::new()
        .request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", server.base),
        )
        .bearer_auth(token(ROOT))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null);
    let no_route = status == 404 && body["error"]["message"] == "no such endpoint";
    !(no_route || status == 405)
}

#[tokio::test]
async fn the_document_and_the_router_list_the_same_routes() {
    let s = Server::start("");
    let doc = s
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let ops = documented(&doc);
    assert!(ops.len() >= 28, "{ops:?}");
    for (method, path) in &ops {
        assert!(
            served(&s, method, path).await,
            "documented but not served: {method} {path}"
        );
        // The methods a documented path does not list are not served either.
        for other in METHODS {
            if !ops.contains(&(other.to_owned(), path.clone())) {
                assert!(
                    !served(&s, other, path).await,
                    "served but not documented: {other} {path}"
                );
            }
        }
    }
    for (method, path) in CONTRACT {
        let key = (method.to_string(), path.to_string());
        assert_eq!(
            served(&s, method, path).await,
            ops.contains(&key),
            "{method} {path}: served and documented must agree"
        );
    }
    // Nothing documented lies outside the contract.
    let contract: BTreeSet<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert!(ops.is_subset(&contract), "{:?}", ops.difference(&contract));
}

/// Follows a `$ref` into the document's components.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => v,
    }
}

#[tokio::test]
async fn bodies_errors_and_auth_are_described() {
    let s = Server::start("");
    let doc = s
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .ok(200);
    let create = &doc["paths"]["/v1/executions/{id}/approvals"]["post"];
    let body = resolve(
        &doc,
        &create["requestBody"]["content"]["application/json"]["schema"],
    );
    let fields: BTreeSet<&str> = body["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for f in [
        "title",
        "approvers",
        "minApprovals",
        "timeout",
        "notifyVia",
        "chain",
    ] {
        assert!(fields.contains(f), "{f} missing from {fields:?}");
    }
    assert_eq!(body["required"], serde_json::json!(["title"]));
    assert_eq!(body["additionalProperties"], false);
    let created = resolve(
        &doc,
        &create["responses"]["201"]["content"]["application/json"]["schema"],
    );
    assert!(
        created["properties"]["chainStatus"].is_object(),
        "{created}"
    );
    let error = resolve(
        &doc,
        &create["responses"]["422"]["content"]["application/json"]["schema"],
    );
    let detail = resolve(&doc, &error["properties"]["error"]);
    for f in ["code", "message", "field"] {
        assert!(detail["properties"][f].is_object(), "{f}: {detail}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The routes that take no token say so.
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        assert_eq!(
            doc["paths"][path]["get"]["security"],
            serde_json::json!([{}]),
            "{path}"
        );
    }
    assert!(doc["paths"]["/metrics"]["get"]["security"].is_null());
}
