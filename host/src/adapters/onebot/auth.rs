//! Secret checks for OneBot transports, all constant-time: access tokens (`Authorization: Bearer`, or
//! `?access_token=`) and HTTP POST signatures (`X-Signature: sha1=<hex HMAC-SHA1 over the raw body>`).

use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};
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
