//! `fetch`: `fetch <url>` answers the HTTP status and the first line of the body. It speaks `wasi:http` directly
//! (through the `wasip2` crate), follows at most three redirects itself, and shows how the host's checks look to
//! a plugin: a host that is not on its `http` allowlist, or one that resolves to a private address, comes back as
//! a `wasi:http` error code (`HttpRequestDenied`, `DestinationIpProhibited`, …), and so does an over-large or slow
//! response. Every redirect it follows is a new request, checked again by the host.
//!
//! Needs the `http` grant and an allowlist: `[plugins.fetch] grants = ["http"]`, `http = ["api.example.com"]`
//! (ports 80 and 443 only; list others as `"host:port"`).

use coral_sdk::prelude::*;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode as HttpError, Fields, OutgoingBody, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 3;
/// Bytes of body read at most (the host has its own, usually smaller, limit).
const MAX_BODY: usize = 8 << 20;

struct Fetch;

/// An absolute URL split the way `wasi:http` wants it.
struct Target {
    https: bool,
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not an absolute URL"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            other => return Err(format!("scheme {other:?} is not http or https")),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(Target {
            https,
            authority: authority.to_string(),
            path,
        })
    }

    /// Where a `location` header points, relative to this URL.
    fn follow(&self, location: &str) -> Result<Target, String> {
        if location.contains("://") {
            Target::parse(location)
        } else if location.starts_with('/') {
            Ok(Target {
                https: self.https,
                authority: self.authority.clone(),
                path: location.to_string(),
            })
        } else {
            Err(format!("unsupported relative location {location:?}"))
        }
    }
}

/// What one request came back with.
struct Answer {
    status: u16,
    location: Option<String>,
    body: Result<Vec<u8>, String>,
}

fn send(target: &Target) -> Result<Answer, HttpError> {
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if target.https { Scheme::Https } else { Scheme::Http };
    let invalid = || HttpError::HttpRequestUriInvalid;
    request.set_scheme(Some(&scheme)).map_err(|()| invalid())?;
    request.set_authority(Some(&target.authority)).map_err(|()| invalid())?;
    request
        .set_path_with_query(Some(&target.path))
        .map_err(|()| invalid())?;
    let body = request.body().map_err(|()| HttpError::InternalError(None))?;
    let future = outgoing_handler::handle(request, None)?;
    OutgoingBody::finish(body, None)?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(result)) => result?,
        _ => return Err(HttpError::InternalError(Some("the response was not ready".into()))),
    };
    let location = response
        .headers()
        .get("location")
        .into_iter()
        .next()
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let status = response.status();
    let body = read_body(&response);
    Ok(Answer { status, location, body })
}

fn read_body(response: &wasip2::http::types::IncomingResponse) -> Result<Vec<u8>, String> {
    let body = response
        .consume()
        .map_err(|()| "the body was already taken".to_string())?;
    let stream = body
        .stream()
        .map_err(|()| "the body stream was already taken".to_string())?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_BODY {
                    return Err(format!("body over {MAX_BODY} bytes"));
                }
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match wasip2::http::types::http_error_code(&e) {
                    Some(code) => format!("{code:?}"),
                    None => e.to_debug_string(),
                });
            }
        }
    }
}

/// Fetch `url`, following up to [`MAX_REDIRECTS`] redirects; the answer line for the chat.
fn fetch(url: &str) -> String {
    let mut target = match Target::parse(url) {
        Ok(target) => target,
        Err(e) => return format!("fetch: bad url: {e}"),
    };
    let mut hops = 0;
    loop {
        let answer = match send(&target) {
            Ok(answer) => answer,
            Err(code) => return format!("fetch: error {code:?}{}", via(hops)),
        };
        if (300..400).contains(&answer.status)
            && let Some(location) = &answer.location
        {
            if hops == MAX_REDIRECTS {
                return format!("fetch: {} too many redirects{}", answer.status, via(hops));
            }
            target = match target.follow(location) {
                Ok(next) => next,
                Err(e) => return format!("fetch: {} {e}", answer.status),
            };
            hops += 1;
            continue;
        }
        return match answer.body {
            Ok(body) => {
                let text = String::from_utf8_lossy(&body);
                let first = text.lines().next().unwrap_or("").trim();
                format!("fetch: {} {first}{}", answer.status, via(hops))
            }
            Err(e) => format!("fetch: {} body error {e}{}", answer.status, via(hops)),
        };
    }
}

fn via(hops: usize) -> String {
    match hops {
        0 => String::new(),
        1 => " (after 1 redirect)".into(),
        n => format!(" (after {n} redirects)"),
    }
}

impl Plugin for Fetch {
    fn metadata() -> Metadata {
        Metadata::new("fetch", env!("CARGO_PKG_VERSION"))
            .description("`fetch <url>` answers the HTTP status and the first line of the body")
            .capabilities(["http"])
            .events([EventCategory::Message])
    }

    fn init(_config: Config) -> Result<Self, String> {
        Ok(Fetch)
    }

    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        if let Some(url) = msg.plain_text.trim().strip_prefix("fetch ") {
            bot.reply(msg, fetch(url.trim()))?;
        }
        Ok(())
    }
}

export_plugin!(Fetch);
