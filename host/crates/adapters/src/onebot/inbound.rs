//! The handling of one incoming frame ([`Inbound`]): responses go to their call; events are decoded, noted for
//! what they say about their bot (heartbeats, online or not, duplicate deliveries) and dispatched.

use super::bot::{OneBotBot, Owner, Registry, dedup_key, fingerprint};
use super::link::{WsLink, failure_text, is_success, retcode_of, status_of};
use super::protocol;
use coral_model::bindings::{EventKind, coral::bot::types::MetaEvent};
use coral_model::wire::object::{Field, Fields, Object};
use coral_model::{AdapterCounters, EventSink};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// At most one warning per this period about failure frames that answer no call.
const UNSOLICITED_LOG_PERIOD: Duration = Duration::from_secs(1);

/// The name of an entry's transport in logs, `onebot[<index>] <transport>` (e.g. `onebot[0] ws`). Its index
/// follows the entry's position in the config: a reload that moves an unchanged entry renumbers it in place.
#[derive(Debug, Clone)]
pub struct Label {
    index: Arc<AtomicUsize>,
    transport: &'static str,
}

impl Label {
    /// The label of entry `index` (its position among the `[[onebot]]` entries) over `transport`.
    pub fn new(index: usize, transport: &'static str) -> Label {
        Label {
            index: Arc::new(AtomicUsize::new(index)),
            transport,
        }
    }

    /// The entry's position now.
    pub fn index(&self) -> usize {
        self.index.load(Ordering::Relaxed)
    }

    /// The entry moved to position `index` (every clone of this label says so from now on).
    pub fn set_index(&self, index: usize) {
        self.index.store(index, Ordering::Relaxed);
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "onebot[{}] {}", self.index(), self.transport)
    }
}

/// What a socket delivers to Coral.
pub struct Inbound {
    /// Where events go.
    pub dispatcher: Arc<dyn EventSink>,
    /// Where bots are registered.
    pub registry: Arc<Registry>,
    /// Counters.
    pub stats: Arc<AdapterCounters>,
    /// Which transport, for logs.
    pub label: Label,
    /// The entry, as the owner of the bots it serves in `registry`.
    pub owner: Owner,
    /// The send governor of this connection's bots, if configured.
    pub governor: Option<Arc<super::governor::Governor>>,
    /// A message event delivered again within this window of its first delivery is dropped (zero: never).
    pub dedup: Duration,
    /// Keeps the warnings about failure frames that answer no call in check.
    pub unsolicited_log: coral_model::log_limit::LogLimiter,
}

/// An event decoded from a frame.
pub struct Decoded {
    /// The event.
    pub event: coral_model::bindings::Event,
    /// The same message event was delivered shortly before: not for plugins again.
    pub duplicate: bool,
}

impl Inbound {
    /// What a transport of an entry with this dedup window delivers to `dispatcher`, bots in `registry` (noted
    /// as served by `owner`).
    pub fn new(
        dispatcher: Arc<dyn EventSink>,
        registry: Arc<Registry>,
        stats: Arc<AdapterCounters>,
        label: Label,
        owner: Owner,
        governor: Option<Arc<super::governor::Governor>>,
        dedup: Duration,
    ) -> Inbound {
        Inbound {
            dispatcher,
            registry,
            stats,
            label,
            owner,
            governor,
            dedup,
            unsolicited_log: coral_model::log_limit::LogLimiter::new(UNSOLICITED_LOG_PERIOD),
        }
    }

    /// The bot with this id, as one this entry serves.
    pub fn bot(&self, self_id: &str) -> Arc<OneBotBot> {
        self.registry.bot_for(self_id, self.owner)
    }

    /// Handle one text frame: a response (`status` or `retcode`, no `post_type`) goes to `link`; an event is
    /// decoded and dispatched. A response that answers no call (no echo, an empty one, or one nobody waits for) is
    /// logged, a failure at WARN. Anything else is counted and logged; the connection stays up. Returns the
    /// event's `self_id`.
    ///
    /// The frame's fields are read in place ([`Fields`]): an event is decoded without a tree of its JSON, and of a
    /// response only its `data` is parsed, for its caller.
    pub fn frame(&self, text: &str, link: Option<&WsLink>) -> Option<String> {
        let Ok(fields) = Fields::parse(text) else {
            self.malformed(text, "not a JSON object");
            return None;
        };
        if fields.has("post_type") {
            return self.event(&fields);
        }
        if fields.has("status") || fields.has("retcode") {
            let answered = match link {
                Some(link) => link.resolve(&fields),
                None => {
                    self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                    false
                }
            };
            if !answered {
                self.unsolicited(&fields);
            }
            return None;
        }
        self.malformed(text, "neither an event nor a response");
        None
    }

    /// A response that answers no call: a failure (e.g. NapCat's retcode 1403 after a wrong token, with a null
    /// echo) is worth a warning; a late or foreign success is not.
    fn unsolicited(&self, response: &impl Object) {
        let echo = match response.field("echo") {
            Field::Missing => "none".to_string(),
            echo => echo.to_value().to_string(),
        };
        let echo: String = echo.chars().take(64).collect();
        if is_success(response) {
            tracing::debug!(
                transport = %self.label,
                "response with an unknown echo ({}) ignored",
                coral_model::text::escape(&echo)
            );
            return;
        }
        let Some(held_back) = self.unsolicited_log.admit() else {
            return;
        };
        let text: String = failure_text(response).chars().take(300).collect();
        let held_back = if held_back > 0 {
            format!(" ({held_back} more held back)")
        } else {
            String::new()
        };
        tracing::warn!(
            transport = %self.label,
            "the implementation sent a failure that answers no call (echo {}): status {}, retcode {}: {}{held_back}",
            coral_model::text::escape(&echo),
            coral_model::text::escape(&status_of(response)),
            retcode_of(response),
            coral_model::text::escape(&text),
        );
    }

