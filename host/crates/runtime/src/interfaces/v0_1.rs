//! `coral:bot@0.1.0` for plugins built before 0.2.0: every 0.1.0 import is the 0.2.0 one (same checks, grants,
//! limits and audit), reached through conversions of its arguments and results; events and errors are converted
//! down (0.2.0's extra fields dropped, `too-large` read as `invalid-argument` with retcode 1414).
//!
//! The conversions are written once, as [`Conv`] impls generated from field lists, so a field added in 0.2.0 that
//! a 0.1.0 record lacks fails to compile here until someone decides what 0.1.0 plugins see.

use crate::state::PluginState;
use coral_model::bindings::coral::bot as new;
use coral_model::bindings::v0_1::coral::bot as old;

/// A value of one contract version as the other's.
pub trait Conv<T> {
    /// Convert.
    fn conv(self) -> T;
}

macro_rules! same {
    ($($t:ty),*) => { $(impl Conv<$t> for $t { fn conv(self) -> $t { self } })* };
}
same!(String, bool, u8, u16, u32, u64, i32, i64, f64, ());

impl<A: Conv<B>, B> Conv<Vec<B>> for Vec<A> {
    fn conv(self) -> Vec<B> {
        self.into_iter().map(Conv::conv).collect()
    }
}

impl<A: Conv<B>, B> Conv<Option<B>> for Option<A> {
    fn conv(self) -> Option<B> {
        self.map(Conv::conv)
    }
}

impl<A: Conv<B>, B, E: Conv<F>, F> Conv<Result<B, F>> for Result<A, E> {
    fn conv(self) -> Result<B, F> {
        self.map(Conv::conv).map_err(Conv::conv)
    }
}

impl<A: Conv<B>, B, C: Conv<D>, D> Conv<(B, D)> for (A, C) {
    fn conv(self) -> (B, D) {
        (self.0.conv(), self.1.conv())
    }
}

/// A record converted field by field, both ways. Fields after `new` exist only in 0.2.0: a 0.1.0 plugin does not
/// see them, and what it hands the host has none (their default: `none`, an empty list).
macro_rules! record {
    ($m:ident :: $t:ident { $($f:ident),* $(,)? } $(new { $($n:ident),* $(,)? })?) => {
        impl Conv<new::$m::$t> for old::$m::$t {
            fn conv(self) -> new::$m::$t {
                new::$m::$t { $($f: self.$f.conv(),)* $($($n: Default::default(),)*)? }
            }
        }
        impl Conv<old::$m::$t> for new::$m::$t {
            fn conv(self) -> old::$m::$t { old::$m::$t { $($f: self.$f.conv()),* } }
        }
    };
}

/// A variant or enum with the same cases in both versions, both ways.
macro_rules! variant {
    ($m:ident :: $t:ident { $($v:ident $(($x:ident))?),* $(,)? }) => {
        impl Conv<new::$m::$t> for old::$m::$t {
            fn conv(self) -> new::$m::$t {
                match self { $(old::$m::$t::$v $(($x))? => new::$m::$t::$v $(($x.conv()))?),* }
            }
        }
        impl Conv<old::$m::$t> for new::$m::$t {
            fn conv(self) -> old::$m::$t {
                match self { $(new::$m::$t::$v $(($x))? => old::$m::$t::$v $(($x.conv()))?),* }
            }
        }
    };
}

// ---- types: messages --------------------------------------------------------------------------------------------

record!(types::Media {
    file,
    url,
    cache,
    proxy,
    timeout_secs
});
record!(types::Voice { media, magic });
record!(types::Poke { kind, id, name });
record!(types::Share {
    url,
    title,
    content,
    image
});
variant!(types::ContactKind { User, Group });
record!(types::Contact { kind, id });
record!(types::Location {
    lat,
    lon,
    title,
    content
});
record!(types::MusicRef { platform, id });
record!(types::CustomMusic {
    url,
    audio,
    title,
    content,
    image
});
variant!(types::Music { Catalogue(x), Custom(x) });
record!(types::CustomNode {
    user_id,
    nickname,
    content_json
});
variant!(types::ForwardNode { Existing(x), Custom(x) });
record!(types::OtherSegment { kind, data_json });
variant!(types::Segment {
    Text(x), Face(x), Image(x), Record(x), Video(x), At(x), Rps, Dice, Shake, Poke(x), Anonymous(x), Share(x),
    Contact(x), Location(x), Music(x), Reply(x), Forward(x), Node(x), Xml(x), Json(x), Other(x),
});

record!(types::Image { media, flash } new { sub_type, summary, file_size, filename });

// ---- types: events ----------------------------------------------------------------------------------------------

