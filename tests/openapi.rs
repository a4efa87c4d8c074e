//! The served OpenAPI document and the routes agree: every route in the code
//! is documented with its method, every documented route answers (not a
//! routing 404 or 405), and every documented route lets through exactly the
//! roles its `bearer` requirement lists.

mod common;

use playcast::auth::Role;
use serde_json::{json, Value};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// A route function of `src/api/filters.rs`: its doc line's method and path,
/// and the method and path segments its code matches (`{}` for a parameter).
#[derive(Debug)]
struct CodeRoute {
    function: String,
    doc: (String, String),
    method: String,
    segments: Vec<String>,
}

impl CodeRoute {
    /// The path as OpenAPI writes it, with `{}` where the code takes a parameter.
    fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }
}

/// The segments a path in a doc line or the document has, parameters as `{}`.
fn pattern(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .map(|s| if s.starts_with('{') && s.ends_with('}') { "{}".to_string() } else { s.to_string() })
        .collect()
}

/// Every `pub fn` of `src/api/filters.rs` documented `/// METHOD /path`.
fn routes_in_code() -> Vec<CodeRoute> {
    let text = std::fs::read_to_string(common::repo().join("src/api/filters.rs")).unwrap();
    let mut routes = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(doc) = line.strip_prefix("/// ") else { continue };
        let Some((method, path)) = doc.split_once(' ') else { continue };
        if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&method) {
            continue;
        }
        let path = path.split([' ', ':']).next().unwrap().to_string();
        let start = i + lines[i..].iter().position(|l| !l.starts_with("///")).unwrap();
        let signature = lines[start];
        let function = signature
            .strip_prefix("pub fn ")
            .unwrap_or_else(|| panic!("`/// {doc}` documents no route function: {signature}"))
            .split('(')
            .next()
            .unwrap()
            .to_string();
        let end = start + lines[start..].iter().position(|l| *l == "}").unwrap();
        let body = lines[start..end].join("\n");
        let mut segments = Vec::new();
        if body.contains("api()") {
            segments.extend(["api".to_string(), "v1".to_string()]);
        }
        let args = body.split("warp::path!(").nth(1).unwrap_or_else(|| panic!("{function}: no warp::path!"));
        for part in args[..args.find(')').unwrap()].split('/') {
            let part = part.trim();
            if let Some(lit) = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                segments.push(lit.to_string());
            } else {
                segments.push("{}".to_string());
            }
        }
        let mut methods: Vec<&str> = ["get", "post", "put", "delete", "patch"]
            .into_iter()
            .filter(|m| body.contains(&format!("warp::{m}()")))
            .collect();
        if body.contains("warp::ws()") {
            methods.push("get");
        }
        assert_eq!(methods.len(), 1, "{function} matches {methods:?}: one method per route");
        routes.push(CodeRoute {
            function,
            doc: (method.to_lowercase(), path),
            method: methods[0].to_string(),
            segments,
        });
    }
    routes
}

/// `(method, path, roles)` of every operation; roles `None` without a token.
fn documented(doc: &Value) -> Vec<(String, String, Option<Vec<String>>)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                let roles = op["security"].as_array().and_then(|s| {
                    s.iter().find_map(|r| r.get("bearer")).map(|roles| {
                        roles.as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
                    })
                });
                out.push((m.to_string(), path.clone(), roles));
            }
        }
    }
    out
}

