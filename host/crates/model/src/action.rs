//! What plugins ask platforms to do: [`Action`] (one variant per OneBot V11 API, plus `delete_friend` and raw
//! calls) and the segments a send puts on the wire ([`send_segments`]).

use crate::bindings::{Chat, GroupRequestKind, Segment, SendOptions};
use serde_json::Value;

/// Declares [`ActionKind`] from one table: variant and OneBot name, once.
macro_rules! action_kinds {
    ($($variant:ident = $name:literal,)*) => {
        /// The standard actions: OneBot V11's 38 APIs and `delete_friend`. Their names are written once, here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)]
        pub enum ActionKind {
            $($variant,)*
        }

        impl ActionKind {
            /// Every standard action.
            pub const ALL: &[ActionKind] = &[$(ActionKind::$variant,)*];

            /// Its OneBot V11 name.
            pub fn name(self) -> &'static str {
                match self {
                    $(ActionKind::$variant => $name,)*
                }
            }
        }
    };
}

action_kinds! {
    SendPrivateMsg = "send_private_msg",
    SendGroupMsg = "send_group_msg",
    SendMsg = "send_msg",
    DeleteMsg = "delete_msg",
    GetMsg = "get_msg",
    GetForwardMsg = "get_forward_msg",
    SendLike = "send_like",
    SetGroupKick = "set_group_kick",
    SetGroupBan = "set_group_ban",
    SetGroupAnonymousBan = "set_group_anonymous_ban",
    SetGroupWholeBan = "set_group_whole_ban",
    SetGroupAdmin = "set_group_admin",
    SetGroupAnonymous = "set_group_anonymous",
    SetGroupCard = "set_group_card",
    SetGroupName = "set_group_name",
    SetGroupLeave = "set_group_leave",
    SetGroupSpecialTitle = "set_group_special_title",
    SetFriendAddRequest = "set_friend_add_request",
    SetGroupAddRequest = "set_group_add_request",
    DeleteFriend = "delete_friend",
    GetLoginInfo = "get_login_info",
    GetStrangerInfo = "get_stranger_info",
    GetFriendList = "get_friend_list",
    GetGroupInfo = "get_group_info",
    GetGroupList = "get_group_list",
    GetGroupMemberInfo = "get_group_member_info",
    GetGroupMemberList = "get_group_member_list",
    GetGroupHonorInfo = "get_group_honor_info",
    GetCookies = "get_cookies",
    GetCsrfToken = "get_csrf_token",
    GetCredentials = "get_credentials",
    GetRecord = "get_record",
    GetImage = "get_image",
    CanSendImage = "can_send_image",
    CanSendRecord = "can_send_record",
    GetStatus = "get_status",
    GetVersionInfo = "get_version_info",
    SetRestart = "set_restart",
    CleanCache = "clean_cache",
}

impl ActionKind {
    /// The standard action with this exact name (normalise a raw name first: [`crate::wire::name::normalise_name`]).
    pub fn from_name(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.iter().copied().find(|kind| kind.name() == name)
    }
}

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
    /// Which standard action this is (`None`: a raw call, named by the plugin).
    pub fn kind(&self) -> Option<ActionKind> {
        use ActionKind as K;
        Some(match self {
            Action::SendPrivateMsg { .. } => K::SendPrivateMsg,
            Action::SendGroupMsg { .. } => K::SendGroupMsg,
            Action::SendMsg { .. } => K::SendMsg,
            Action::DeleteMsg { .. } => K::DeleteMsg,
            Action::GetMsg { .. } => K::GetMsg,
            Action::GetForwardMsg { .. } => K::GetForwardMsg,
            Action::SendLike { .. } => K::SendLike,
            Action::SetGroupKick { .. } => K::SetGroupKick,
            Action::SetGroupBan { .. } => K::SetGroupBan,
            Action::SetGroupAnonymousBan { .. } => K::SetGroupAnonymousBan,
            Action::SetGroupWholeBan { .. } => K::SetGroupWholeBan,
            Action::SetGroupAdmin { .. } => K::SetGroupAdmin,
            Action::SetGroupAnonymous { .. } => K::SetGroupAnonymous,
            Action::SetGroupCard { .. } => K::SetGroupCard,
            Action::SetGroupName { .. } => K::SetGroupName,
            Action::SetGroupLeave { .. } => K::SetGroupLeave,
            Action::SetGroupSpecialTitle { .. } => K::SetGroupSpecialTitle,
            Action::SetFriendAddRequest { .. } => K::SetFriendAddRequest,
            Action::SetGroupAddRequest { .. } => K::SetGroupAddRequest,
            Action::DeleteFriend { .. } => K::DeleteFriend,
            Action::GetLoginInfo => K::GetLoginInfo,
            Action::GetStrangerInfo { .. } => K::GetStrangerInfo,
            Action::GetFriendList => K::GetFriendList,
            Action::GetGroupInfo { .. } => K::GetGroupInfo,
            Action::GetGroupList => K::GetGroupList,
            Action::GetGroupMemberInfo { .. } => K::GetGroupMemberInfo,
            Action::GetGroupMemberList { .. } => K::GetGroupMemberList,
            Action::GetGroupHonorInfo { .. } => K::GetGroupHonorInfo,
            Action::GetCookies { .. } => K::GetCookies,
            Action::GetCsrfToken => K::GetCsrfToken,
            Action::GetCredentials { .. } => K::GetCredentials,
            Action::GetRecord { .. } => K::GetRecord,
            Action::GetImage { .. } => K::GetImage,
            Action::CanSendImage => K::CanSendImage,
            Action::CanSendRecord => K::CanSendRecord,
            Action::GetStatus => K::GetStatus,
            Action::GetVersionInfo => K::GetVersionInfo,
            Action::SetRestart { .. } => K::SetRestart,
            Action::CleanCache => K::CleanCache,
            Action::Raw { .. } => return None,
        })
    }

    /// The OneBot V11 action name (a raw call's as the plugin wrote it).
    pub fn name(&self) -> &str {
        match (self.kind(), self) {
            (Some(kind), _) => kind.name(),
            (None, Action::Raw { action, .. }) => action,
            (None, _) => unreachable!("only a raw call has no kind"),
        }
    }

    /// The bytes of its string fields (ids, names, cards, titles; a send's target and option ids), which all reach
    /// the platform as written. A message or a raw call's parameters are not counted here: the policy's size check
    /// measures those and adds these.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_distinct_name_that_finds_it_again() {
        assert_eq!(ActionKind::ALL.len(), 39, "OneBot V11's 38 and delete_friend");
        let names: std::collections::BTreeSet<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), ActionKind::ALL.len());
        for kind in ActionKind::ALL {
            assert_eq!(ActionKind::from_name(kind.name()), Some(*kind));
        }
        assert_eq!(ActionKind::from_name("send_msg_async"), None, "names are exact");
        let raw = Action::Raw {
            action: "get_group_notice".into(),
            params: Value::Null,
        };
        assert_eq!((raw.kind(), raw.name()), (None, "get_group_notice"));
        let like = Action::SendLike {
            user_id: "1".into(),
            times: 1,
        };
        assert_eq!((like.kind(), like.name()), (Some(ActionKind::SendLike), "send_like"));
    }
}