variant!(types::ChatType { Private, Group });
variant!(types::Chat { Private(x), Group(x) });
variant!(types::Role { Owner, Admin, Member });
record!(types::Sender {
    user_id,
    nickname,
    card,
    sex,
    age,
    area,
    level,
    role,
    title
});
record!(types::AnonymousSender { id, name, flag });
record!(types::GroupFile { id, name, size, busid });
record!(types::GroupUpload {
    group_id,
    user_id,
    file
});
record!(types::GroupAdmin { group_id, user_id, set });
record!(types::MemberChange {
    group_id,
    user_id,
    operator_id,
    sub_type
});
record!(types::GroupBan {
    group_id,
    user_id,
    operator_id,
    duration_secs,
    lifted
});
record!(types::GroupRecall {
    group_id,
    user_id,
    operator_id,
    message_id
});
record!(types::FriendRecall { user_id, message_id });
record!(types::LuckyKing {
    group_id,
    user_id,
    target_id
});
record!(types::HonorNotice {
    group_id,
    user_id,
    honor_type
});
record!(types::OtherNotice {
    notice_type,
    sub_type,
    json
});
variant!(types::NoticeEvent {
    GroupUpload(x), GroupAdmin(x), GroupDecrease(x), GroupIncrease(x), GroupBan(x), FriendAdd(x), GroupRecall(x),
    FriendRecall(x), Poke(x), LuckyKing(x), Honor(x), Other(x),
});
record!(types::FriendRequest { user_id, comment, flag });
variant!(types::GroupRequestKind { Add, Invite });
variant!(types::RequestEvent { Friend(x), Group(x), Other(x) });
variant!(types::Lifecycle {
    Enable,
    Disable,
    Connect
});
variant!(types::MetaEvent { Lifecycle(x), Heartbeat(x), Other(x) });
record!(types::TimerEvent { name, payload, due_at });
variant!(types::EventKind { Message(x), Notice(x), Request(x), Meta(x), Other(x), Timer(x) });
variant!(types::EventCategory {
    Message,
    Notice,
    Request,
    Meta,
    Other,
    Timer
});
record!(types::PluginMetadata {
    name,
    version,
    description,
    capabilities,
    events,
    config_schema
});

record!(types::MessageEvent {
    message_type, sub_type, message_id, user_id, group_id, sender, anonymous, message, raw_message, plain_text, to_me,
    self_sent,
} new { segment_extras, font, message_seq, real_id, target_id, source_group_id });
record!(types::PokeNotice { group_id, user_id, target_id } new { action, suffix, raw_info_json });
record!(types::GroupRequest { kind, group_id, user_id, comment, flag } new { invitor_id });

impl Conv<old::types::Heartbeat> for new::types::Heartbeat {
    fn conv(self) -> old::types::Heartbeat {
        old::types::Heartbeat {
            interval_ms: self.interval_ms,
            // 0.1.0 has no "no status": it was the JSON `null`.
            status_json: self.status_json.unwrap_or_else(|| "null".into()),
        }
    }
}

impl Conv<new::types::Heartbeat> for old::types::Heartbeat {
    fn conv(self) -> new::types::Heartbeat {
        new::types::Heartbeat {
            interval_ms: self.interval_ms,
            status_json: Some(self.status_json).filter(|s| s != "null"),
        }
    }
}

record!(types::Event { platform, self_id, time, kind } new { extra });

// ---- types: errors ----------------------------------------------------------------------------------------------

impl Conv<old::types::ErrorCode> for new::types::ErrorCode {
    fn conv(self) -> old::types::ErrorCode {
        use new::types::ErrorCode as N;
        use old::types::ErrorCode as O;
        match self {
            N::InvalidArgument => O::InvalidArgument,
            N::PermissionDenied => O::PermissionDenied,
            N::OperationFailed => O::OperationFailed,
            N::SendFailed => O::SendFailed,
            N::Busy => O::Busy,
            N::Timeout => O::Timeout,
            N::Unsupported => O::Unsupported,
            N::RateLimited => O::RateLimited,
            N::BotUnavailable => O::BotUnavailable,
            N::QuotaExceeded => O::QuotaExceeded,
            // 0.1.0 has no such code: an argument was invalid (its retcode, 1414, still says which kind).
            N::TooLarge => O::InvalidArgument,
        }
    }
}

record!(types::Error {
    code,
    retcode,
    message,
    retry_after_ms
});

impl Conv<new::types::ErrorCode> for old::types::ErrorCode {
    fn conv(self) -> new::types::ErrorCode {
        use new::types::ErrorCode as N;
        use old::types::ErrorCode as O;
        match self {
            O::InvalidArgument => N::InvalidArgument,
            O::PermissionDenied => N::PermissionDenied,
            O::OperationFailed => N::OperationFailed,
            O::SendFailed => N::SendFailed,
            O::Busy => N::Busy,
            O::Timeout => N::Timeout,
            O::Unsupported => N::Unsupported,
            O::RateLimited => N::RateLimited,
            O::BotUnavailable => N::BotUnavailable,
            O::QuotaExceeded => N::QuotaExceeded,
        }
    }
}

