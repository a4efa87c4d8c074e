//! The route table of `docs/API.md` agrees with the service and with its
//! OpenAPI document: every documented route answers its documented role.
//!
//! The table is read strictly: a row whose method, path or role this test
//! cannot read fails it. For each row, against the in-process service:
//! - a role is needed: no token answers 401, a role below the documented one 403;
//! - the documented role is let through (neither 401 nor 403);
//! - no role: no token is let through.
//!
//! Requests are harmless: bodies that the route refuses after the role check
//! where the route would change something, fresh tokens for sign-out, and ids
//! that name nothing (404) for routes with path parameters. The OpenAPI
//! document lists the same API routes, with a `bearer` security requirement
//! exactly where a token is needed, listing the roles the table names, and a
//! 403 answer where a role is.

mod common;

use std::collections::BTreeSet;

use playcast::auth::Role;
use reqwest::Method;
use serde_json::{json, Value};

/// Who may call a route, as the table's "role" column says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// `none`: no token.
    Open,
    /// `any`: any valid token.
    Any,
    /// One or more roles named: `admin`, `admin, player`.
    Roles { player: bool, viewer: bool },
    /// Per session: `owner, admin` or `owner, shared viewer, admin`; any token
    /// passes the role check, and a session the caller may not see is 404.
    Session,
    /// `WebSocket auth`: the token in the first message.
    WebSocket,
}

#[derive(Debug, Clone)]
struct Row {
    line: usize,
    method: Method,
    path: String,
    access: Access,
}

/// The text between backticks, when `cell` is exactly one code span.
fn code_span(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

fn parse_access(role: &str) -> Option<Access> {
    Some(match role {
        "none" => Access::Open,
        "any" => Access::Any,
        "admin" => Access::Roles { player: false, viewer: false },
        "admin, player" => Access::Roles { player: true, viewer: false },
        "owner, admin" | "owner, shared viewer, admin" => Access::Session,
        "WebSocket auth" => Access::WebSocket,
        _ => return None,
    })
}

/// `METHOD /path`, or for the client's files `` `GET /` and `/a`, `/b` ``: one
/// request per path.
fn parse_routes(cell: &str) -> Option<Vec<(Method, String)>> {
    let (first, rest) = match cell.split_once(" and ") {
        Some((first, rest)) => (first, Some(rest)),
        None => (cell, None),
    };
    let (method, path) = code_span(first)?.split_once(' ')?;
    let method = match method {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        "PATCH" => Method::PATCH,
        _ => return None,
    };
    let valid = |p: &str| p.starts_with('/') && !p.contains(char::is_whitespace);
    let mut paths = vec![path.to_owned()];
    if let Some(rest) = rest {
        for more in rest.split(", ") {
            paths.push(code_span(more)?.to_owned());
        }
    }
    paths.iter().all(|p| valid(p)).then(|| paths.into_iter().map(|p| (method.clone(), p)).collect())
}

/// The rows of the table under `## Routes`, or a description of the first row
/// that cannot be read.
fn documented_routes(doc: &str) -> Result<Vec<Row>, String> {
    let lines: Vec<&str> = doc.lines().collect();
    let start = lines.iter().position(|l| *l == "## Routes").ok_or("no `## Routes` section")?;
    let header = (start..lines.len()).find(|&i| lines[i].starts_with('|')).ok_or("no table under `## Routes`")?;
    if lines[header] != "| method and path | role | answer |" {
        return Err(format!("line {}: unexpected table header `{}`", header + 1, lines[header]));
    }
    if !lines.get(header + 1).is_some_and(|l| l.starts_with("| ---")) {
        return Err(format!("line {}: no separator under the header", header + 2));
    }
    let mut rows = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(header + 2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [route, role, answer] = cells[..] else {
            return Err(format!("line {}: not three cells: `{line}`", i + 1));
        };
        if answer.is_empty() {
            return Err(format!("line {}: no answer described: `{line}`", i + 1));
        }
        let routes = parse_routes(route).ok_or_else(|| format!("line {}: cannot read the route `{route}`", i + 1))?;
        let access = parse_access(role).ok_or_else(|| format!("line {}: cannot read the role `{role}`", i + 1))?;
        for (method, path) in routes {
            rows.push(Row { line: i + 1, method, path, access });
        }
    }
    Ok(rows)
}

#[test]
fn the_table_reader_refuses_what_it_cannot_read() {
    let table = |row: &str| format!("## Routes\n\n| method and path | role | answer |\n| --- | --- | --- |\n{row}\n");
    let good = documented_routes(&table("| `GET /api/v1/x/{id}` | owner, admin | it |")).unwrap();
    assert_eq!(good.len(), 1);
    assert_eq!(
        (good[0].method.clone(), good[0].path.as_str(), good[0].access),
        (Method::GET, "/api/v1/x/{id}", Access::Session)
    );
    let files = documented_routes(&table("| `GET /` and `/a.js`, `/b.css` | none | files |")).unwrap();
    assert_eq!(files.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/", "/a.js", "/b.css"]);
    for bad in [
        "| `GET /api/v1/x` | anyone | it |",
        "| `FETCH /api/v1/x` | none | it |",
        "| GET /api/v1/x | none | it |",
        "| `GET api/v1/x` | none | it |",
        "| `GET /api/v1/x` | none |",
        "| `GET /api/v1/x` | none | |",
        "| `GET /` and /a.js | none | files |",
    ] {
        assert!(documented_routes(&table(bad)).is_err(), "read: {bad}");
    }
}

/// A harmless body for each route that takes one.
fn body_for(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/api/v1/dev/token") => Some(json!({"user": "role-check", "role": "viewer"})),
        // No such game: refused after the role check, nothing starts.
        ("POST", "/api/v1/sessions") => Some(json!({"game": "no-such-game-of-the-role-check"})),
        ("PUT", p) if p.ends_with("/viewers") => Some(json!({"viewers": []})),
        _ => None,
    }
}

/// The body a caller whose role is too low sends: one the route would accept,
/// so that only the role can refuse it.
fn valid_body_for(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/api/v1/sessions") => Some(json!({"game": "test-pattern"})),
        _ => body_for(method, path),
    }
}

