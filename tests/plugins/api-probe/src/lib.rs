//! Fixture: on `call <action>`, calls that one of the 38 OneBot V11 APIs through its typed function (arguments as
//! in tests/fixtures/onebot/api/<action>.json) and answers `<action> ok <result>` or
//! `<action> err <code> <retcode> <message>`. On `last event` it describes the last other event it saw, on
//! `last time` it answers that event's `time`.

use coral_sdk::prelude::*;
use coral_sdk::{GroupRequestKind, MessageSegment};

struct Probe {
    last_event: String,
    last_time: i64,
}

fn show<T: std::fmt::Debug>(action: &str, result: Result<T, Error>) -> String {
    match result {
        Ok(v) => format!("{action} ok {v:?}"),
        Err(e) => format!("{action} err {:?} {} {}", e.code, e.retcode, e.message),
    }
}

fn call(bot: &Bot, action: &str) -> String {
    let g = "100100";
    match action {
        "send_private_msg" => show(action, bot.send_private_message("1000001", "probe private")),
        "send_group_msg" => show(
            action,
            bot.send_group_message(
                g,
                MessageChain::new()
                    .text("probe group")
                    .push(MessageSegment::face("178")),
            ),
        ),
        "send_msg" => show(action, bot.send_message(&Chat::Private("1000001".into()), "probe send")),
        "delete_msg" => show(action, bot.delete_message("1302")),
        "get_msg" => show(action, bot.get_message("-2147483000")),
        "get_forward_msg" => show(
            action,
            bot.get_forward_message("RfG5aTXwzT0CEBRx5kXqHaHdDmEwhWOXBbULhN4NmM0ND6BM4XeIjQc8Ow2jGbN6"),
        ),
        "send_like" => show(action, bot.send_like("1000001", 10)),
        "set_group_kick" => show(action, bot.kick_member(g, "1000007", false)),
        "set_group_ban" => show(action, bot.ban_member(g, "1000011", 1800)),
        "set_group_anonymous_ban" => show(action, bot.ban_anonymous(g, "ab12cd34ef|大力水手", 1800)),
        "set_group_whole_ban" => show(action, bot.set_whole_ban(g, true)),
        "set_group_admin" => show(action, bot.set_group_admin(g, "1000005", true)),
        "set_group_anonymous" => show(action, bot.set_group_anonymous(g, false)),
        "set_group_card" => show(action, bot.set_group_card(g, "1000004", "甲 [技术组]")),
        "set_group_name" => show(action, bot.set_group_name(g, "Coral 测试群 & 朋友们")),
        "set_group_leave" => show(action, bot.leave_group("100200", false)),
        "set_group_special_title" => show(action, bot.set_special_title(g, "1000004", "摸鱼大师", -1)),
        "set_friend_add_request" => show(action, bot.handle_friend_request("1718000030000001", true, "老同学")),
        "set_group_add_request" => show(
            action,
            bot.handle_group_request(
                "add-100100-1000015-1718000031",
                GroupRequestKind::Add,
                false,
                "请先回答入群问题",
            ),
        ),
        "get_login_info" => show(action, bot.login_info()),
        "get_stranger_info" => show(action, bot.stranger_info("1000003", false)),
        "get_friend_list" => show(action, bot.friend_list()),
        "get_group_info" => show(action, bot.group_info(g, false)),
        "get_group_list" => show(action, bot.group_list()),
        "get_group_member_info" => show(action, bot.member_info(g, "1000004", true)),
        "get_group_member_list" => show(action, bot.member_list(g)),
        "get_group_honor_info" => show(action, bot.honor_info(g, "all")),
        "get_cookies" => show(action, bot.cookies("qun.qq.com")),
        "get_csrf_token" => show(action, bot.csrf_token()),
        "get_credentials" => show(action, bot.credentials("qun.qq.com")),
        "get_record" => show(action, bot.get_record("0B38145AA44505000B38145AA4450500.silk", "mp3")),
        "get_image" => show(action, bot.get_image("6B4DE3DFD1BD271E3297859D41C530F5.jpg")),
        "can_send_image" => show(action, bot.can_send_image()),
        "can_send_record" => show(action, bot.can_send_record()),
        "get_status" => show(action, bot.status()),
        "get_version_info" => show(action, bot.version_info()),
        "set_restart" => show(action, bot.restart(2000)),
        "clean_cache" => show(action, bot.clean_cache()),
        other => show(other, bot.call_api(other, r#"{"probe":true}"#)),
    }
}

/// Every capability, so the operator's grants alone decide (the second lock).
const ALL: &[&str] = &[
    "send",
    "recall",
    "kick",
    "ban",
    "whole-ban",
    "set-admin",
    "set-group-anonymous",
    "set-card",
    "set-title",
    "set-group-name",
    "leave-group",
    "handle-request",
    "delete-friend",
    "send-like",
    "query",
    "credentials",
    "restart",
    "at-all",
    "local-file",
    "media-url",
    "call-api:get_group_notice",
];

/// Commands beyond `call <action>`: `kick <group> <user>`, `flood <n>`, `send-all <group>`, `send-file <group>`,
/// `send-to <group> <text>`, `bots` (what `list-bots` says).
fn command(bot: &Bot, words: &[&str]) -> Option<String> {
    Some(match words {
        ["bots"] => format!("bots {:?}", coral_sdk::bots()),
        ["kick", group, user] => show("kick", bot.kick_member(group, user, false)),
        ["flood", n] => {
            let n: u32 = n.parse().ok()?;
            let (mut ok, mut limited, mut other) = (0, 0, 0);
            for i in 0..n {
                match bot.kick_member("100100", &format!("{}", 2_000_000 + i), false) {
                    Ok(()) => ok += 1,
                    Err(e) if e.code == coral_sdk::ErrorCode::RateLimited => limited += 1,
                    Err(_) => other += 1,
                }
            }
            format!("flood ok={ok} limited={limited} other={other}")
        }
        ["send-all", group] => show(
            "send-all",
            bot.send_group_message(group, MessageChain::new().push(MessageSegment::at_all()).text(" hi")),
        ),
        ["send-file", group] => show(
            "send-file",
            bot.send_group_message(group, MessageSegment::image("file:///etc/passwd")),
        ),
        ["send-to", group, text] => show("send-to", bot.send_group_message(group, *text)),
        ["bcast", n] => {
            let n: u32 = n.parse().ok()?;
            let targets: Vec<Chat> = (0..n).map(|i| Chat::Group(format!("{}", 200_001 + i))).collect();
            let results = bot.broadcast(&targets, "news");
            let ok = results.iter().filter(|r| r.is_ok()).count();
            let first_err = results
                .iter()
                .find_map(|r| r.as_ref().err())
                .map(|e| format!(" {:?}", e.code));
            format!(
                "bcast results={} ok={ok}{}",
                results.len(),
                first_err.unwrap_or_default()
            )
        }
        ["burst", n, group] => {
            let n: u32 = n.parse().ok()?;
            let sent = (0..n)
                .filter(|i| bot.send_group_message(group, format!("burst {i}")).is_ok())
                .count();
            format!("burst sent={sent}")
        }
        _ => return None,
    })
}

impl Plugin for Probe {
    fn metadata() -> Metadata {
        Metadata::new("api-probe", "0.1.0")
            .description("calls any OneBot API on request")
            .capabilities(ALL.iter().copied())
    }
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Probe {
            last_event: "none".into(),
            last_time: 0,
        })
    }
    fn on_event(&mut self, event: &Event) -> HandlerResult {
        let bot = get_bot(event.self_id.clone());
        let EventKind::Message(msg) = &event.kind else {
            self.last_event = format!("{:?} extra: {:?}", event.kind, event.extra);
            self.last_time = event.time;
            return Ok(());
        };
        if let Some(action) = msg.plain_text.strip_prefix("call ") {
            let text = call(&bot, action.trim());
            // Also to the log: the reply itself cannot be sent when the connection is gone.
            coral_sdk::log::info(format!("probe: {text}"));
            bot.reply(msg, text)?;
        } else if let Some(text) = command(&bot, &msg.plain_text.split_whitespace().collect::<Vec<_>>()) {
            coral_sdk::log::info(format!("probe: {text}"));
            bot.reply(msg, text)?;
        } else if msg.plain_text == "last event" {
            let text = format!("last {}", self.last_event);
            bot.reply(msg, text)?;
        } else if msg.plain_text == "last time" {
            bot.reply(msg, format!("last time {}", self.last_time))?;
        } else {
            self.last_event = format!("{:?} extra: {:?}", event.kind, event.extra);
            self.last_time = event.time;
        }
        Ok(())
    }
}

export_plugin!(Probe);
