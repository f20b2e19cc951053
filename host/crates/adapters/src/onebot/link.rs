//! The echo-matched API call over a socket ([`WsLink`], streamed responses included; awaited or posted), and the
//! response envelope every transport reads ([`envelope`], [`failure_text`]).

use coral_model::wire::object::{Field, Object};
use coral_model::{AdapterCounters, ApiError, Done};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

/// Outgoing frames queued per socket before callers see `busy`.
pub const OUTBOX_LEN: usize = 1024;
/// Most chunk frames one streamed response may carry before the call fails.
pub const MAX_STREAM_CHUNKS: usize = 1024;
/// Most bytes (of chunk `data`, as JSON) one streamed response may carry before the call fails.
pub const MAX_STREAM_BYTES: usize = 16 << 20;

/// A call waiting for its response; a streamed response collects its chunks here.
struct Pending {
    action: String,
    waiter: Waiter,
    chunks: Vec<Value>,
    bytes: usize,
}

/// Who gets a call's outcome.
enum Waiter {
    /// A caller awaiting it ([`WsLink::call`]), which keeps the time.
    Caller {
        done: oneshot::Sender<Result<Value, ApiError>>,
        /// Woken by each chunk (the call's timeout restarts).
        progress: Arc<Notify>,
    },
    /// A posted call ([`WsLink::post`]): told where the response is read, or by [`WsLink::expire`] once `deadline`
    /// has passed (each chunk moves it on).
    Posted { done: Done, deadline: Instant },
}

impl Waiter {
    fn finish(self, outcome: Result<Value, ApiError>) {
        match self {
            Waiter::Caller { done, .. } => {
                let _ = done.send(outcome);
            }
            Waiter::Posted { done, .. } => done.finish(outcome),
        }
    }

    /// A chunk came: the wait for the next frame starts over.
    fn progress(&mut self, timeout: Duration) {
        match self {
            Waiter::Caller { progress, .. } => progress.notify_one(),
            Waiter::Posted { deadline, .. } => *deadline = Instant::now() + timeout,
        }
    }
}

/// What one response frame is to its call.
#[derive(Debug, PartialEq, Eq)]
enum Part {
    /// A chunk of a streamed response (NapCat `stream: "stream-action"`, `data.type: "stream"`).
    Chunk,
    /// The stream starts over (`data.type: "reset"`): the chunks so far are dropped.
    Reset,
    /// The response itself, or the frame that ends a stream (`data.type: "response"` or `"error"`, a status other
    /// than `ok`, or a frame on the same echo that is not marked as a stream).
    Final,
}

fn part(response: &impl Object) -> Part {
    let is = |key: &str, want: &str| matches!(response.field(key), Field::Str(s) if s == want);
    if !is("stream", "stream-action") || !is("status", "ok") {
        return Part::Final;
    }
    let Field::Object(data) = response.field("data") else {
        return Part::Final;
    };
    match data.field("type") {
        Field::Str(kind) if kind == "stream" => Part::Chunk,
        Field::Str(kind) if kind == "reset" => Part::Reset,
        _ => Part::Final,
    }
}

/// A response's echo as one of ours: absent, `null`, `""` or anything else that is not a number is none.
fn echo_of(response: &impl Object) -> Option<u64> {
    match response.field("echo") {
        Field::Number(n) => n.as_u64(),
        Field::Str(s) => s.parse().ok(),
        _ => None,
    }
}

/// The length of `value` as JSON, without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The result of a streamed call: without chunks, the final `data` as it is; with chunks,
/// `{"chunks": [<each chunk's data>, …], …<the final data's fields>}` (a final `data` that is not an object, and
/// not null, goes under `"data"`; a final field named `chunks` gives way to the collected chunks).
fn assemble(chunks: Vec<Value>, data: Value) -> Value {
    if chunks.is_empty() {
        return data;
    }
    let mut out = serde_json::Map::new();
    out.insert("chunks".into(), Value::Array(chunks));
    match data {
        Value::Object(fields) => {
            for (k, v) in fields {
                if k != "chunks" {
                    out.insert(k, v);
                }
            }
        }
        Value::Null => {}
        other => {
            out.insert("data".into(), other);
        }
    }
    Value::Object(out)
}