async fn status(service: &common::InProcess, row: &Row, token: Option<&str>, body: Option<Value>) -> (u16, String) {
    let url = service.url(&row.path.replace("{id}", "no-such-session-of-the-role-check"));
    let mut req = reqwest::Client::new().request(row.method.clone(), url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{} {}: {e}", row.method, row.path));
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_answers_its_documented_role() {
    let doc = std::fs::read_to_string(common::repo().join("docs/API.md")).expect("docs/API.md");
    let rows = documented_routes(&doc).unwrap_or_else(|e| panic!("docs/API.md: {e}"));
    assert!(rows.len() >= 25, "the route table is smaller than expected: {rows:?}");
    let service = common::serve_in_process(|_| {}).await;
    let fresh = |user: &str, role: Role| service.token(user, role);

    for row in &rows {
        let what = format!("docs/API.md:{} {} {}", row.line, row.method, row.path);
        let body = body_for(&row.method, &row.path);
        match row.access {
            Access::Open => {
                let (got, text) = status(&service, row, None, body).await;
                assert!(got != 401 && got != 403 && got < 500, "{what} needs no token, answered {got}: {text}");
            }
            Access::WebSocket => {
                // The token comes in the first message: a signed-in one is welcome.
                let token = service.sign_in("role-check-ws", Role::Viewer).await;
                let url = format!("ws://{}{}", service.addr, row.path);
                common::ws_connect(&url, &token).await;
            }
            Access::Any | Access::Roles { .. } | Access::Session => {
                let (got, text) = status(&service, row, None, body.clone()).await;
                assert_eq!(got, 401, "{what} without a token: {text}");
                let (allowed, refused): (Vec<Role>, Vec<Role>) = match row.access {
                    Access::Roles { player, viewer } => {
                        [Role::Admin, Role::Player, Role::Viewer].into_iter().partition(|r| {
                            *r == Role::Admin || (*r == Role::Player && player) || (*r == Role::Viewer && viewer)
                        })
                    }
                    _ => (vec![Role::Admin, Role::Player, Role::Viewer], Vec::new()),
                };
                for role in refused {
                    let token = fresh("role-check-low", role);
                    let (got, text) = status(&service, row, Some(&token), valid_body_for(&row.method, &row.path)).await;
                    assert_eq!(got, 403, "{what} as {role:?}: {text}");
                }
                for role in allowed {
                    let token = fresh("role-check", role);
                    let (got, text) = status(&service, row, Some(&token), body.clone()).await;
                    assert!(got != 401 && got != 403 && got < 500, "{what} as {role:?} answered {got}: {text}");
                    if row.access == Access::Session {
                        // Nobody learns whether a session they may not see exists.
                        assert_eq!(got, 404, "{what} as {role:?} of a session that does not exist: {text}");
                    }
                }
            }
        }
    }
    let admin = fresh("role-check-admin", Role::Admin);
    let all: Value = reqwest::Client::new()
        .get(service.url("/api/v1/sessions"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list the sessions")
        .json()
        .await
        .expect("a JSON list");
    assert_eq!(all, json!([]), "checking the roles started a session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_route_table_and_the_openapi_document_agree() {
    let doc = std::fs::read_to_string(common::repo().join("docs/API.md")).expect("docs/API.md");
    let rows = documented_routes(&doc).unwrap_or_else(|e| panic!("docs/API.md: {e}"));
    let openapi: Value = serde_json::from_str(playcast::api::openapi::json()).unwrap();
    let paths = openapi["paths"].as_object().expect("paths");

    let api_rows: Vec<&Row> = rows.iter().filter(|r| r.path.starts_with("/api/")).collect();
    let in_table: BTreeSet<(String, String)> =
        api_rows.iter().map(|r| (r.method.as_str().to_lowercase(), r.path.clone())).collect();
    let mut in_openapi = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                in_openapi.insert((method.to_owned(), path.clone()));
            }
        }
    }
    assert_eq!(in_table, in_openapi, "docs/API.md's route table and the OpenAPI document list different routes");

    for row in api_rows {
        let what = format!("docs/API.md:{} {} {}", row.line, row.method, row.path);
        let op = &paths[&row.path][row.method.as_str().to_lowercase()];
        let bearer = op["security"].as_array().and_then(|s| s.iter().find_map(|r| r.get("bearer")));
        let token_needed = matches!(row.access, Access::Any | Access::Roles { .. } | Access::Session);
        assert_eq!(bearer.is_some(), token_needed, "{what}: the OpenAPI security disagrees with the role in the table");
        // The roles the requirement lists are the roles let through; none: any role.
        let listed: Vec<&str> =
            bearer.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let table: Vec<&str> = match row.access {
            Access::Roles { player, viewer } => {
                [Some("admin"), player.then_some("player"), viewer.then_some("viewer")].into_iter().flatten().collect()
            }
            _ => Vec::new(),
        };
        assert_eq!(listed, table, "{what}: the OpenAPI roles disagree with the role in the table");
        let responses = &op["responses"];
        if token_needed {
            assert!(responses.get("401").is_some(), "{what}: OpenAPI lists no 401");
        }
        if matches!(row.access, Access::Roles { .. }) {
            assert!(responses.get("403").is_some(), "{what}: OpenAPI lists no 403 for a route with a role");
        }
    }
}