// ---- bot records ------------------------------------------------------------------------------------------------

record!(bot::BotInfo {
    self_id,
    platform,
    online
});
record!(bot::SendOptions { at_sender, reply_to });
record!(bot::LoginInfo { user_id, nickname });
record!(bot::StrangerInfo {
    user_id,
    nickname,
    sex,
    age
});
record!(bot::FriendInfo {
    user_id,
    nickname,
    remark
});
record!(bot::GroupInfo {
    group_id,
    group_name,
    member_count,
    max_member_count
});
record!(bot::MemberInfo {
    group_id,
    user_id,
    nickname,
    card,
    sex,
    age,
    area,
    join_time,
    last_sent_time,
    level,
    role,
    unfriendly,
    title,
    title_expire_time,
    card_changeable,
});
record!(bot::Talkative {
    user_id,
    nickname,
    avatar,
    day_count
});
record!(bot::HonorMember {
    user_id,
    nickname,
    avatar,
    description
});
record!(bot::HonorInfo {
    group_id,
    current_talkative,
    talkative_list,
    performer_list,
    legend_list,
    strong_newbie_list,
    emotion_list,
});
record!(bot::Credentials { cookies, csrf_token });
record!(bot::Status { online, good, json });
record!(bot::VersionInfo {
    app_name,
    app_version,
    protocol_version,
    json
});

record!(bot::MessageInfo { time, message_type, message_id, real_id, sender, message } new { segment_extras });
record!(bot::ForwardMessageNode { user_id, nickname, time, content } new { segment_extras });

// ---- schedule, log, http records --------------------------------------------------------------------------------

variant!(schedule::When { AfterSecs(x), EverySecs(x), Cron(x) });
record!(schedule::Job {
    name,
    when,
    payload,
    next_due_ms
});
variant!(log::Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error
});
record!(http::Request {
    method,
    url,
    headers,
    body
});
record!(http::Response { status, headers, body });

// ---- the 0.1.0 imports ------------------------------------------------------------------------------------------

/// A 0.2.0 host function's answer as its 0.1.0 twin's: a trap stays a trap, an error value is converted down.
trait Down<R> {
    fn down(self) -> wasmtime::Result<R>;
}

impl<T: Conv<R>, R> Down<R> for wasmtime::Result<T> {
    fn down(self) -> wasmtime::Result<R> {
        Ok(self?.conv())
    }
}

impl<T: Conv<R>, R> Down<Result<R, old::types::Error>> for Result<T, coral_model::HostError> {
    fn down(self) -> wasmtime::Result<Result<R, old::types::Error>> {
        match self {
            Ok(value) => Ok(Ok(value.conv())),
            Err(error) => Ok(Err(error.into_wit()?.conv())),
        }
    }
}

/// Each 0.1.0 function: the 0.2.0 function of the same name, arguments converted up and the answer down.
macro_rules! delegate {
    ($iface:ident: $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl old::$iface::Host for PluginState {
            $(async fn $name(&mut self, $($arg: $ty),*) -> wasmtime::Result<$ret> {
                new::$iface::Host::$name(self, $($arg.conv()),*).await.down()
            })*
        }
    };
}

impl old::types::Host for PluginState {}

type Message = Vec<old::types::Segment>;

