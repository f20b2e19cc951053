//! Secret checks for OneBot transports, all constant-time: access tokens (`Authorization: Bearer`, or
//! `?access_token=`) and HTTP POST signatures (`X-Signature: sha1=<hex HMAC-SHA1 over the raw body>`); and
//! [`Refusals`], the rate-limited WARN line a listener logs for every request it refuses.

use axum::http::StatusCode;
use coral_model::log_limit::LogLimiter;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
use std::net::SocketAddr;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential was presented (HTTP 401).
    Missing,
    /// A wrong credential was presented (HTTP 403).
    Wrong,
}

/// Compare two secrets in constant time (hashing first, so not even the length leaks).
pub fn secret_eq(a: &str, b: &str) -> bool {
    let (ha, hb) = (Sha1::digest(a.as_bytes()), Sha1::digest(b.as_bytes()));
    ha.ct_eq(&hb).into()
}

/// Check an access token given in the `Authorization` header (`Bearer <t>`, or the pre-v11 `Token <t>`) or in the
/// `access_token` query parameter. No configured token: everything passes.
pub fn check_token(
    expected: Option<&str>,
    authorization: Option<&str>,
    query_token: Option<&str>,
) -> Result<(), AuthFailure> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let presented = authorization
        .map(|h| h.trim())
        .map(|h| {
            h.strip_prefix("Bearer")
                .or_else(|| h.strip_prefix("Token"))
                .unwrap_or(h)
                .trim()
        })
        .or(query_token);
    match presented {
        None | Some("") => Err(AuthFailure::Missing),
        Some(token) if secret_eq(token, expected) => Ok(()),
        Some(_) => Err(AuthFailure::Wrong),
    }
}

/// The `X-Signature` value for a body: `sha1=<hex>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha1={hex}")
}

/// Verify `X-Signature` over the raw body bytes, in constant time.
pub fn check_signature(secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), AuthFailure> {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(AuthFailure::Missing);
    };
    let hex = header.strip_prefix("sha1=").unwrap_or(header);
    let Some(given) = decode_hex(hex) else {
        return Err(AuthFailure::Wrong);
    };
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| AuthFailure::Wrong)
}

/// Why a listener refused a request or a connection. What it says is logged: never a secret, never what the client
/// presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No access token (401).
    #[error("missing access token")]
    MissingToken,
    /// A wrong access token (403).
    #[error("wrong access token")]
    WrongToken,
    /// No `X-Signature` on an event POST (401).
    #[error("missing X-Signature")]
    MissingSignature,
    /// An `X-Signature` that does not match the body (403).
    #[error("bad X-Signature")]
    BadSignature,
    /// Nothing is served at this path (404).
    #[error("unknown path")]
    UnknownPath,
    /// A reverse-WebSocket handshake without `X-Self-ID` (400).
    #[error("missing X-Self-ID")]
    MissingSelfId,
    /// A reverse-WebSocket handshake with an unknown `X-Client-Role` (400).
    #[error("unknown X-Client-Role")]
    UnknownRole,
    /// A request to the reverse-WebSocket path that is not a WebSocket handshake.
    #[error("not a WebSocket handshake")]
    NotWebSocket,
}

impl Refusal {
    /// The token check's failure as a refusal.
    pub fn token(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Missing => Refusal::MissingToken,
            AuthFailure::Wrong => Refusal::WrongToken,
        }
    }

    /// The signature check's failure as a refusal.
    pub fn signature(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::Missing => Refusal::MissingSignature,
            AuthFailure::Wrong => Refusal::BadSignature,
        }
    }

    /// The HTTP status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::MissingToken | Refusal::MissingSignature => StatusCode::UNAUTHORIZED,
            Refusal::WrongToken | Refusal::BadSignature => StatusCode::FORBIDDEN,
            Refusal::UnknownPath => StatusCode::NOT_FOUND,
            Refusal::MissingSelfId | Refusal::UnknownRole | Refusal::NotWebSocket => StatusCode::BAD_REQUEST,
        }
    }
}