#[test]
fn every_route_function_is_documented_with_its_method_and_path() {
    let code = routes_in_code();
    assert!(code.len() >= 20, "the route scan found too little: {code:?}");
    // Every route function has its doc line: all `pub fn`s but `routes`.
    let text = std::fs::read_to_string(common::repo().join("src/api/filters.rs")).unwrap();
    let functions = text.lines().filter(|l| l.starts_with("pub fn ") && !l.starts_with("pub fn routes(")).count();
    assert_eq!(functions, code.len(), "a route function in src/api/filters.rs has no `/// METHOD /path` line");
    for route in &code {
        assert_eq!(route.doc.0, route.method, "{}: its doc names another method", route.function);
        assert_eq!(pattern(&route.doc.1), pattern(&route.path()), "{}: its doc names another path", route.function);
    }
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

    // Every route of the versioned API in the code has a documented operation
    // with its method (a `{}` in the code, like the session action, matches
    // any segment).
    let code = routes_in_code();
    for route in code.iter().filter(|r| r.segments.starts_with(&["api".to_string(), "v1".to_string()])) {
        let found = ops.iter().any(|(m, p, _)| {
            let d = pattern(p);
            *m == route.method
                && d.len() == route.segments.len()
                && d.iter().zip(&route.segments).all(|(d, c)| c == "{}" || d == c)
        });
        assert!(found, "{} {} ({}) is not in the OpenAPI document", route.method, route.path(), route.function);
    }

    // Every documented operation reaches a handler: whatever it answers, it is
    // not the router's own 404 or 405.
    let admin = service.sign_in("root", Role::Admin).await;
    let client = reqwest::Client::new();
    for (method, path, _) in ops
        .iter()
        .filter(|(_, p, _)| !p.ends_with("/logout"))
        .chain(ops.iter().filter(|(_, p, _)| p.ends_with("/logout")))
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

/// A body the route refuses after its role check (`valid`: one it accepts,
/// so that only the role can refuse it). Nothing starts.
fn body_for(method: &str, path: &str, valid: bool) -> Option<Value> {
    match (method, path) {
        ("post", "/api/v1/dev/token") => Some(json!({"user": "openapi-roles", "role": "viewer"})),
        ("post", "/api/v1/sessions") if valid => Some(json!({"game": "test-pattern"})),
        ("post", "/api/v1/sessions") => Some(json!({"game": "no-such-game-of-the-openapi-check"})),
        ("put", p) if p.ends_with("/viewers") => Some(json!({"viewers": []})),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_lets_through_the_roles_it_lists() {
    let service = common::serve_in_process(|_| {}).await;
    let doc: Value = serde_json::from_str(playcast::api::openapi::json()).unwrap();
    let client = reqwest::Client::new();
    let call = |method: &str, path: &str, token: Option<String>, body: Option<Value>| {
        let url = service.url(&path.replace("{id}", "no-such-session").replace("{name}", "test-pattern"));
        let mut req = client.request(reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap_or_default())
        }
    };
    let ops = documented(&doc);
    let checked = ops.iter().filter(|(_, _, roles)| roles.is_some()).count();
    assert!(checked >= 15, "too few routes need a token: {ops:?}");
    for (method, path, roles) in &ops {
        let Some(roles) = roles else { continue };
        let what = format!("{method} {path} (roles {roles:?})");
        let (got, text) = call(method, path, None, body_for(method, path, false)).await;
        assert_eq!(got, 401, "{what} without a token: {text}");
        for (role, name) in [(Role::Admin, "admin"), (Role::Player, "player"), (Role::Viewer, "viewer")] {
            let listed = roles.is_empty() || roles.iter().any(|r| r == name);
            let token = Some(service.token("openapi-roles", role));
            let (got, text) = call(method, path, token, body_for(method, path, !listed)).await;
            if listed {
                assert!(got != 401 && got != 403 && got < 500, "{what} as {name} answered {got}: {text}");
            } else {
                assert_eq!(got, 403, "{what} as {name}: {text}");
            }
        }
    }
}

/// `schema` with its `$ref`s resolved and its `allOf` parts merged: the
/// properties it lists and those it requires. A `oneOf` contributes the
/// variant `instance` matches (every `enum` property it lists holds the
/// instance's value) or, without an instance, every variant's properties
/// and the properties all of them require.
fn fields(doc: &Value, schema: &Value, instance: Option<&Value>) -> (Vec<String>, Vec<String>) {
    let keys = |v: &Value| -> Vec<String> {
        match v {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a.iter().map(|s| s.as_str().unwrap().to_string()).collect(),
            _ => Vec::new(),
        }
    };
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("a local schema: {r}"));
        let target = &doc["components"]["schemas"][name];
        assert!(target.is_object(), "{r} is not in the document's components");
        return fields(doc, target, instance);
    }
    let mut props = keys(&schema["properties"]);
    let mut required = keys(&schema["required"]);
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let (p, r) = fields(doc, part, instance);
        props.extend(p);
        required.extend(r);
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        let all: Vec<_> = variants.iter().map(|v| fields(doc, v, instance)).collect();
        match instance {
            Some(x) => {
                let i = variants
                    .iter()
                    .position(|v| {
                        v["properties"].as_object().is_some_and(|ps| {
                            ps.iter().all(|(k, p)| p["enum"].as_array().is_none_or(|e| e.contains(&x[k])))
                        })
                    })
                    .unwrap_or_else(|| panic!("no variant of {schema} matches {x}"));
                props.extend(all[i].0.clone());
                required.extend(all[i].1.clone());
            }
            None => {
                props.extend(all.iter().flat_map(|(p, _)| p.clone()));
                required.extend(all[0].1.iter().filter(|r| all.iter().all(|(_, rs)| rs.contains(r))).cloned());
            }
        }
    }
    props.sort();
    props.dedup();
    required.sort();
    required.dedup();
    (props, required)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_answer_has_the_fields_its_schema_lists() {
    let service = common::serve_in_process(|_| {}).await;
    let res = reqwest::get(service.url("/api/v1/openapi.json")).await.unwrap();
    let doc: Value = res.json().await.unwrap();
    let schema_of = |method: &str, path: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"].clone()
    };
    let one = schema_of("get", "/api/v1/sessions/{id}");
    assert_eq!(one["$ref"], "#/components/schemas/SessionView", "{one}");
    assert_eq!(schema_of("get", "/api/v1/sessions")["items"], one);
    for (method, path) in [
        ("post", "/api/v1/sessions/{id}/pause"),
        ("post", "/api/v1/sessions/{id}/resume"),
        ("post", "/api/v1/sessions/{id}/end"),
        ("delete", "/api/v1/sessions/{id}"),
        ("put", "/api/v1/sessions/{id}/viewers"),
    ] {
        assert_eq!(schema_of(method, path), one, "{method} {path}");
    }
    let created = &doc["paths"]["/api/v1/sessions"]["post"]["responses"]["201"]["content"]["application/json"];
    assert_eq!(created["schema"], one);

    let (props, required) = fields(&doc, &one, None);
    for p in ["id", "owner", "game", "pipeline", "node", "state", "reason", "version", "viewers", "params", "stats"] {
        assert!(props.contains(&p.to_string()), "{p} is not in {props:?}");
    }
    for r in ["id", "owner", "game", "pipeline", "node", "state", "version", "viewers"] {
        assert!(required.contains(&r.to_string()), "{r} is not required: {required:?}");
    }

    // A real session, as it starts, as it is fetched and as it ends: every
    // property its variant requires is there, and nothing the schema leaves out.
    let token = service.sign_in("openapi-schema", Role::Player).await;
    let (status, created) =
        service.call(&token, reqwest::Method::POST, "/api/v1/sessions", Some(json!({"game": "test-pattern"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, fetched) = service.call(&token, reqwest::Method::GET, &format!("/api/v1/sessions/{id}"), None).await;
    assert_eq!(status, 200, "{fetched}");
    let (status, ended) = service.call(&token, reqwest::Method::DELETE, &format!("/api/v1/sessions/{id}"), None).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["state"], "terminated", "{ended}");
    for session in [&created, &fetched, &ended] {
        let (props, required) = fields(&doc, &one, Some(session));
        let keys: Vec<String> = session.as_object().unwrap().keys().cloned().collect();
        for r in &required {
            assert!(keys.contains(r), "required {r} is missing from {session}");
        }
        for k in &keys {
            assert!(props.contains(k), "{k} is not in the schema ({props:?}): {session}");
        }
    }
}
