//! Errors returned by the bot API, and the original Coral document's `{status, retcode, data, message}` envelope.

pub use crate::bindings::coral::bot::types::{Error, ErrorCode};

/// The result of a bot API call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl ErrorCode {
    /// The fixed return code for this kind of error (the original Coral document's numbers where it has one).
    pub fn retcode(self) -> i32 {
        match self {
            ErrorCode::InvalidArgument => 100,
            ErrorCode::PermissionDenied => 102,
            ErrorCode::OperationFailed => 103,
            ErrorCode::SendFailed => 104,
            ErrorCode::Busy => 201,
            ErrorCode::Timeout => 202,
            ErrorCode::Unsupported => 1404,
            ErrorCode::RateLimited => 1429,
            ErrorCode::BotUnavailable => 1503,
            ErrorCode::QuotaExceeded => 1413,
            ErrorCode::TooLarge => 1414,
        }
    }
}

impl Error {
    /// True when the plugin lacks the grant for what it tried.
    pub fn is_denied(&self) -> bool {
        self.code == ErrorCode::PermissionDenied
    }

    /// True when a storage quota or schedule limit would be exceeded (nothing was changed).
    pub fn is_quota_exceeded(&self) -> bool {
        self.code == ErrorCode::QuotaExceeded
    }

    /// True when an argument was over a size limit (message bytes, segments, forward nodes); nothing was sent.
    pub fn is_too_large(&self) -> bool {
        self.code == ErrorCode::TooLarge
    }

    /// True when the platform cannot do this at all (e.g. kicking on the console).
    pub fn is_unsupported(&self) -> bool {
        self.code == ErrorCode::Unsupported
    }

    /// For a rate-limited call, how long to wait before the call would be admitted.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after_ms.map(std::time::Duration::from_millis)
    }
}

/// The `{status, retcode, data, message}` envelope of the original Coral document, for code that wants the
/// JSON shape rather than a `Result`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiResponse {
    /// `"ok"` or `"failed"`.
    pub status: String,
    /// 0 on success, otherwise the error's retcode.
    pub retcode: i32,
    /// The response data (`null` on failure).
    pub data: serde_json::Value,
    /// Empty on success, otherwise the error message.
    pub message: String,
}

impl ApiResponse {
    /// Wrap the result of [`crate::Bot::call_api`].
    pub fn from_result(result: Result<String>) -> Self {
        match result {
            Ok(data) => ApiResponse {
                status: "ok".into(),
                retcode: 0,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data)),
                message: String::new(),
            },
            Err(e) => ApiResponse {
                status: "failed".into(),
                retcode: e.retcode,
                data: serde_json::Value::Null,
                message: e.message,
            },
        }
    }

    /// True when `status` is `"ok"`.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}