/// How often a listener may log a refusal: one line per second at most, the rest counted.
pub const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(1);

/// The refusals log of one listener: a WARN line per refused request naming the transport, the listen address,
/// the peer and the reason, at most one per [`REFUSAL_LOG_PERIOD`]; the count of lines held back goes out with the
/// next one.
pub struct Refusals {
    /// What the transport is called in logs (its label follows the entry when a reload moves it).
    transport: Box<dyn std::fmt::Display + Send + Sync>,
    listen: SocketAddr,
    limiter: LogLimiter,
}

impl std::fmt::Debug for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refusals")
            .field("transport", &self.transport.to_string())
            .field("listen", &self.listen)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl Refusals {
    /// The log of the listener of `transport` (e.g. `onebot[0] http`) bound to `listen`.
    pub fn new(transport: impl std::fmt::Display + Send + Sync + 'static, listen: SocketAddr) -> Self {
        Refusals {
            transport: Box::new(transport),
            listen,
            limiter: LogLimiter::new(REFUSAL_LOG_PERIOD),
        }
    }

    /// Log (or count) a refusal of a request from `peer`.
    pub fn refused(&self, peer: SocketAddr, why: Refusal) {
        let Some(suppressed) = self.limiter.admit() else {
            return;
        };
        let (transport, listen) = (&*self.transport, self.listen);
        if suppressed == 0 {
            tracing::warn!(%transport, %listen, %peer, "refused a request: {why}");
        } else {
            tracing::warn!(
                %transport, %listen, %peer,
                "refused a request: {why} ({suppressed} more refusals on this listener suppressed since the last line)"
            );
        }
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(check_token(None, None, None), Ok(()));
        assert_eq!(check_token(Some("s3"), Some("Bearer s3"), None), Ok(()));
        assert_eq!(check_token(Some("s3"), Some("Token s3"), None), Ok(()));
        assert_eq!(check_token(Some("s3"), None, Some("s3")), Ok(()));
        assert_eq!(check_token(Some("s3"), None, None), Err(AuthFailure::Missing));
        assert_eq!(
            check_token(Some("s3"), Some("Bearer "), None),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            check_token(Some("s3"), Some("Bearer s4"), None),
            Err(AuthFailure::Wrong)
        );
        assert_eq!(
            check_token(Some("s3"), Some("Bearer s33"), None),
            Err(AuthFailure::Wrong)
        );
    }

    #[test]
    fn refusals_map_to_401_for_missing_and_403_for_wrong_credentials() {
        assert_eq!(Refusal::token(AuthFailure::Missing).status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Refusal::token(AuthFailure::Wrong).status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Refusal::signature(AuthFailure::Missing).status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(Refusal::signature(AuthFailure::Wrong).status(), StatusCode::FORBIDDEN);
        assert_eq!(Refusal::token(AuthFailure::Wrong).to_string(), "wrong access token");
    }

    #[test]
    fn signatures_cover_the_raw_body() {
        // HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog"), a published test vector.
        let body = b"The quick brown fox jumps over the lazy dog";
        assert_eq!(sign("key", body), "sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
        assert_eq!(check_signature("key", Some(&sign("key", body)), body), Ok(()));
        assert_eq!(check_signature("key", None, body), Err(AuthFailure::Missing));
        assert_eq!(check_signature("key", Some("sha1=zz"), body), Err(AuthFailure::Wrong));
        let mut tampered = body.to_vec();
        tampered[0] ^= 1;
        assert_eq!(
            check_signature("key", Some(&sign("key", body)), &tampered),
            Err(AuthFailure::Wrong)
        );
        // Same JSON, different bytes: a re-serialised body must not verify.
        assert_eq!(
            check_signature("k", Some(&sign("k", b"{\"a\":1}")), b"{\"a\": 1}"),
            Err(AuthFailure::Wrong)
        );
    }
}
