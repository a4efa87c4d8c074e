//! The web app (player, dashboard, embeddable player), built from `web/` into
//! `web/dist` and embedded in the binary by build.rs.

use warp::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use warp::http::HeaderValue;
use warp::{Filter, Reply};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn asset(name: &str) -> Option<warp::reply::Response> {
    let (name, body) = WEB_ASSETS.iter().find(|(n, _)| *n == name)?;
    let mut res = warp::reply::Response::new((*body).into());
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    // Names carry no content hash, so every load revalidates.
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Some(res)
}

/// The app's own pages (`/library`, `/play/…`) are routes inside index.html:
/// a browser navigating to one (it asks for HTML) gets the app, which then
/// reads its location. Paths with an extension and the API never do.
fn is_app_route(path: &str, accept: Option<&str>) -> bool {
    let first = path.split('/').next().unwrap_or_default();
    let wants_html = accept.is_some_and(|a| a.contains("text/html"));
    wants_html && first != "api" && !path.rsplit('/').next().unwrap_or_default().contains('.')
}

/// GET / and GET /{file}, and the app's routes
pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let index = warp::path::end().map(|| asset("index.html").expect("index is embedded"));
    // Browsers ask for it unprompted; answer without a 404 in the logs.
    let favicon = warp::path("favicon.ico")
        .and(warp::path::end())
        .map(|| warp::reply::with_status(warp::reply(), warp::http::StatusCode::NO_CONTENT).into_response());
    let file = warp::path::tail().and(warp::header::optional::<String>(ACCEPT.as_str())).and_then(
        |tail: warp::path::Tail, accept: Option<String>| async move {
            let path = tail.as_str();
            asset(path)
                .or_else(|| is_app_route(path, accept.as_deref()).then(|| asset("index.html")).flatten())
                .ok_or_else(warp::reject::not_found)
        },
    );
    warp::get().and(index.or(favicon).unify().or(file).unify()).map(|r: warp::reply::Response| r.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_routes_are_html_navigations_outside_the_api() {
        let html = Some("text/html,application/xhtml+xml");
        assert!(is_app_route("library", html));
        assert!(is_app_route("play/s-1", html));
        assert!(!is_app_route("play/s-1", Some("application/json")));
        assert!(!is_app_route("play/s-1", None));
        assert!(!is_app_route("api/v1/nope", html));
        assert!(!is_app_route("app.js.map", html));
        assert!(!is_app_route("assets/x.png", html));
    }

    #[test]
    fn the_built_app_is_embedded() {
        assert!(WEB_ASSETS.iter().any(|(n, _)| *n == "index.html"));
        assert!(WEB_ASSETS.iter().all(|(n, _)| !n.starts_with('/') && !n.contains("..")));
    }
}
