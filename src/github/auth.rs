//! App authentication: the RS256 JWT GitHub asks of an App, and a wrapper that keeps secrets
//! out of logs.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::client::GitHubError;

/// A token, key or webhook secret: printable only on purpose, never by `{:?}` or `{}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The App's identity: its id and private key, to sign JWTs.
pub struct AppCredentials {
    pub app_id: u64,
    key: EncodingKey,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: u64,
    exp: u64,
    iss: String,
}

/// Seconds the JWT's `iat` is set in the past, against clock drift (GitHub's advice).
const IAT_BACKDATE: u64 = 60;
/// JWT lifetime from `iat`; GitHub refuses more than 10 minutes.
const JWT_LIFETIME: u64 = 9 * 60;

impl AppCredentials {
    /// Reads the App's PEM private key (PKCS#1 or PKCS#8). The error never contains the key.
    pub fn from_pem(app_id: u64, pem: &[u8]) -> Result<Self, GitHubError> {
        let key = EncodingKey::from_rsa_pem(pem).map_err(|e| GitHubError::Key {
            app_id,
            message: e.to_string(),
        })?;
        Ok(Self { app_id, key })
    }

    /// A fresh App JWT: `iat` 60 s back, `exp` 9 minutes after it, `iss` the app id.
    pub fn jwt(&self) -> Result<Secret, GitHubError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let iat = now.saturating_sub(IAT_BACKDATE);
        let claims = Claims {
            iat,
            exp: iat + JWT_LIFETIME,
            iss: self.app_id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(Secret::new)
            .map_err(|e| GitHubError::Key {
                app_id: self.app_id,
                message: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_hides_the_value() {
        let s = Secret::new("ghs_abcdef");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "ghs_abcdef");
    }

    #[test]
    fn bad_key_error_does_not_echo_the_key() {
        let err = AppCredentials::from_pem(7, b"-----BEGIN RSA PRIVATE KEY-----\nnotakey\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("app 7"), "{err}");
        assert!(!err.contains("notakey"), "{err}");
    }
}
