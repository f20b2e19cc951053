//! Outgoing HTTP through the host (`coral:bot/http`): for plugins that request the `http` capability and are
//! granted it, to the hosts the operator lists under `[plugins.<name>] http`.
//!
//! The host checks every request (allowlist, public addresses only, size and time limits) and returns a refusal
//! as an [`Error`] (`permission-denied` 102 for a host that is not listed). Redirects are returned, not followed:
//! to follow one, call again with its `location` (the host checks that hop too).
//!
//! ```no_run
//! let response = coral_sdk::http::get("https://api.example.com/status")?;
//! if response.status == 200 {
//!     coral_sdk::log::info(response.text());
//! }
//! # Ok::<(), coral_sdk::Error>(())
//! ```

use crate::bindings::coral::bot::http;
use crate::error::{Error, Result};

pub use crate::bindings::coral::bot::http::{Request, Response};

/// Send a request and read the whole response.
pub fn fetch(request: &Request) -> Result<Response, Error> {
    http::fetch(request)
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, Error> {
    fetch(&Request {
        method: "GET".into(),
        url: url.into(),
        headers: Vec::new(),
        body: None,
    })
}

/// `POST url` with a JSON body (`content-type: application/json`).
pub fn post_json(url: &str, body: &serde_json::Value) -> Result<Response, Error> {
    fetch(&Request {
        method: "POST".into(),
        url: url.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(body.to_string().into_bytes()),
    })
}

impl Response {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> std::result::Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Whether this is a redirect (3xx with a `location`).
    pub fn redirect_location(&self) -> Option<&str> {
        (300..400)
            .contains(&self.status)
            .then(|| self.header("location"))
            .flatten()
    }
}