    /// Decode and dispatch an event (unless it is a duplicate delivery); returns its `self_id`.
    pub fn event(&self, value: &impl Object) -> Option<String> {
        let decoded = self.decode(value)?;
        let self_id = decoded.event.self_id.clone();
        if !decoded.duplicate {
            self.dispatcher.dispatch(decoded.event);
        }
        Some(self_id)
    }

    /// Decode an event, and take note of what it says about its bot: heartbeats, whether the account is online,
    /// and whether the same message was delivered shortly before. A malformed event is counted and logged.
    pub fn decode(&self, value: &impl Object) -> Option<Decoded> {
        let event = match protocol::decode_object(value) {
            Ok(event) => event,
            Err(e) => {
                self.malformed(&value.to_value().to_string(), &e.to_string());
                return None;
            }
        };
        let bot = self.bot(&event.self_id);
        // A heartbeat without an interval says nothing about when the next one is due.
        if let EventKind::Meta(MetaEvent::Heartbeat(hb)) = &event.kind
            && hb.interval_ms > 0
        {
            bot.heartbeat(Duration::from_millis(hb.interval_ms));
        }
        match liveness(value) {
            Liveness::Offline(why) => bot.report(false, &why),
            Liveness::Online(why) => bot.report(true, why),
        }
        // The key of a message delivered again within the window (then it is not for plugins again).
        let repeated = match &event.kind {
            EventKind::Message(message) => dedup_key(value)
                .is_some_and(|key| bot.repeated(key, fingerprint(message), self.dedup))
                .then_some(message),
            _ => None,
        };
        if let Some(message) = repeated {
            let n = self.stats.duplicates.fetch_add(1, Ordering::Relaxed) + 1;
            bot.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                transport = %self.label,
                self_id = %coral_model::text::escape(&event.self_id),
                duplicates_total = n,
                "dropped a message event delivered again within {} s: message {}",
                self.dedup.as_secs(),
                coral_model::text::escape(&message.message_id),
            );
        }
        let duplicate = repeated.is_some();
        Some(Decoded { event, duplicate })
    }

    fn malformed(&self, text: &str, why: &str) {
        let n = self.stats.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut sample: String = text.chars().take(120).collect();
        sample = coral_model::text::sanitize(&sample);
        tracing::warn!(transport = %self.label, malformed_total = n, "ignored a frame ({why}): {sample}");
    }
}

/// What an event says about whether its bot's account is online.
#[derive(Debug, PartialEq, Eq)]
enum Liveness {
    /// A heartbeat with `status.online == false`, or a `bot_offline` notice (with the reason, escaped).
    Offline(String),
    /// Anything else: the account is there.
    Online(&'static str),
}

fn liveness(event: &impl Object) -> Liveness {
    let field = |k: &str| event.field(k).into_str();
    let offline = || match event.field("status") {
        Field::Object(status) => matches!(status.field("online"), Field::Bool(false)),
        _ => false,
    };
    match (
        field("post_type").as_ref(),
        field("meta_event_type").as_ref(),
        field("notice_type").as_ref(),
    ) {
        ("meta_event", "heartbeat", _) => {
            if offline() {
                Liveness::Offline("a heartbeat says status.online = false".into())
            } else {
                Liveness::Online("a heartbeat")
            }
        }
        ("notice", _, "bot_offline") => {
            let reason: String = [field("tag"), field("message")]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(": ")
                .chars()
                .take(200)
                .collect();
            Liveness::Offline(format!("a bot_offline notice ({})", coral_model::text::escape(&reason)))
        }
        _ => Liveness::Online("an event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    #[test]
    fn liveness_follows_heartbeats_and_bot_offline_notices() {
        let beat = |status: Value| {
            json!({"post_type": "meta_event", "meta_event_type": "heartbeat",
            "self_id": 10001, "interval": 5000, "status": status})
        };
        assert!(matches!(
            liveness(&beat(json!({"online": false, "good": true}))),
            Liveness::Offline(_)
        ));
        assert_eq!(
            liveness(&beat(json!({"online": true, "good": true}))),
            Liveness::Online("a heartbeat")
        );
        assert_eq!(liveness(&beat(Value::Null)), Liveness::Online("a heartbeat"));
        let offline = json!({"post_type": "notice", "notice_type": "bot_offline", "self_id": 10001,
            "user_id": 10001, "tag": "被下线", "message": "账号在别处登录\n[fake] line"});
        match liveness(&offline) {
            Liveness::Offline(why) => {
                assert!(why.contains("被下线: 账号在别处登录\\n[fake] line"), "{why}");
                assert!(!why.contains('\n'), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let message = json!({"post_type": "message", "message_type": "private", "self_id": 10001});
        assert_eq!(liveness(&message), Liveness::Online("an event"));
    }
}
