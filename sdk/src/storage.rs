//! The plugin's private key-value store (capability `storage`): bytes under string keys, kept by the host across
//! restarts and reloads. No key can reach another plugin's data.
//!
//! Request `storage` in [`crate::Metadata::capabilities`] and have the operator grant it. Quotas are the
//! operator's (`[plugins.<name>] storage = { max_keys, max_mb }`, default 10 000 keys and 16 MiB); a write past
//! them fails with [`crate::ErrorCode::QuotaExceeded`] and changes nothing. Keys are at most 512 bytes, values at
//! most 1 MiB.
//!
//! ```no_run
//! use coral_sdk::storage;
//! let warnings = storage::increment("warn:1000001:42", 1)?;
//! storage::set_string("greeting", "hello", None)?;
//! let greeting = storage::get_string("greeting")?.unwrap_or_default();
//! storage::set_json("settings", &serde_json::json!({"limit": 3}), None)?;
//! # Ok::<(), coral_sdk::Error>(())
//! ```

use crate::bindings::coral::bot::storage as api;
use crate::error::{Error, ErrorCode, Result};

/// The value under `key` (none when absent or expired).
pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    api::get(key)
}

/// Store `value` under `key`; with `ttl_secs` it expires that many seconds later.
pub fn set(key: &str, value: &[u8], ttl_secs: Option<u32>) -> Result<()> {
    api::set(key, value, ttl_secs)
}

/// Remove `key`; whether it existed.
pub fn delete(key: &str) -> Result<bool> {
    api::delete(key)
}

/// Keys starting with `prefix` (empty: all), sorted, at most 1000.
pub fn list_keys(prefix: &str) -> Result<Vec<String>> {
    api::list_keys(prefix)
}

/// Atomically add `delta` to the integer under `key` (absent: 0) and return the new value.
pub fn increment(key: &str, delta: i64) -> Result<i64> {
    api::increment(key, delta)
}

/// Atomically replace the value under `key` with `new` (none: delete) if it is `expected` (none: absent);
/// whether it was replaced.
pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool> {
    api::compare_and_swap(key, expected, new)
}

/// The value under `key` as UTF-8 text.
pub fn get_string(key: &str) -> Result<Option<String>> {
    get(key)?
        .map(|bytes| String::from_utf8(bytes).map_err(|_| local_error(format!("the value under {key:?} is not UTF-8"))))
        .transpose()
}

/// Store text under `key`.
pub fn set_string(key: &str, value: &str, ttl_secs: Option<u32>) -> Result<()> {
    set(key, value.as_bytes(), ttl_secs)
}

/// The value under `key`, parsed from JSON.
pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>> {
    get(key)?
        .map(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|e| local_error(format!("the value under {key:?} is not the expected JSON: {e}")))
        })
        .transpose()
}

/// Store a value under `key` as JSON.
pub fn set_json<T: serde::Serialize + ?Sized>(key: &str, value: &T, ttl_secs: Option<u32>) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| local_error(format!("cannot encode JSON: {e}")))?;
    set(key, &bytes, ttl_secs)
}

fn local_error(message: String) -> Error {
    Error {
        code: ErrorCode::InvalidArgument,
        retcode: ErrorCode::InvalidArgument.retcode(),
        message,
        retry_after_ms: None,
    }
}
