//! STUN and TURN servers for a stream. TURN credentials follow coturn's
//! `use-auth-secret` scheme (the TURN REST API draft): the username is
//! `expiry-unix-time:user` and the password is base64(HMAC-SHA1(secret, username)).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use crate::config::IceConfig;

/// A server as a browser's `RTCIceServer` wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IceServers(pub Vec<IceServer>);

impl IceServers {
    /// Servers for one stream, with TURN credentials valid for `ttl` from `now`.
    pub fn for_stream(config: &IceConfig, user: &str, now: SystemTime) -> Self {
        let mut servers = Vec::new();
        if !config.stun_urls.is_empty() {
            servers.push(IceServer { urls: config.stun_urls.clone(), username: None, credential: None });
        }
        if !config.turn_urls.is_empty() {
            let (username, credential) = turn_credentials(&config.turn_secret.0, user, now, config.turn_ttl);
            servers.push(IceServer {
                urls: config.turn_urls.clone(),
                username: Some(username),
                credential: Some(credential),
            });
        }
        IceServers(servers)
    }

    /// webrtcbin takes one STUN server as `stun://host:port`.
    pub fn stun_for_webrtcbin(&self) -> Option<String> {
        self.0
            .iter()
            .filter(|s| s.username.is_none())
            .flat_map(|s| &s.urls)
            .find_map(|u| u.strip_prefix("stun:").map(|rest| format!("stun://{rest}")))
    }

    /// webrtcbin takes TURN servers as `turn(s)://user:pass@host:port?transport=…`,
    /// with user and password percent-encoded (the username holds a colon).
    pub fn turn_for_webrtcbin(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.0 {
            let (Some(user), Some(pass)) = (&s.username, &s.credential) else { continue };
            for url in &s.urls {
                let (scheme, rest) = match url.split_once(':') {
                    Some((scheme @ ("turn" | "turns"), rest)) => (scheme, rest),
                    _ => continue,
                };
                out.push(format!("{scheme}://{}:{}@{rest}", percent(user), percent(pass)));
            }
        }
        out
    }
}

/// coturn `use-auth-secret` credentials for `user`, expiring `ttl` after `now`.
pub fn turn_credentials(secret: &str, user: &str, now: SystemTime, ttl: Duration) -> (String, String) {
    let expiry = now.duration_since(UNIX_EPOCH).unwrap_or_default() + ttl;
    let username = format!("{}:{user}", expiry.as_secs());
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, password)
}

fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn credentials_match_the_coturn_scheme() {
        // Reference value: the TURN REST API draft's scheme computed independently
        // (`printf '%s' 1700003600:alice | openssl dgst -sha1 -hmac s3cret -binary | base64`).
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (user, pass) = turn_credentials("s3cret", "alice", now, Duration::from_secs(3600));
        assert_eq!(user, "1700003600:alice");
        assert_eq!(pass, "YAFdW/YDZewZsR1QSgUk2IrfbRI=");
    }

    #[test]
    fn servers_for_webrtcbin_are_encoded() {
        let cfg = IceConfig {
            stun_urls: vec!["stun:198.18.0.9:3478".into()],
            turn_urls: vec!["turn:198.18.0.9:3478?transport=udp".into()],
            turn_secret: Secret("k".into()),
            turn_ttl: Duration::from_secs(60),
        };
        let s = IceServers::for_stream(&cfg, "bob", UNIX_EPOCH);
        assert_eq!(s.stun_for_webrtcbin().as_deref(), Some("stun://198.18.0.9:3478"));
        let turn = s.turn_for_webrtcbin();
        assert_eq!(turn.len(), 1);
        assert!(turn[0].starts_with("turn://60%3Abob:"), "{}", turn[0]);
        assert!(turn[0].ends_with("@198.18.0.9:3478?transport=udp"), "{}", turn[0]);
        assert!(!turn[0][7..].contains('+') && !turn[0][7..].contains('/'));
    }
}
