//! What plugins ask platforms to do: [`Action`] (one variant per OneBot V11 API, plus `delete_friend` and raw
//! calls) and the segments a send puts on the wire ([`send_segments`]).

use crate::bindings::{Chat, GroupRequestKind, Segment, SendOptions};
use serde_json::Value;

/// Something a plugin asks a platform to do: one variant per OneBot V11 API (plus `delete_friend` and raw calls).
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum Action {
    SendPrivateMsg {
        user_id: String,
        message: Vec<Segment>,
    },
    SendGroupMsg {
        group_id: String,
        message: Vec<Segment>,
    },
    SendMsg {
        target: Chat,
        message: Vec<Segment>,
        options: SendOptions,
    },
    DeleteMsg {
        message_id: String,
    },
    GetMsg {
        message_id: String,
    },
    GetForwardMsg {
        id: String,
    },
    SendLike {
        user_id: String,
        times: u32,
    },
    SetGroupKick {
        group_id: String,
        user_id: String,
        reject_add_request: bool,
    },
    SetGroupBan {
        group_id: String,
        user_id: String,
        duration_secs: u32,
    },
    SetGroupAnonymousBan {
        group_id: String,
        flag: String,
        duration_secs: u32,
    },
    SetGroupWholeBan {
        group_id: String,
        enable: bool,
    },
    SetGroupAdmin {
        group_id: String,
        user_id: String,
        enable: bool,
    },
    SetGroupAnonymous {
        group_id: String,
        enable: bool,
    },
    SetGroupCard {
        group_id: String,
        user_id: String,
        card: String,
    },
    SetGroupName {
        group_id: String,
        name: String,
    },
    SetGroupLeave {
        group_id: String,
        is_dismiss: bool,
    },
    SetGroupSpecialTitle {
        group_id: String,
        user_id: String,
        title: String,
        duration_secs: i64,
    },
    SetFriendAddRequest {
        flag: String,
        approve: bool,
        remark: String,
    },
    SetGroupAddRequest {
        flag: String,
        kind: GroupRequestKind,
        approve: bool,
        reason: String,
    },
    DeleteFriend {
        user_id: String,
    },
    GetLoginInfo,
    GetStrangerInfo {
        user_id: String,
        no_cache: bool,
    },
    GetFriendList,
    GetGroupInfo {
        group_id: String,
        no_cache: bool,
    },
    GetGroupList,
    GetGroupMemberInfo {
        group_id: String,
        user_id: String,
        no_cache: bool,
    },
    GetGroupMemberList {
        group_id: String,
    },
    GetGroupHonorInfo {
        group_id: String,
        honor_type: String,
    },
    GetCookies {
        domain: String,
    },
    GetCsrfToken,
    GetCredentials {
        domain: String,
    },
    GetRecord {
        file: String,
        out_format: String,
    },
    GetImage {
        file: String,
    },
    CanSendImage,
    CanSendRecord,
    GetStatus,
    GetVersionInfo,
    SetRestart {
        delay_ms: u32,
    },
    CleanCache,
    /// Any action by name, with a JSON object of parameters (`call-api`).
    Raw {
        action: String,
        params: Value,
    },
}

impl Action {
    /// The OneBot V11 action name.
    pub fn name(&self) -> &str {
        match self {
            Action::SendPrivateMsg { .. } => "send_private_msg",
            Action::SendGroupMsg { .. } => "send_group_msg",
            Action::SendMsg { .. } => "send_msg",
            Action::DeleteMsg { .. } => "delete_msg",
            Action::GetMsg { .. } => "get_msg",
            Action::GetForwardMsg { .. } => "get_forward_msg",
            Action::SendLike { .. } => "send_like",
            Action::SetGroupKick { .. } => "set_group_kick",
            Action::SetGroupBan { .. } => "set_group_ban",
            Action::SetGroupAnonymousBan { .. } => "set_group_anonymous_ban",
            Action::SetGroupWholeBan { .. } => "set_group_whole_ban",
            Action::SetGroupAdmin { .. } => "set_group_admin",
            Action::SetGroupAnonymous { .. } => "set_group_anonymous",
            Action::SetGroupCard { .. } => "set_group_card",
            Action::SetGroupName { .. } => "set_group_name",
            Action::SetGroupLeave { .. } => "set_group_leave",
            Action::SetGroupSpecialTitle { .. } => "set_group_special_title",
            Action::SetFriendAddRequest { .. } => "set_friend_add_request",
            Action::SetGroupAddRequest { .. } => "set_group_add_request",
            Action::DeleteFriend { .. } => "delete_friend",
            Action::GetLoginInfo => "get_login_info",
            Action::GetStrangerInfo { .. } => "get_stranger_info",
            Action::GetFriendList => "get_friend_list",
            Action::GetGroupInfo { .. } => "get_group_info",
            Action::GetGroupList => "get_group_list",
            Action::GetGroupMemberInfo { .. } => "get_group_member_info",
            Action::GetGroupMemberList { .. } => "get_group_member_list",
            Action::GetGroupHonorInfo { .. } => "get_group_honor_info",
            Action::GetCookies { .. } => "get_cookies",
            Action::GetCsrfToken => "get_csrf_token",
            Action::GetCredentials { .. } => "get_credentials",
            Action::GetRecord { .. } => "get_record",
            Action::GetImage { .. } => "get_image",
            Action::CanSendImage => "can_send_image",
            Action::CanSendRecord => "can_send_record",
            Action::GetStatus => "get_status",
            Action::GetVersionInfo => "get_version_info",
            Action::SetRestart { .. } => "set_restart",
            Action::CleanCache => "clean_cache",
            Action::Raw { action, .. } => action,
        }
    }

