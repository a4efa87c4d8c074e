//! The served OpenAPI document and the routes agree: every documented route
//! answers (not a routing 404 or 405), and every route in the code is documented.

mod common;

use playcast::auth::Role;
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// Route patterns in the code, like `sessions/{}/viewers` (after `api/v1`).
fn routes_in_code() -> Vec<Vec<String>> {
    let mut routes = Vec::new();
    for file in ["src/api/mod.rs", "src/api/sessions.rs"] {
        let text = std::fs::read_to_string(common::repo().join(file)).unwrap();
        for statement in text.split("\n    let ").skip(1) {
            let statement = statement.split(";\n").next().unwrap();
            let mut segments = Vec::new();
            let mut rest = statement;
            while let Some(i) = rest.find("warp::path") {
                rest = &rest[i + "warp::path".len()..];
                let (open, close) = if rest.starts_with("!(") { ("!(", ')') } else { ("(", ')') };
                let Some(args) = rest.strip_prefix(open) else { continue };
                let args = &args[..args.find(close).unwrap()];
                for part in args.split('/') {
                    let part = part.trim();
                    if let Some(lit) = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                        segments.push(lit.to_string());
                    } else if part == "String" {
                        segments.push("{}".to_string());
                    }
                }
            }
            // Routes start from `api` (the `api/v1` prefix) or spell it out.
            let route = if segments.starts_with(&["api".to_string(), "v1".to_string()]) {
                segments[2..].to_vec()
            } else {
                segments
            };
            if !route.is_empty() && statement.contains("api") {
                routes.push(route);
            }
        }
    }
    routes
}

fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                out.push((m.to_string(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let service = common::serve_in_process(|_| {}).await;
    let res = reqwest::get(service.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = documented(&doc);
    assert!(ops.len() >= 20, "{ops:?}");

    // Every route in the code has a documented path (a `{}` in the code, like
    // the session action, matches any segment).
    let doc_paths: Vec<Vec<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| p.trim_start_matches("/api/v1/").split('/').map(|s| s.to_string()).collect())
        .collect();
    let code = routes_in_code();
    assert!(code.len() >= 15, "the route scan found too little: {code:?}");
    for route in &code {
        let found =
            doc_paths.iter().any(|d| d.len() == route.len() && d.iter().zip(route).all(|(d, c)| c == "{}" || d == c));
        assert!(found, "route /api/v1/{} is not in the OpenAPI document", route.join("/"));
    }

    // Every documented operation reaches a handler: whatever it answers, it is
    // not the router's own 404 or 405.
    let admin = service.sign_in("root", Role::Admin).await;
    let client = reqwest::Client::new();
    for (method, path) in
        ops.iter().filter(|(_, p)| !p.ends_with("/logout")).chain(ops.iter().filter(|(_, p)| p.ends_with("/logout")))
    {
        let url = service.url(&path.replace("{id}", "no-such-session").replace("{name}", "test-pattern"));
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = client.request(m, &url).bearer_auth(&admin).send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        let kind = serde_json::from_str::<Value>(&body).ok().and_then(|v| v["type"].as_str().map(str::to_string));
        let routed = status != 405 && !(status == 404 && kind.as_deref().is_some_and(|k| k.ends_with("/not-found")));
        assert!(routed, "{method} {path} is documented but not routed: {status} {body}");
        assert_ne!(status, 500, "{method} {path}: {body}");
    }
}