/// The frame of a call, `{"action": …, "params": …, "echo": …}`, written straight into one buffer (no JSON tree).
fn request_frame(action: &str, params: &impl Serialize, echo: u64) -> String {
    use std::io::Write;
    let mut frame = Vec::with_capacity(96);
    frame.extend_from_slice(b"{\"action\":");
    // Writing into a Vec cannot fail, and params (string keys) always serialise.
    let _ = serde_json::to_writer(&mut frame, action);
    frame.extend_from_slice(b",\"params\":");
    let _ = serde_json::to_writer(&mut frame, params);
    let _ = write!(frame, ",\"echo\":{echo}}}");
    String::from_utf8(frame).unwrap_or_default()
}

/// An API-capable WebSocket: frames out through `outbox`, responses matched to callers by `echo`.
///
/// A streamed response (NapCat's stream actions: several frames on one echo, each `"stream": "stream-action"`) is
/// collected until its final frame, at most [`MAX_STREAM_CHUNKS`] chunks and [`MAX_STREAM_BYTES`] bytes (beyond
/// that the call fails); see `assemble` for the shape returned. The call's timeout is the longest wait for the
/// next frame: each chunk restarts it, so a long stream that keeps coming is not cut off, and the bounds above
/// keep the whole finite.
pub struct WsLink {
    outbox: mpsc::Sender<String>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_echo: AtomicU64,
    timeout: Duration,
    closed: AtomicBool,
    stats: Arc<AdapterCounters>,
}

impl WsLink {
    /// A link writing to `outbox`.
    pub fn new(outbox: mpsc::Sender<String>, timeout: Duration, stats: Arc<AdapterCounters>) -> Arc<Self> {
        Arc::new(WsLink {
            outbox,
            pending: Mutex::default(),
            next_echo: AtomicU64::new(1),
            timeout,
            closed: AtomicBool::new(false),
            stats,
        })
    }

    /// Send `{action, params, echo}` and wait for the matching response (or the timeout, or the socket closing).
    pub async fn call(&self, action: &str, params: &impl Serialize) -> Result<Value, ApiError> {
        let (done, mut rx) = oneshot::channel();
        let progress = Arc::new(Notify::new());
        let waiter = Waiter::Caller {
            done,
            progress: progress.clone(),
        };
        let echo = match self.send(action, params, waiter) {
            Ok(echo) => echo,
            Err((error, _)) => return Err(error),
        };
        let forget = || self.pending.lock().remove(&echo);
        loop {
            let next = async {
                tokio::select! {
                    biased;
                    outcome = &mut rx => Some(outcome),
                    () = progress.notified() => None,
                }
            };
            match tokio::time::timeout(self.timeout, next).await {
                Err(_) => {
                    forget();
                    return Err(ApiError::Timeout {
                        action: action.into(),
                        ms: self.timeout.as_millis() as u64,
                    });
                }
                // A chunk came: wait again, the full timeout.
                Ok(None) => continue,
                Ok(Some(Err(_))) => return Err(ApiError::Disconnected { action: action.into() }),
                Ok(Some(Ok(outcome))) => return outcome,
            }
        }
    }

    /// Send `{action, params, echo}` without waiting: `done` gets the outcome when the response is read (or a
    /// failure: at once if the frame cannot be queued; `timeout` after the last frame of its answer, from
    /// [`Self::expire`]; when the socket closes).
    pub fn post(&self, action: &str, params: &impl Serialize, done: Done) {
        let waiter = Waiter::Posted {
            done,
            deadline: Instant::now() + self.timeout,
        };
        if let Err((error, Some(waiter))) = self.send(action, params, waiter) {
            waiter.finish(Err(error));
        }
    }

    /// Queue a call's frame, its waiter registered under a new echo; the error and the waiter (unless it was told
    /// already) back if the socket is closed or its outbox full.
    fn send(&self, action: &str, params: &impl Serialize, waiter: Waiter) -> Result<u64, (ApiError, Option<Waiter>)> {
        if self.closed.load(Ordering::Acquire) {
            return Err((ApiError::Disconnected { action: action.into() }, Some(waiter)));
        }
        let echo = self.next_echo.fetch_add(1, Ordering::Relaxed);
        let pending = Pending {
            action: action.into(),
            waiter,
            chunks: Vec::new(),
            bytes: 0,
        };
        self.pending.lock().insert(echo, pending);
        let frame = request_frame(action, params, echo);
        let Err(e) = self.outbox.try_send(frame) else {
            return Ok(echo);
        };
        let error = match e {
            mpsc::error::TrySendError::Full(_) => {
                ApiError::Busy(format!("the connection's outbox is full ({OUTBOX_LEN} frames)"))
            }
            mpsc::error::TrySendError::Closed(_) => ApiError::Disconnected { action: action.into() },
        };
        // Not there if the socket closed meanwhile: then the waiter was told already.
        let waiter = self.pending.lock().remove(&echo).map(|pending| pending.waiter);
        Err((error, waiter))
    }