delegate!(bot:
    fn list_bots() -> Vec<old::bot::BotInfo>;
    fn send_private_msg(self_id: String, user_id: String, message: Message) -> Result<String, old::types::Error>;
    fn send_group_msg(self_id: String, group_id: String, message: Message) -> Result<String, old::types::Error>;
    fn send_msg(self_id: String, target: old::types::Chat, message: Message, options: old::bot::SendOptions)
        -> Result<String, old::types::Error>;
    fn broadcast(self_id: String, targets: Vec<old::types::Chat>, message: Message)
        -> Vec<Result<String, old::types::Error>>;
    fn delete_msg(self_id: String, message_id: String) -> Result<(), old::types::Error>;
    fn get_msg(self_id: String, message_id: String) -> Result<old::bot::MessageInfo, old::types::Error>;
    fn get_forward_msg(self_id: String, id: String) -> Result<Vec<old::bot::ForwardMessageNode>, old::types::Error>;
    fn send_like(self_id: String, user_id: String, times: u32) -> Result<(), old::types::Error>;
    fn set_group_kick(self_id: String, group_id: String, user_id: String, reject_add_request: bool)
        -> Result<(), old::types::Error>;
    fn set_group_ban(self_id: String, group_id: String, user_id: String, duration_secs: u32)
        -> Result<(), old::types::Error>;
    fn set_group_anonymous_ban(self_id: String, group_id: String, flag: String, duration_secs: u32)
        -> Result<(), old::types::Error>;
    fn set_group_whole_ban(self_id: String, group_id: String, enable: bool) -> Result<(), old::types::Error>;
    fn set_group_admin(self_id: String, group_id: String, user_id: String, enable: bool)
        -> Result<(), old::types::Error>;
    fn set_group_anonymous(self_id: String, group_id: String, enable: bool) -> Result<(), old::types::Error>;
    fn set_group_card(self_id: String, group_id: String, user_id: String, card: String)
        -> Result<(), old::types::Error>;
    fn set_group_name(self_id: String, group_id: String, name: String) -> Result<(), old::types::Error>;
    fn set_group_leave(self_id: String, group_id: String, is_dismiss: bool) -> Result<(), old::types::Error>;
    fn set_group_special_title(self_id: String, group_id: String, user_id: String, title: String, duration_secs: i64)
        -> Result<(), old::types::Error>;
    fn set_friend_add_request(self_id: String, flag: String, approve: bool, remark: String)
        -> Result<(), old::types::Error>;
    fn set_group_add_request(self_id: String, flag: String, kind: old::types::GroupRequestKind, approve: bool,
        reason: String) -> Result<(), old::types::Error>;
    fn delete_friend(self_id: String, user_id: String) -> Result<(), old::types::Error>;
    fn get_login_info(self_id: String) -> Result<old::bot::LoginInfo, old::types::Error>;
    fn get_stranger_info(self_id: String, user_id: String, no_cache: bool)
        -> Result<old::bot::StrangerInfo, old::types::Error>;
    fn get_friend_list(self_id: String) -> Result<Vec<old::bot::FriendInfo>, old::types::Error>;
    fn get_group_info(self_id: String, group_id: String, no_cache: bool)
        -> Result<old::bot::GroupInfo, old::types::Error>;
    fn get_group_list(self_id: String) -> Result<Vec<old::bot::GroupInfo>, old::types::Error>;
    fn get_group_member_info(self_id: String, group_id: String, user_id: String, no_cache: bool)
        -> Result<old::bot::MemberInfo, old::types::Error>;
    fn get_group_member_list(self_id: String, group_id: String)
        -> Result<Vec<old::bot::MemberInfo>, old::types::Error>;
    fn get_group_honor_info(self_id: String, group_id: String, honor_type: String)
        -> Result<old::bot::HonorInfo, old::types::Error>;
    fn get_cookies(self_id: String, domain: String) -> Result<String, old::types::Error>;
    fn get_csrf_token(self_id: String) -> Result<i64, old::types::Error>;
    fn get_credentials(self_id: String, domain: String) -> Result<old::bot::Credentials, old::types::Error>;
    fn get_record(self_id: String, file: String, out_format: String) -> Result<String, old::types::Error>;
    fn get_image(self_id: String, file: String) -> Result<String, old::types::Error>;
    fn can_send_image(self_id: String) -> Result<bool, old::types::Error>;
    fn can_send_record(self_id: String) -> Result<bool, old::types::Error>;
    fn get_status(self_id: String) -> Result<old::bot::Status, old::types::Error>;
    fn get_version_info(self_id: String) -> Result<old::bot::VersionInfo, old::types::Error>;
    fn set_restart(self_id: String, delay_ms: u32) -> Result<(), old::types::Error>;
    fn clean_cache(self_id: String) -> Result<(), old::types::Error>;
    fn call_api(self_id: String, action: String, params_json: String) -> Result<String, old::types::Error>;
);

delegate!(storage:
    fn get(key: String) -> Result<Option<Vec<u8>>, old::types::Error>;
    fn set(key: String, value: Vec<u8>, ttl_secs: Option<u32>) -> Result<(), old::types::Error>;
    fn delete(key: String) -> Result<bool, old::types::Error>;
    fn list_keys(prefix: String) -> Result<Vec<String>, old::types::Error>;
    fn increment(key: String, delta: i64) -> Result<i64, old::types::Error>;
    fn compare_and_swap(key: String, expected: Option<Vec<u8>>, new: Option<Vec<u8>>) -> Result<bool, old::types::Error>;
);

delegate!(schedule:
    fn add(name: String, when: old::schedule::When, payload: String) -> Result<(), old::types::Error>;
    fn cancel(name: String) -> Result<bool, old::types::Error>;
    fn list_jobs() -> Result<Vec<old::schedule::Job>, old::types::Error>;
);

delegate!(log:
    fn log(level: old::log::Level, message: String) -> ();
);

delegate!(http:
    fn fetch(request: old::http::Request) -> Result<old::http::Response, old::types::Error>;
);
