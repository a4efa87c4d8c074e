//! `GET /api/v1/client-config`: what the web app needs before anyone signs
//! in, which is how to sign in.

use serde::Serialize;
use utoipa::ToSchema;
use warp::Reply;

use crate::api::AppState;
use crate::config::AuthConfig;

/// How the web app signs in.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct ClientConfig {
    /// `development`: by name and role through `POST /api/v1/dev/token` (no
    /// issuer configured); `clerk`: through Clerk with `clerk_publishable_key`;
    /// `external`: a real issuer without a publishable key, so the app has
    /// no sign-in of its own and tokens come from the operator's site.
    #[schema(example = "development")]
    pub sign_in: &'static str,
    /// Set when `sign_in` is `clerk`.
    pub clerk_publishable_key: Option<String>,
}

impl ClientConfig {
    pub fn of(auth: &AuthConfig) -> Self {
        let key = auth.clerk_publishable_key.trim();
        if auth.dev_issuer_active() {
            ClientConfig { sign_in: "development", clerk_publishable_key: None }
        } else if key.is_empty() {
            ClientConfig { sign_in: "external", clerk_publishable_key: None }
        } else {
            ClientConfig { sign_in: "clerk", clerk_publishable_key: Some(key.to_string()) }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/client-config", tag = "account",
    summary = "how the web app signs in: the development issuer or Clerk (with its publishable key)",
    responses((status = 200, description = "the web app's sign-in", body = ClientConfig)))]
pub fn client_config(s: AppState) -> impl Reply {
    warp::reply::json(&ClientConfig::of(&s.config.auth))
}

#[cfg(test)]
mod tests {
    use super::ClientConfig;
    use crate::config::Config;

    fn load(env: &[(&str, &str)]) -> Result<Config, String> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load_with_env(None, env).map_err(|e| e.to_string())
    }

    const ISSUER: [(&str, &str); 2] = [
        ("PLAYCAST__AUTH__ISSUERS", "[\"https://example.clerk.accounts.dev\"]"),
        ("PLAYCAST__AUTH__JWKS_URL", "https://example.clerk.accounts.dev/.well-known/jwks.json"),
    ];

    #[test]
    fn the_sign_in_follows_the_issuer_and_the_publishable_key() {
        let dev = load(&[]).unwrap();
        assert_eq!(ClientConfig::of(&dev.auth), ClientConfig { sign_in: "development", clerk_publishable_key: None });
        let external = load(&ISSUER).unwrap();
        assert_eq!(ClientConfig::of(&external.auth).sign_in, "external");
        let key = ("PLAYCAST__AUTH__CLERK_PUBLISHABLE_KEY", "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k");
        let clerk = load(&[ISSUER[0], ISSUER[1], key]).unwrap();
        assert_eq!(
            ClientConfig::of(&clerk.auth),
            ClientConfig { sign_in: "clerk", clerk_publishable_key: Some(key.1.into()) }
        );
    }

    #[test]
    fn a_publishable_key_is_checked_where_it_is_set() {
        let e = load(&[ISSUER[0], ISSUER[1], ("PLAYCAST__AUTH__CLERK_PUBLISHABLE_KEY", "sk_live_secret")]).unwrap_err();
        assert!(
            e.contains("PLAYCAST__AUTH__CLERK_PUBLISHABLE_KEY") && e.contains("starts with pk_test_ or pk_live_"),
            "{e}"
        );
        let e = load(&[("PLAYCAST__AUTH__CLERK_PUBLISHABLE_KEY", "pk_test_abc")]).unwrap_err();
        assert!(e.contains("set with auth.issuers and auth.jwks_url"), "{e}");
    }
}
