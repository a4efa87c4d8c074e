//! The reference browser client, embedded in the binary.

use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::{Filter, Reply};

const ASSETS: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../client/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../client/app.js")),
    ("stamp.js", "text/javascript; charset=utf-8", include_str!("../client/stamp.js")),
    ("hello.js", "text/javascript; charset=utf-8", include_str!("../client/hello.js")),
    ("photon.js", "text/javascript; charset=utf-8", include_str!("../client/photon.js")),
    ("input.js", "text/javascript; charset=utf-8", include_str!("../client/input.js")),
    ("auth.js", "text/javascript; charset=utf-8", include_str!("../client/auth.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../client/style.css")),
    ("baseline.html", "text/html; charset=utf-8", include_str!("../client/baseline.html")),
];

fn asset(name: &str) -> Option<warp::reply::Response> {
    let (_, mime, body) = ASSETS.iter().find(|(n, _, _)| *n == name)?;
    let mut res = warp::reply::Response::new((*body).into());
    res.headers_mut().insert(CONTENT_TYPE, warp::http::HeaderValue::from_static(mime));
    res.headers_mut().insert(CACHE_CONTROL, warp::http::HeaderValue::from_static("no-cache"));
    Some(res)
}

/// GET / and GET /{asset}
pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let index = warp::path::end().map(|| asset("index.html").expect("index is embedded"));
    // Browsers ask for it unprompted; answer without a 404 in the logs.
    let favicon = warp::path("favicon.ico")
        .and(warp::path::end())
        .map(|| warp::reply::with_status(warp::reply(), warp::http::StatusCode::NO_CONTENT).into_response());
    let file = warp::path::param::<String>()
        .and(warp::path::end())
        .and_then(|name: String| async move { asset(&name).ok_or_else(warp::reject::not_found) });
    warp::get().and(index.or(favicon).unify().or(file).unify()).map(|r: warp::reply::Response| r.into_response())
}
