//! The other direction of the protocol: each [`Action`] as its OneBot action name and `params` object
//! ([`action_request`]), messages in OneBot's array form.

use coral_model::Action;
use coral_model::bindings::{Chat, GroupRequestKind, Segment};
use coral_model::wire::segment::WireMessage;
use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use std::borrow::Cow;

#[cfg(test)]
mod tests;

/// The OneBot action name and `params` object for an [`Action`] (OneBot V11 `api/public.md`; `delete_friend` as
/// go-cqhttp and NapCat name it).
///
/// Ids are sent as JSON numbers when they are canonical integers (`"100100"`, `"-2147483000"`) and as strings
/// otherwise; the forward-message id is always a string. Messages are always arrays ([`WireMessage`]), so
/// `auto_escape` (which only affects string messages) is never sent. `send_msg` puts a `reply` segment first for
/// `reply_to`, then an `at` segment and a space for `at_sender`. `set_group_add_request` sends the kind as both
/// `sub_type` (the spec) and `type` (older implementations). A raw action's params pass through as they are
/// (`null` becomes `{}`).
///
/// The messages are written straight into the frame when it is serialised ([`Params::Send`]), without a tree.
pub fn action_request(action: &Action) -> (&str, Params<'_>) {
    fn send<'a>(
        message_type: Option<&'static str>,
        user_id: Option<&'a str>,
        group_id: Option<&'a str>,
        message: Cow<'a, [Segment]>,
    ) -> Params<'a> {
        Params::Send(SendParams {
            message_type,
            user_id: user_id.map(Id),
            group_id: group_id.map(Id),
            message,
        })
    }
    let params = match action {
        Action::SendPrivateMsg { user_id, message } => {
            return (action.name(), send(None, Some(user_id), None, Cow::Borrowed(message)));
        }
        Action::SendGroupMsg { group_id, message } => {
            return (action.name(), send(None, None, Some(group_id), Cow::Borrowed(message)));
        }
        Action::SendMsg {
            target,
            message,
            options,
        } => {
            let message = coral_model::send_segments(message, Some(options));
            let params = match target {
                Chat::Private(user_id) => send(Some("private"), Some(user_id), None, message),
                Chat::Group(group_id) => send(Some("group"), None, Some(group_id), message),
            };
            return (action.name(), params);
        }
        Action::DeleteMsg { message_id } => json!({ "message_id": num(message_id) }),
        Action::GetMsg { message_id } => json!({ "message_id": num(message_id) }),
        Action::GetForwardMsg { id } => json!({ "id": id }),
        Action::SendLike { user_id, times } => json!({ "user_id": num(user_id), "times": times }),
        Action::SetGroupKick {
            group_id,
            user_id,
            reject_add_request,
        } => json!({
            "group_id": num(group_id),
            "user_id": num(user_id),
            "reject_add_request": reject_add_request,
        }),
        Action::SetGroupBan {
            group_id,
            user_id,
            duration_secs,
        } => json!({
            "group_id": num(group_id),
            "user_id": num(user_id),
            "duration": duration_secs,
        }),
        Action::SetGroupAnonymousBan {
            group_id,
            flag,
            duration_secs,
        } => json!({
            "group_id": num(group_id),
            // The spec names it `anonymous_flag` and accepts `flag`; implementations read one or the other.
            "anonymous_flag": flag,
            "flag": flag,
            "duration": duration_secs,
        }),
        Action::SetGroupWholeBan { group_id, enable } => {
            json!({ "group_id": num(group_id), "enable": enable })
        }
        Action::SetGroupAdmin {
            group_id,
            user_id,
            enable,
        } => json!({ "group_id": num(group_id), "user_id": num(user_id), "enable": enable }),
        Action::SetGroupAnonymous { group_id, enable } => {
            json!({ "group_id": num(group_id), "enable": enable })
        }
        Action::SetGroupCard {
            group_id,
            user_id,
            card,
        } => json!({ "group_id": num(group_id), "user_id": num(user_id), "card": card }),
        Action::SetGroupName { group_id, name } => {
            json!({ "group_id": num(group_id), "group_name": name })
        }
        Action::SetGroupLeave { group_id, is_dismiss } => {
            json!({ "group_id": num(group_id), "is_dismiss": is_dismiss })
        }
        Action::SetGroupSpecialTitle {
            group_id,
            user_id,
            title,
            duration_secs,
        } => json!({
            "group_id": num(group_id),
            "user_id": num(user_id),
            "special_title": title,
            "duration": duration_secs,
        }),
        Action::SetFriendAddRequest { flag, approve, remark } => {
            json!({ "flag": flag, "approve": approve, "remark": remark })
        }
        Action::SetGroupAddRequest {
            flag,
            kind,
            approve,
            reason,
        } => {
            let kind = match kind {
                GroupRequestKind::Add => "add",
                GroupRequestKind::Invite => "invite",
            };
            json!({ "flag": flag, "sub_type": kind, "type": kind, "approve": approve, "reason": reason })
        }
        Action::DeleteFriend { user_id } => json!({ "user_id": num(user_id) }),
        Action::GetStrangerInfo { user_id, no_cache } => {
            json!({ "user_id": num(user_id), "no_cache": no_cache })
        }
        Action::GetGroupInfo { group_id, no_cache } => {
            json!({ "group_id": num(group_id), "no_cache": no_cache })
        }
        Action::GetGroupMemberInfo {
            group_id,
            user_id,
            no_cache,
        } => json!({ "group_id": num(group_id), "user_id": num(user_id), "no_cache": no_cache }),
        Action::GetGroupMemberList { group_id } => json!({ "group_id": num(group_id) }),
        Action::GetGroupHonorInfo { group_id, honor_type } => json!({ "group_id": num(group_id), "type": honor_type }),
        Action::GetCookies { domain } | Action::GetCredentials { domain } => {
            json!({ "domain": domain })
        }
        Action::GetRecord { file, out_format } => json!({ "file": file, "out_format": out_format }),
        Action::GetImage { file } => json!({ "file": file }),
        Action::SetRestart { delay_ms } => json!({ "delay": delay_ms }),
        Action::GetLoginInfo
        | Action::GetFriendList
        | Action::GetGroupList
        | Action::GetCsrfToken
        | Action::CanSendImage
        | Action::CanSendRecord
        | Action::GetStatus
        | Action::GetVersionInfo
        | Action::CleanCache => json!({}),
        Action::Raw { params, .. } => match params {
            Value::Null => json!({}),
            params => return (action.name(), Params::Borrowed(params)),
        },
    };
    (action.name(), Params::Tree(params))
}