    /// How often the reader calls [`Self::expire`]: a quarter of the timeout, between 5 ms and 1 s.
    pub fn sweep_period(&self) -> Duration {
        (self.timeout / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }

    /// Fail the posted calls whose answer is overdue (a timeout, as an awaited call gets one).
    pub fn expire(&self) {
        let now = Instant::now();
        let overdue: Vec<Pending> = self
            .pending
            .lock()
            .extract_if(|_, p| matches!(p.waiter, Waiter::Posted { deadline, .. } if deadline <= now))
            .map(|(_, pending)| pending)
            .collect();
        let ms = self.timeout.as_millis() as u64;
        for pending in overdue {
            pending.waiter.finish(Err(ApiError::Timeout {
                action: pending.action,
                ms,
            }));
        }
    }

    /// Hand a response frame to its caller (a stream's chunk is kept for it); `false` when no call was waiting for
    /// its echo. Only its `data` is parsed into a tree (read in place, the frame's other fields are not).
    pub fn resolve(&self, response: &impl Object) -> bool {
        let mut pending = self.pending.lock();
        let Some(echo) = echo_of(response).filter(|e| pending.contains_key(e)) else {
            drop(pending);
            self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let Some(waiting) = pending.get_mut(&echo) else {
            return false;
        };
        match part(response) {
            Part::Chunk => {
                let data = response.value("data");
                let bytes = json_len(&data);
                if waiting.chunks.len() < MAX_STREAM_CHUNKS && waiting.bytes + bytes <= MAX_STREAM_BYTES {
                    waiting.chunks.push(data);
                    waiting.bytes += bytes;
                    waiting.waiter.progress(self.timeout);
                } else if let Some(waiting) = pending.remove(&echo) {
                    drop(pending);
                    let reason = format!(
                        "the streamed response went over {MAX_STREAM_CHUNKS} chunks or {} MiB",
                        MAX_STREAM_BYTES >> 20
                    );
                    waiting.waiter.finish(Err(ApiError::BadResponse {
                        action: waiting.action,
                        reason,
                    }));
                }
            }
            Part::Reset => {
                waiting.chunks.clear();
                waiting.bytes = 0;
                waiting.waiter.progress(self.timeout);
            }
            Part::Final => {
                if let Some(waiting) = pending.remove(&echo) {
                    drop(pending);
                    let outcome = envelope(&waiting.action, response).map(|data| assemble(waiting.chunks, data));
                    waiting.waiter.finish(outcome);
                }
            }
        }
        true
    }

    /// The socket is gone: every pending call fails now (a caller sees its channel close; a posted call is told).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let pending: Vec<Pending> = self.pending.lock().drain().map(|(_, pending)| pending).collect();
        for pending in pending {
            if let Waiter::Posted { done, .. } = pending.waiter {
                done.finish(Err(ApiError::Disconnected { action: pending.action }));
            }
        }
    }

    /// Calls waiting for a response.
    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }
}

/// Read a `{status, retcode, data, message, msg, wording}` response: `ok` and `async` succeed (with `data`),
/// anything else is the implementation's failure with its own retcode and text (see [`failure_text`]).
pub fn envelope(action: &str, response: &impl Object) -> Result<Value, ApiError> {
    if is_success(response) {
        return Ok(response.value("data"));
    }
    Err(ApiError::Failed {
        action: action.into(),
        retcode: retcode_of(response) as i32,
        message: failure_text(response),
    })
}

pub(super) fn status_of(response: &impl Object) -> Cow<'_, str> {
    response.field("status").into_str()
}

pub(super) fn retcode_of(response: &impl Object) -> i64 {
    let retcode = match response.field("retcode") {
        Field::Number(n) => n.as_i64(),
        _ => None,
    };
    retcode.unwrap_or(if status_of(response) == "ok" { 0 } else { -1 })
}

