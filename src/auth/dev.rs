//! The development issuer: an ES256 key the service creates on first run and
//! keeps in its data folder, used by `playcast token` and the reference
//! client's dev login. Only active when no real issuer is configured.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde::Serialize;
use sha1::Digest;

use super::{AuthError, Role};

/// `iss` of development tokens.
pub const ISSUER: &str = "playcast-dev";
pub const KEY_FILE: &str = "dev-issuer-key.pem";

pub struct DevIssuer {
    encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub kid: String,
    jwk: serde_json::Value,
}

#[derive(Serialize)]
struct DevClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    sid: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    metadata: serde_json::Value,
}

impl DevIssuer {
    /// Loads the key from `data_dir`, creating it (mode 0600) on first run.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, AuthError> {
        let path = data_dir.join(KEY_FILE);
        let err = |message: String| AuthError::DevKey { path: path.display().to_string(), message };
        if !path.exists() {
            let secret = random_key().map_err(&err)?;
            let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| err(e.to_string()))?;
            if create_private(&path, pem.as_bytes()).map_err(|e| err(e.to_string()))? {
                tracing::info!(path = %path.display(), "created the development issuer key");
            }
        }
        let pem = crate::files::read_text(&path, 64 * 1024).map_err(|e| err(e.to_string()))?;
        let secret = p256::SecretKey::from_pkcs8_pem(&pem).map_err(|e| err(format!("not a P-256 PKCS#8 key: {e}")))?;
        Self::from_secret(&secret).map_err(err)
    }

    fn from_secret(secret: &p256::SecretKey) -> Result<Self, String> {
        let der = secret.to_pkcs8_der().map_err(|e| e.to_string())?;
        let encoding = EncodingKey::from_ec_der(der.as_bytes());
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
        let (x, y) = (point.x().ok_or("no x")?, point.y().ok_or("no y")?);
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let kid = hex(&sha1::Sha1::digest(point.as_bytes())[..8]);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": b64(x), "y": b64(y),
        });
        let decoding = DecodingKey::from_ec_components(&b64(x), &b64(y)).map_err(|e| e.to_string())?;
        Ok(Self { encoding, decoding, kid, jwk })
    }

    /// A token for `user` with `role`, valid for `ttl`.
    pub fn mint(&self, user: &str, role: Role, ttl: Duration) -> Result<String, AuthError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let claims = DevClaims {
            iss: ISSUER,
            sub: user,
            sid: format!("dev_{}", uuid::Uuid::new_v4().simple()),
            iat: now,
            nbf: now,
            exp: now + ttl.as_secs(),
            metadata: serde_json::json!({ "role": role.to_string() }),
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| AuthError::Claims(e.to_string()))
    }

    /// The public key as a JWK set, for anyone who wants to verify dev tokens.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk] })
    }
}

fn random_key() -> Result<p256::SecretKey, String> {
    // A random 32-byte string is a valid scalar with overwhelming probability; retry otherwise.
    for _ in 0..8 {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).map_err(|e| e.to_string())?;
        if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
            return Ok(k);
        }
    }
    Err("could not draw a valid key".into())
}

/// Writes a private file whole or not at all: written aside, then linked
/// into place, so a concurrent first run never reads half a key. Returns
/// false when another process created it first (its key is the one to use).
fn create_private(path: &Path, bytes: &[u8]) -> std::io::Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp: PathBuf = dir.join(format!(".{KEY_FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
