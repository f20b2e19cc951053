//! HTTP POST quick operations: the actions plugins take about an event whose POST is still open, folded into that
//! POST's response ([`QuickSlot`]).

use coral_model::Action;
use serde_json::{Value, json};

/// An event POSTed over HTTP whose response is still open, and the quick operation built for it so far.
/// Quick operations (OneBot V11): `reply` (+ `at_sender`) for messages; `delete`, `kick`, `ban` (+ `ban_duration`)
/// for group messages; `approve` (+ `remark` / `reason`) for requests. Each is the same [`Action`] a plugin calls,
/// so it passed the same capability check.
#[derive(Debug)]
pub(super) struct QuickSlot {
    pub(super) id: u64,
    pub(super) post_type: String,
    /// `message_type` or `request_type`.
    pub(super) detail_type: String,
    pub(super) group_id: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) message_id: Option<String>,
    pub(super) flag: Option<String>,
    pub(super) op: serde_json::Map<String, Value>,
}

impl QuickSlot {
    fn is_message(&self) -> bool {
        self.post_type == "message"
    }

    fn in_group(&self, group: &str) -> bool {
        self.is_message() && self.detail_type == "group" && self.group_id.as_deref() == Some(group)
    }

    fn with_user(&self, user: &str) -> bool {
        self.is_message() && self.detail_type == "private" && self.user_id.as_deref() == Some(user)
    }

    pub(super) fn accepts(&self, action: &Action) -> bool {
        use coral_model::bindings::Chat;
        let fresh = |k: &str| !self.op.contains_key(k);
        match action {
            Action::SendMsg {
                target: Chat::Group(g), ..
            }
            | Action::SendGroupMsg { group_id: g, .. } => fresh("reply") && self.in_group(g),
            Action::SendMsg {
                target: Chat::Private(u),
                ..
            }
            | Action::SendPrivateMsg { user_id: u, .. } => fresh("reply") && self.with_user(u),
            Action::DeleteMsg { message_id } => {
                fresh("delete") && self.detail_type == "group" && self.message_id.as_deref() == Some(message_id)
            }
            Action::SetGroupKick {
                group_id,
                user_id,
                reject_add_request: false,
            } => fresh("kick") && self.in_group(group_id) && self.user_id.as_deref() == Some(user_id),
            Action::SetGroupBan {
                group_id,
                user_id,
                duration_secs,
            } => {
                fresh("ban")
                    && *duration_secs > 0
                    && self.in_group(group_id)
                    && self.user_id.as_deref() == Some(user_id)
            }
            Action::SetFriendAddRequest { flag, .. } => {
                fresh("approve") && self.detail_type == "friend" && self.flag.as_deref() == Some(flag)
            }
            Action::SetGroupAddRequest { flag, .. } => {
                fresh("approve")
                    && self.detail_type == "group"
                    && self.post_type == "request"
                    && self.flag.as_deref() == Some(flag)
            }
            _ => false,
        }
    }

    pub(super) fn apply(&mut self, action: &Action) {
        use coral_model::bindings::Segment;
        let reply = |op: &mut serde_json::Map<String, Value>,
                     message: &[Segment],
                     reply_to: Option<&String>,
                     at: Option<&String>,
                     sender: Option<&String>| {
            let mut segments = Vec::new();
            if let Some(id) = reply_to {
                segments.push(Segment::Reply(id.clone()));
            }
            // `at_sender` can only mention the event's sender; anyone else is mentioned with a segment.
            let at_sender = at.is_some() && at == sender;
            if let (Some(user), false) = (at, at_sender) {
                segments.push(Segment::At(user.clone()));
                segments.push(Segment::Text(" ".into()));
            }
            segments.extend_from_slice(message);
            op.insert("reply".into(), coral_model::wire::segment::segments_to_json(&segments));
            op.insert("auto_escape".into(), Value::Bool(false));
            op.insert("at_sender".into(), Value::Bool(at_sender));
        };
        match action {
            Action::SendMsg { message, options, .. } => reply(
                &mut self.op,
                message,
                options.reply_to.as_ref(),
                options.at_sender.as_ref(),
                self.user_id.as_ref(),
            ),
            Action::SendGroupMsg { message, .. } | Action::SendPrivateMsg { message, .. } => {
                reply(&mut self.op, message, None, None, None)
            }
            Action::DeleteMsg { .. } => {
                self.op.insert("delete".into(), Value::Bool(true));
            }
            Action::SetGroupKick { .. } => {
                self.op.insert("kick".into(), Value::Bool(true));
            }
            Action::SetGroupBan { duration_secs, .. } => {
                self.op.insert("ban".into(), Value::Bool(true));
                self.op.insert("ban_duration".into(), json!(duration_secs));
            }
            Action::SetFriendAddRequest { approve, remark, .. } => {
                self.op.insert("approve".into(), Value::Bool(*approve));
                self.op.insert("remark".into(), Value::String(remark.clone()));
            }
            Action::SetGroupAddRequest { approve, reason, .. } => {
                self.op.insert("approve".into(), Value::Bool(*approve));
                self.op.insert("reason".into(), Value::String(reason.clone()));
            }
            _ => {}
        }
    }
}
