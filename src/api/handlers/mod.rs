//! What each route does, once its filter has matched and extracted the
//! caller, the path's parameters and the body. Each handler carries its
//! OpenAPI description (`utoipa::path`); `super::openapi` collects them.

pub mod account;
pub mod client_config;
pub mod dashboard;
pub mod drain;
pub mod node;
pub mod service;
pub mod sessions;

use utoipa::ToResponse;

use super::problem::Problem;

/// The token is missing, malformed, expired or revoked.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unauthorized(pub Problem);

/// The caller's role may not do this.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(pub Problem);

/// Nothing of that name, or nothing the caller may see.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// The session's state does not allow this now.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// The request is well formed and refused: no such game, invalid parameters.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Invalid(pub Problem);

/// The body is not the JSON object this route reads.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadBody(pub Problem);

/// The body is over the route's limit.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct TooLarge(pub Problem);

/// Something this node needs is unavailable (database, cache, the issuer's
/// keys, room for a session): retry after `Retry-After` seconds.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unavailable(pub Problem);