/// `status` `ok` or `async`, or no status and retcode 0.
pub(super) fn is_success(response: &impl Object) -> bool {
    let status = status_of(response);
    status == "ok" || status == "async" || (status.is_empty() && retcode_of(response) == 0)
}

/// A failure's text: the distinct non-empty ones of `message` (NapCat, Lagrange), `msg` (go-cqhttp's code, e.g.
/// `MSG_NOT_FOUND`) and `wording` (the human text), the first as it is and the others in parentheses:
/// `MSG_NOT_FOUND (消息不存在)`, `Timeout: NTEvent (超时)`, `failed (MSG_NOT_FOUND; 消息不存在)`.
pub fn failure_text(response: &impl Object) -> String {
    let mut parts: Vec<String> = Vec::new();
    for key in ["message", "msg", "wording"] {
        if let Field::Str(text) = response.field(key)
            && !text.trim().is_empty()
            && !parts.iter().any(|part| part == text.trim())
        {
            parts.push(text.trim().to_string());
        }
    }
    match parts.split_first() {
        None => String::new(),
        Some((first, [])) => first.to_string(),
        Some((first, rest)) => format!("{first} ({})", rest.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_call_frame_is_the_action_its_params_and_the_echo_in_that_order() {
        let params = json!({"message": "a \"quoted\" 你好\n", "user_id": 5, "nested": {"b": [1, null]}});
        let frame = request_frame("send_msg", &params, 7);
        assert_eq!(
            frame,
            json!({"action": "send_msg", "params": params, "echo": 7}).to_string()
        );
        let parsed: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(parsed["params"], params);
    }

    #[test]
    fn envelope_keeps_the_implementations_retcode_and_wording() {
        let ok = envelope(
            "get_status",
            &json!({"status": "ok", "retcode": 0, "data": {"good": true}}),
        );
        assert_eq!(ok.unwrap()["good"], true);
        assert_eq!(
            envelope("set_restart", &json!({"status": "async", "retcode": 1, "data": null})).unwrap(),
            Value::Null
        );
        let failed = json!({"status": "failed", "retcode": 1200, "message": "Timeout: NTEvent", "wording": "超时"});
        match envelope("send_msg", &failed) {
            Err(ApiError::Failed { retcode, message, .. }) => {
                assert_eq!(retcode, 1200);
                assert_eq!(message, "Timeout: NTEvent (超时)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failures_text_keeps_message_msg_and_wording() {
        let text = |v: Value| match envelope("delete_msg", &v) {
            Err(ApiError::Failed { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        // go-cqhttp: `msg` is the code, `wording` the human text.
        assert_eq!(
            text(json!({"status": "failed", "retcode": 100, "msg": "MSG_NOT_FOUND", "wording": "消息不存在"})),
            "MSG_NOT_FOUND (消息不存在)"
        );
        assert_eq!(
            text(
                json!({"status": "failed", "retcode": 100, "message": "failed", "msg": "MSG_NOT_FOUND",
                "wording": "消息不存在"})
            ),
            "failed (MSG_NOT_FOUND; 消息不存在)"
        );
        // NapCat repeats `message` as `wording`: said once.
        assert_eq!(
            text(json!({"status": "failed", "retcode": 1200, "message": "boom", "wording": "boom"})),
            "boom"
        );
        assert_eq!(text(json!({"status": "failed", "retcode": 1})), "");
    }

    /// A link whose frames can be read back, and a call on it already sent; returns the call's echo.
    async fn sent_call(
        timeout: Duration,
    ) -> (
        Arc<WsLink>,
        mpsc::Receiver<String>,
        tokio::task::JoinHandle<Result<Value, ApiError>>,
        Value,
    ) {
        let (tx, mut rx) = mpsc::channel(8);
        let link = WsLink::new(tx, timeout, Arc::default());
        let call = tokio::spawn({
            let link = link.clone();
            async move { link.call("download_file_stream", &json!({})).await }
        });
        let frame: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        (link, rx, call, frame["echo"].clone())
    }

    fn chunk(echo: &Value, index: usize) -> Value {
        json!({"status": "ok", "retcode": 0, "stream": "stream-action", "echo": echo,
            "data": {"type": "stream", "data_type": "file_chunk", "index": index, "data": format!("part{index}")}})
    }

    #[tokio::test]
    async fn a_streamed_response_is_collected_until_its_final_frame() {
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        for i in 0..3 {
            assert!(link.resolve(&chunk(&echo, i)));
        }
        assert_eq!(link.pending(), 1, "chunks do not end the call");
        let last = json!({"status": "ok", "retcode": 0, "stream": "stream-action", "echo": echo,
            "data": {"type": "response", "data_type": "file_complete", "total_chunks": 3}});
        assert!(link.resolve(&last));
        let result = call.await.unwrap().unwrap();
        let parts: Vec<&str> = result["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["data"].as_str().unwrap())
            .collect();
        assert_eq!(parts, ["part0", "part1", "part2"]);
        assert_eq!(result["total_chunks"], 3);
        assert_eq!(result["type"], "response");
        assert_eq!(link.pending(), 0);
    }

    #[tokio::test]
    async fn a_stream_ends_with_a_failure_or_an_unmarked_frame_and_a_reset_starts_it_over() {
        // A failed frame ends it with the failure.
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        assert!(link.resolve(&chunk(&echo, 0)));
        let error = json!({"status": "failed", "retcode": 1200, "stream": "stream-action", "echo": echo,
            "data": {"type": "error", "data_type": "error"}, "message": "disk full", "wording": "disk full"});
        assert!(link.resolve(&error));
        match call.await.unwrap() {
            Err(ApiError::Failed {
                retcode: 1200, message, ..
            }) => assert_eq!(message, "disk full"),
            other => panic!("{other:?}"),
        }
        // A frame on the same echo without the stream mark is final; a reset dropped the chunks before it.
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        assert!(link.resolve(&chunk(&echo, 0)));
        let reset = json!({"status": "ok", "retcode": 0, "stream": "stream-action", "echo": echo,
            "data": {"type": "reset"}});
        assert!(link.resolve(&reset));
        assert!(link.resolve(&chunk(&echo, 1)));
        assert!(link.resolve(&json!({"status": "ok", "retcode": 0, "echo": echo, "data": "done"})));
        let result = call.await.unwrap().unwrap();
        assert_eq!(result, json!({"chunks": [chunk(&echo, 1)["data"]], "data": "done"}));
        // Without chunks, the final data is returned as it is.
        assert_eq!(assemble(Vec::new(), json!({"a": 1})), json!({"a": 1}));
        assert_eq!(assemble(vec![json!(1)], Value::Null), json!({"chunks": [1]}));
    }

    #[tokio::test]
    async fn a_stream_over_its_bounds_fails_the_call() {
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        for i in 0..MAX_STREAM_CHUNKS {
            assert!(link.resolve(&chunk(&echo, i)));
        }
        assert_eq!(link.pending(), 1);
        assert!(link.resolve(&chunk(&echo, MAX_STREAM_CHUNKS)));
        match call.await.unwrap() {
            Err(ApiError::BadResponse { reason, .. }) => assert!(reason.contains("1024 chunks"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(link.pending(), 0);
        // Bytes: one chunk of just over the whole budget.
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        let mut big = chunk(&echo, 0);
        big["data"]["data"] = json!("x".repeat(MAX_STREAM_BYTES));
        assert!(link.resolve(&big));
        assert!(matches!(call.await.unwrap(), Err(ApiError::BadResponse { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn each_chunk_restarts_the_calls_timeout() {
        let (link, _rx, call, echo) = sent_call(Duration::from_millis(100)).await;
        // Five chunks 60 ms apart: 300 ms in all, three times the timeout, but never 100 ms of silence.
        for i in 0..5 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert!(link.resolve(&chunk(&echo, i)));
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(link.resolve(&json!({"status": "ok", "retcode": 0, "echo": echo, "data": {}})));
        let result = call.await.unwrap().unwrap();
        assert_eq!(result["chunks"].as_array().unwrap().len(), 5);
        // Silence after a chunk still times out.
        let (link, _rx, call, echo) = sent_call(Duration::from_millis(100)).await;
        assert!(link.resolve(&chunk(&echo, 0)));
        assert!(matches!(call.await.unwrap(), Err(ApiError::Timeout { .. })));
        assert_eq!(link.pending(), 0);
    }

    #[tokio::test]
    async fn frames_without_our_echo_never_answer_a_pending_call() {
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        assert_eq!(echo, json!(1));
        let failure = |echo: Value| {
            json!({"status": "failed", "retcode": 1403, "data": null,
            "message": "token验证失败", "wording": "token验证失败", "echo": echo})
        };
        for echo in [Value::Null, json!(""), json!("abc"), json!(2), json!({"id": 1})] {
            let frame = failure(echo.clone());
            assert!(!link.resolve(&frame), "echo {echo}");
        }
        let mut no_echo = failure(Value::Null);
        no_echo.as_object_mut().unwrap().remove("echo");
        assert!(!link.resolve(&no_echo));
        assert_eq!(link.pending(), 1, "the pending call is still waiting");
        assert_eq!(link.stats.unmatched.load(Ordering::Relaxed), 6);
        assert!(link.resolve(&json!({"status": "ok", "retcode": 0, "data": 7, "echo": "1"})));
        assert_eq!(call.await.unwrap().unwrap(), json!(7));
    }

    #[tokio::test]
    async fn responses_are_matched_by_echo_in_any_order_and_unknown_echoes_are_ignored() {
        let (tx, mut rx) = mpsc::channel(8);
        let stats = Arc::new(AdapterCounters::default());
        let link = WsLink::new(tx, Duration::from_secs(5), stats.clone());
        let a = tokio::spawn({
            let link = link.clone();
            async move { link.call("a", &json!({})).await }
        });
        let b = tokio::spawn({
            let link = link.clone();
            async move { link.call("b", &json!({})).await }
        });
        let mut echoes = Vec::new();
        for _ in 0..2 {
            let frame: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
            echoes.push((frame["action"].as_str().unwrap().to_string(), frame["echo"].clone()));
        }
        assert!(!link.resolve(&json!({"status": "ok", "retcode": 0, "data": 0, "echo": 999})));
        // Answer in reverse order, the second one with its echo as a string.
        for (action, echo) in echoes.iter().rev() {
            let echo = if action == "a" {
                json!(echo.to_string())
            } else {
                echo.clone()
            };
            assert!(link.resolve(&json!({"status": "ok", "retcode": 0, "data": action, "echo": echo})));
        }
        assert_eq!(a.await.unwrap().unwrap(), json!("a"));
        assert_eq!(b.await.unwrap().unwrap(), json!("b"));
        assert_eq!(stats.unmatched.load(Ordering::Relaxed), 1);
        assert_eq!(link.pending(), 0);
    }

    #[tokio::test]
    async fn closing_fails_pending_calls_at_once_and_timeouts_clean_up() {
        let (tx, _rx) = mpsc::channel(8);
        let link = WsLink::new(tx, Duration::from_millis(50), Arc::default());
        let timed_out = link.call("slow", &json!({})).await;
        assert!(matches!(timed_out, Err(ApiError::Timeout { .. })), "{timed_out:?}");
        assert_eq!(link.pending(), 0);
        let (tx, _rx) = mpsc::channel(8);
        let link = WsLink::new(tx, Duration::from_secs(60), Arc::default());
        let call = tokio::spawn({
            let link = link.clone();
            async move { link.call("x", &json!({})).await }
        });
        while link.pending() == 0 {
            tokio::task::yield_now().await;
        }
        link.close();
        assert!(matches!(call.await.unwrap(), Err(ApiError::Disconnected { .. })));
    }

    /// A `Done` whose outcome can be read back.
    fn told() -> (Done, std::sync::mpsc::Receiver<Result<Value, ApiError>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let done = Done::new("send_msg", move |outcome| {
            let _ = tx.send(outcome);
        });
        (done, rx)
    }

    #[tokio::test(start_paused = true)]
    async fn a_posted_call_is_told_its_answer_where_it_is_read_or_its_timeout_by_the_sweep() {
        let (tx, mut rx) = mpsc::channel(8);
        let link = WsLink::new(tx, Duration::from_millis(100), Arc::default());
        assert_eq!(link.sweep_period(), Duration::from_millis(25));
        let (done, answer) = told();
        link.post("send_msg", &json!({"message": "hi"}), done);
        let frame: Value = serde_json::from_str(&rx.recv().await.unwrap()).unwrap();
        assert_eq!(
            (frame["action"].as_str(), frame["params"]["message"].as_str()),
            (Some("send_msg"), Some("hi"))
        );
        assert!(answer.try_recv().is_err(), "nothing yet");
        assert!(link.resolve(&json!({"status": "ok", "retcode": 0, "data": {"message_id": 9}, "echo": frame["echo"]})));
        assert_eq!(answer.try_recv().unwrap().unwrap()["message_id"], 9);
        assert_eq!(link.pending(), 0);
        // No answer: the sweep before the deadline leaves it; the one after fails it with a timeout. A chunk of a
        // streamed answer moves the deadline on.
        let (done, answer) = told();
        link.post("send_msg", &json!({}), done);
        let echo = serde_json::from_str::<Value>(&rx.recv().await.unwrap()).unwrap()["echo"].clone();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(link.resolve(&chunk(&echo, 0)));
        tokio::time::sleep(Duration::from_millis(60)).await;
        link.expire();
        assert!(
            answer.try_recv().is_err(),
            "120 ms after it was sent, but 60 after its last chunk"
        );
        tokio::time::sleep(Duration::from_millis(41)).await;
        link.expire();
        assert!(matches!(
            answer.try_recv().unwrap(),
            Err(ApiError::Timeout { ms: 100, .. })
        ));
        assert_eq!(link.pending(), 0);
        // A late answer answers nothing.
        assert!(!link.resolve(&json!({"status": "ok", "retcode": 0, "data": null, "echo": echo})));
    }

    #[tokio::test]
    async fn a_posted_call_fails_at_once_on_a_full_outbox_and_is_told_when_the_socket_closes() {
        let (tx, _rx) = mpsc::channel(1);
        let link = WsLink::new(tx, Duration::from_secs(60), Arc::default());
        let (first, first_answer) = told();
        link.post("send_msg", &json!({}), first);
        let (second, second_answer) = told();
        link.post("send_msg", &json!({}), second);
        assert!(matches!(second_answer.try_recv().unwrap(), Err(ApiError::Busy(_))));
        assert_eq!(link.pending(), 1);
        link.close();
        assert!(matches!(
            first_answer.try_recv().unwrap(),
            Err(ApiError::Disconnected { .. })
        ));
        let (third, third_answer) = told();
        link.post("send_msg", &json!({}), third);
        assert!(matches!(
            third_answer.try_recv().unwrap(),
            Err(ApiError::Disconnected { .. })
        ));
        // A `Done` dropped untold tells its owner the connection closed.
        let (dropped, dropped_answer) = told();
        drop(dropped);
        assert!(
            matches!(dropped_answer.try_recv().unwrap(), Err(ApiError::Disconnected { action }) if action == "send_msg")
        );
    }

    #[tokio::test]
    async fn a_frame_read_in_place_answers_its_call_as_its_tree_would() {
        use coral_model::wire::object::Fields;
        // A stream of two chunks and its end, every frame read from its text.
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        let texts = [
            chunk(&echo, 0).to_string(),
            chunk(&echo, 1).to_string(),
            json!({"status": "ok", "retcode": 0, "stream": "stream-action", "echo": echo.to_string(),
                "data": {"type": "response", "total_chunks": 2, "note": "\"quoted\" 你好"}})
            .to_string(),
        ];
        for text in &texts {
            assert!(link.resolve(&Fields::parse(text).unwrap()), "{text}");
        }
        let result = call.await.unwrap().unwrap();
        assert_eq!(
            result["chunks"],
            json!([chunk(&echo, 0)["data"], chunk(&echo, 1)["data"]])
        );
        assert_eq!(result["note"], "\"quoted\" 你好");
        // A failure read in place keeps its retcode and its texts (escapes included).
        let (link, _rx, call, echo) = sent_call(Duration::from_secs(60)).await;
        let text = json!({"status": "failed", "retcode": 1200, "echo": echo, "message": "a\tb", "wording": "超时"})
            .to_string();
        assert!(link.resolve(&Fields::parse(&text).unwrap()));
        match call.await.unwrap() {
            Err(ApiError::Failed { retcode, message, .. }) => {
                assert_eq!(retcode, 1200);
                assert_eq!(message, "a\tb (超时)");
            }
            other => panic!("{other:?}"),
        }
        // Not ours: nothing is answered.
        let text = json!({"status": "ok", "retcode": 0, "echo": "999", "data": 1}).to_string();
        assert!(!link.resolve(&Fields::parse(&text).unwrap()));
    }
}
