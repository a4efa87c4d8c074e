//! The OpenAPI description, generated from the handlers' `utoipa::path`
//! attributes and the models; served at `GET /api/v1/openapi.json`.

use std::sync::LazyLock;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::handlers::{self, account, client_config, drain, node, service, sessions};
use super::ws;

/// Roles in a route's `bearer` requirement are the roles it lets through
/// (OpenAPI 3.1 allows role names for schemes other than OAuth); an empty
/// list lets any valid token through.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Playcast control plane",
        version = "1",
        description = "Game sessions, pipelines and signaling of a Playcast node. Errors are \
                       application/problem+json (RFC 9457). Tokens are Clerk-compatible session JWTs sent as \
                       `Authorization: Bearer`; a route's `bearer` requirement lists the roles it lets through \
                       (none listed: any signed-in role)."
    ),
    paths(
        service::health,
        service::ready,
        service::openapi,
        account::login,
        account::logout,
        account::me,
        account::dev_token,
        client_config::client_config,
        service::pipelines,
        service::pipeline,
        service::reload,
        service::streams,
        ws::signal,
        ws::events,
        sessions::list,
        sessions::create,
        sessions::get,
        sessions::delete,
        sessions::pause,
        sessions::resume,
        sessions::end,
        sessions::share,
        sessions::history,
        sessions::games,
        node::node,
        node::nodes,
        drain::drain,
        drain::undrain,
    ),
    components(
        schemas(super::problem::Problem, crate::session::view::SessionView),
        responses(
            handlers::Unauthorized,
            handlers::Forbidden,
            handlers::NotFound,
            handlers::Conflict,
            handlers::Invalid,
            handlers::BadBody,
            handlers::TooLarge,
            handlers::Unavailable,
        )
    ),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

/// The `bearer` scheme the routes' security requirements name.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The description as served.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> =
        LazyLock::new(|| ApiDoc::openapi().to_pretty_json().expect("the OpenAPI description serialises"));
    &JSON
}
