//! The other direction of the protocol: each [`Action`] as its OneBot action name and `params` object
//! ([`action_request`]), messages in OneBot's array form.

use coral_model::Action;
use coral_model::bindings::{Chat, GroupRequestKind};
use coral_model::wire::segment::segments_to_json;
use serde_json::{Value, json};

#[cfg(test)]
mod tests;

/// The OneBot action name and `params` object for an [`Action`] (OneBot V11 `api/public.md`; `delete_friend` as
/// go-cqhttp and NapCat name it).
///
/// Ids are sent as JSON numbers when they are canonical integers (`"100100"`, `"-2147483000"`) and as strings
/// otherwise; the forward-message id is always a string. Messages are always arrays ([`segments_to_json`]), so
/// `auto_escape` (which only affects string messages) is never sent. `send_msg` puts a `reply` segment first for
/// `reply_to`, then an `at` segment and a space for `at_sender`. `set_group_add_request` sends the kind as both
/// `sub_type` (the spec) and `type` (older implementations). A raw action's params pass through as they are
/// (`null` becomes `{}`).
pub fn action_request(action: &Action) -> (String, Value) {
    let params = match action {
        Action::SendPrivateMsg { user_id, message } => json!({
            "user_id": num(user_id),
            "message": segments_to_json(message),
        }),
        Action::SendGroupMsg { group_id, message } => json!({
            "group_id": num(group_id),
            "message": segments_to_json(message),
        }),
        Action::SendMsg {
            target,
            message,
            options,
        } => {
            let message_json = segments_to_json(&coral_model::send_segments(message, Some(options)));
            match target {
                Chat::Private(user_id) => json!({
                    "message_type": "private",
                    "user_id": num(user_id),
                    "message": message_json,
                }),
                Chat::Group(group_id) => json!({
                    "message_type": "group",
                    "group_id": num(group_id),
                    "message": message_json,
                }),
            }
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
            params => params.clone(),
        },
    };
    (action.name().to_string(), params)
}

/// An id as OneBot wants it: a JSON number when the string is a canonical integer, otherwise the string.
fn num(id: &str) -> Value {
    if let Ok(n) = id.parse::<i64>()
        && n.to_string() == id
    {
        return Value::from(n);
    }
    if let Ok(n) = id.parse::<u64>()
        && n.to_string() == id
    {
        return Value::from(n);
    }
    Value::String(id.to_string())
}
