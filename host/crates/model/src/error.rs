//! The WIT `error` a plugin receives: each code's fixed retcode, how a platform's [`ApiError`] maps onto it (a
//! failed send is `send-failed`, seed retcode 104; the platform's own retcode is kept), and [`HostError`], what a
//! host function returns: an error value for the plugin, or a trap.

use crate::bindings::{ErrorCode, WitError};
use crate::bots::ApiError;

impl ErrorCode {
    /// The fixed retcode of each error code (WIT `error-code` docs).
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

impl WitError {
    /// An error with its code's fixed retcode.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        WitError {
            code,
            retcode: code.retcode(),
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

impl From<&ApiError> for WitError {
    fn from(error: &ApiError) -> Self {
        let message = error.to_string();
        match error {
            ApiError::Unsupported { .. } => WitError::new(ErrorCode::Unsupported, message),
            ApiError::InvalidArgument(_) => WitError::new(ErrorCode::InvalidArgument, message),
            ApiError::BotUnavailable(_) => WitError::new(ErrorCode::BotUnavailable, message),
            ApiError::Timeout { .. } => WitError::new(ErrorCode::Timeout, message),
            ApiError::Busy(_) => WitError::new(ErrorCode::Busy, message),
            ApiError::Failed { action, retcode, .. } => {
                let code = if crate::wire::name::is_send(action) {
                    ErrorCode::SendFailed
                } else {
                    ErrorCode::OperationFailed
                };
                WitError {
                    code,
                    retcode: *retcode,
                    message,
                    retry_after_ms: None,
                }
            }
            ApiError::BadResponse { .. } => WitError::new(ErrorCode::OperationFailed, message),
            ApiError::Disconnected { .. } => WitError::new(ErrorCode::BotUnavailable, message),
        }
    }
}

/// What a host function that answers `result<T, error>` fails with: an [`WitError`] the plugin receives as a value
/// (a refusal, a platform failure), or a trap (a host bug, or a plugin over its budget). With it `?` works in host
/// functions on both.
#[derive(Debug)]
pub enum HostError {
    /// Returned to the plugin as its `error`.
    Wit(WitError),
    /// Traps the plugin's instance.
    Trap(wasmtime::Error),
}

impl HostError {
    /// An error value with its code's fixed retcode.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        HostError::Wit(WitError::new(code, message))
    }

    /// For the generated `convert_error`: the value to return, or the trap to raise.
    pub fn into_wit(self) -> wasmtime::Result<WitError> {
        match self {
            HostError::Wit(error) => Ok(error),
            HostError::Trap(trap) => Err(trap),
        }
    }
}

impl From<WitError> for HostError {
    fn from(error: WitError) -> Self {
        HostError::Wit(error)
    }
}

impl From<wasmtime::Error> for HostError {
    fn from(trap: wasmtime::Error) -> Self {
        HostError::Trap(trap)
    }
}