    /// The bytes of its string fields (ids, names, cards, titles …), which all reach the platform as written. A
    /// message or a raw call's parameters are not counted here: the policy's size check measures those.
    pub fn text_bytes(&self) -> usize {
        use Action as A;
        match self {
            A::SendPrivateMsg { user_id: a, .. }
            | A::SendGroupMsg { group_id: a, .. }
            | A::DeleteMsg { message_id: a }
            | A::GetMsg { message_id: a }
            | A::GetForwardMsg { id: a }
            | A::SendLike { user_id: a, .. }
            | A::SetGroupWholeBan { group_id: a, .. }
            | A::SetGroupAnonymous { group_id: a, .. }
            | A::SetGroupLeave { group_id: a, .. }
            | A::DeleteFriend { user_id: a }
            | A::GetStrangerInfo { user_id: a, .. }
            | A::GetGroupInfo { group_id: a, .. }
            | A::GetGroupMemberList { group_id: a }
            | A::GetCookies { domain: a }
            | A::GetCredentials { domain: a }
            | A::GetImage { file: a }
            | A::Raw { action: a, .. } => a.len(),
            A::SetGroupKick {
                group_id: a,
                user_id: b,
                ..
            }
            | A::SetGroupBan {
                group_id: a,
                user_id: b,
                ..
            }
            | A::SetGroupAdmin {
                group_id: a,
                user_id: b,
                ..
            }
            | A::SetGroupName { group_id: a, name: b }
            | A::SetFriendAddRequest { flag: a, remark: b, .. }
            | A::SetGroupAddRequest { flag: a, reason: b, .. }
            | A::GetGroupMemberInfo {
                group_id: a,
                user_id: b,
                ..
            }
            | A::GetGroupHonorInfo {
                group_id: a,
                honor_type: b,
            }
            | A::GetRecord { file: a, out_format: b } => a.len() + b.len(),
            A::SetGroupCard {
                group_id: a,
                user_id: b,
                card: c,
            }
            | A::SetGroupSpecialTitle {
                group_id: a,
                user_id: b,
                title: c,
                ..
            } => a.len() + b.len() + c.len(),
            // The flag goes out twice (`anonymous_flag` and `flag`, for older implementations).
            A::SetGroupAnonymousBan {
                group_id: a, flag: b, ..
            } => a.len() + 2 * b.len(),
            A::SendMsg { target, options, .. } => {
                let (Chat::Private(id) | Chat::Group(id)) = target;
                id.len()
                    + options.at_sender.as_ref().map_or(0, String::len)
                    + options.reply_to.as_ref().map_or(0, String::len)
            }
            A::GetLoginInfo
            | A::GetFriendList
            | A::GetGroupList
            | A::GetCsrfToken
            | A::CanSendImage
            | A::CanSendRecord
            | A::GetStatus
            | A::GetVersionInfo
            | A::SetRestart { .. }
            | A::CleanCache => 0,
        }
    }
}

/// The segments a send puts on the wire, in order: the quote (`reply_to`), the mention (`at_sender`, followed by
/// a space) and the message. Adapters send exactly this and the policy judges exactly this.
pub fn send_segments<'a>(message: &'a [Segment], options: Option<&SendOptions>) -> std::borrow::Cow<'a, [Segment]> {
    let Some(options) = options.filter(|o| o.reply_to.is_some() || o.at_sender.is_some()) else {
        return std::borrow::Cow::Borrowed(message);
    };
    let mut segments = Vec::with_capacity(message.len() + 3);
    if let Some(id) = &options.reply_to {
        segments.push(Segment::Reply(id.clone()));
    }
    if let Some(user) = &options.at_sender {
        segments.push(Segment::At(user.clone()));
        segments.push(Segment::Text(" ".into()));
    }
    segments.extend_from_slice(message);
    std::borrow::Cow::Owned(segments)
}