/// A call's `params`, serialised when its frame is written.
#[derive(Debug)]
pub enum Params<'a> {
    /// Built as a tree.
    Tree(Value),
    /// A raw call's own params.
    Borrowed(&'a Value),
    /// A message send, written from its segments.
    Send(SendParams<'a>),
}

impl Params<'_> {
    /// The params as a tree (tests, logs).
    pub fn to_value(&self) -> Value {
        // Only string keys: serialising into a tree cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Params::Tree(params) => params.serialize(serializer),
            Params::Borrowed(params) => params.serialize(serializer),
            Params::Send(params) => params.serialize(serializer),
        }
    }
}

/// `send_msg`, `send_private_msg` and `send_group_msg` params: `message_type` (for `send_msg`), the target, the
/// message.
#[derive(Debug, Serialize)]
pub struct SendParams<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<Id<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<Id<'a>>,
    #[serde(serialize_with = "wire_message")]
    message: Cow<'a, [Segment]>,
}

fn wire_message<S: Serializer>(message: &[Segment], serializer: S) -> Result<S::Ok, S::Error> {
    WireMessage(message).serialize(serializer)
}

/// An id written as [`num`] says, without a tree.
#[derive(Debug)]
struct Id<'a>(&'a str);

impl Serialize for Id<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let id = self.0;
        // Canonical: as the number prints (no `+`, no leading zeros, no `-0`).
        let digits = id.strip_prefix('-').unwrap_or(id);
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (!digits.starts_with('0') || (digits == "0" && digits.len() == id.len()));
        if canonical {
            if let Ok(n) = id.parse::<i64>() {
                return serializer.serialize_i64(n);
            }
            if let Ok(n) = id.parse::<u64>() {
                return serializer.serialize_u64(n);
            }
        }
        serializer.serialize_str(id)
    }
}

/// An id as OneBot wants it: a JSON number when the string is a canonical integer, otherwise the string.
fn num(id: &str) -> Value {
    serde_json::to_value(Id(id)).unwrap_or_else(|_| Value::String(id.to_string()))
}
