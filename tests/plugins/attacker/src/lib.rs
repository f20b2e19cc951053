//! Fixture: a hostile plugin for the security tests. It asks for every capability (so the operator's grants alone
//! decide) and, on command, tries one way around grants, scopes, rates or the audit log, then answers in the
//! event's chat with `<command> ok <value>` or `<command> err <code> <retcode> <message>`.
//!
//! Commands (words separated by spaces; JSON arguments run to the end of the line):
//! - `raw <action> <json>`, `rawon <bot> <action> <json>`: `call-api`;
//! - `seg <group|private> <id> <kind> <data-json>`: one `other` segment;
//! - `atsender <group|private> <id> <who>`: `send-options.at-sender`;
//! - `quote <group|private> <id> <message-id>`: `send-options.reply-to`;
//! - `node <group|private> <id> <message-id>`: a forward node by id;
//! - `fwd <group|private> <id> <content-json>`: a custom forward node;
//! - `recallon <bot> <message-id>`: a typed recall on a bot;
//! - `kick <group> <user>`: a typed kick;
//! - `rawkicks <n> <group>`: n raw kicks, cycling through aliases of `set_group_kick`;
//! - `alls <n> <group>`: n typed sends with an @all;
//! - `sendon <bot> <group|private> <id> <text>`: a typed send through another bot;
//! - `post <group|private> <id> <n>`: n posted messages `post 1` … `post n` (`post-msg`), answering how many
//!   were admitted or the first refusal;
//! - `bigtext <group|private> <id> <bytes>`, `bigraw …`: a typed / raw send of one text of that many bytes;
//! - `manysegs <group|private> <id> <n>`, `manycq …`: a typed send of n one-letter segments / a raw send of a CQ
//!   string with n faces;
//! - `manynodes <group|private> <id> <n>`: a forward of n nodes by id.

use coral_sdk::prelude::*;
use coral_sdk::{ErrorCode, MessageSegment, SendOptions};

struct Attacker;

fn show<T: std::fmt::Debug>(command: &str, result: Result<T, Error>) -> String {
    match result {
        Ok(v) => format!("{command} ok {v:?}"),
        Err(e) => format!("{command} err {:?} {} {}", e.code, e.retcode, e.message),
    }
}

fn chat(kind: &str, id: &str) -> Chat {
    if kind == "private" {
        Chat::Private(id.into())
    } else {
        Chat::Group(id.into())
    }
}

/// The first `n` words, then the rest of the line (JSON).
fn split(line: &str, n: usize) -> Option<(Vec<&str>, &str)> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(' ').unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        words.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    Some((words, rest))
}

fn options(at_sender: Option<&str>, reply_to: Option<&str>) -> SendOptions {
    SendOptions {
        at_sender: at_sender.map(Into::into),
        reply_to: reply_to.map(Into::into),
    }
}

fn command(bot: &Bot, line: &str) -> Option<String> {
    let (head, _) = split(line, 1)?;
    Some(match head[0] {
        "raw" => {
            let (w, json) = split(line, 2)?;
            show("raw", bot.call_api(w[1], json))
        }
        "rawon" => {
            let (w, json) = split(line, 3)?;
            show("rawon", get_bot(w[1]).call_api(w[2], json))
        }
        "seg" => {
            let (w, data) = split(line, 4)?;
            show(
                "seg",
                bot.send_message(&chat(w[1], w[2]), MessageSegment::other(w[3], data)),
            )
        }
        "atsender" => {
            let (w, _) = split(line, 4)?;
            let sent = bot.send_message_with(&chat(w[1], w[2]), "hello", &options(Some(w[3]), None));
            show("atsender", sent)
        }
        "quote" => {
            let (w, _) = split(line, 4)?;
            let sent = bot.send_message_with(&chat(w[1], w[2]), "quoted", &options(None, Some(w[3])));
            show("quote", sent)
        }
        "node" => {
            let (w, _) = split(line, 4)?;
            show("node", bot.send_message(&chat(w[1], w[2]), MessageSegment::node(w[3])))
        }
        "fwd" => {
            let (w, content) = split(line, 3)?;
            let node = coral_sdk::Segment::Node(coral_sdk::ForwardNode::Custom(coral_sdk::CustomNode {
                user_id: "1".into(),
                nickname: "n".into(),
                content_json: content.into(),
            }));
            show("fwd", bot.send_message(&chat(w[1], w[2]), node))
        }
        "recallon" => {
            let (w, _) = split(line, 3)?;
            show("recallon", get_bot(w[1]).delete_message(w[2]))
        }
        "kick" => {
            let (w, _) = split(line, 3)?;
            show("kick", bot.kick_member(w[1], w[2], false))
        }
        "sendon" => {
            let (w, text) = split(line, 4)?;
            show("sendon", get_bot(w[1]).send_message(&chat(w[2], w[3]), text))
        }
        "post" => {
            let (w, _) = split(line, 4)?;
            let n: u32 = w[3].parse().ok()?;
            let target = chat(w[1], w[2]);
            let first_error = (1..=n).find_map(|i| bot.post_message(&target, format!("post {i}")).err());
            show("post", first_error.map_or(Ok(n), Err))
        }
        "rawkicks" => {
            let (w, _) = split(line, 3)?;
            let n: u32 = w[1].parse().ok()?;
            let aliases = [
                "set_group_kick",
                "SET_GROUP_KICK_ASYNC",
                ".set_group_kick_rate_limited",
                "Set_Group_Kick",
            ];
            let (mut ok, mut limited, mut other) = (0, 0, 0);
            for i in 0..n {
                let params = format!(r#"{{"group_id": {}, "user_id": {}}}"#, w[2], 3_000_000 + i);
                match bot.call_api(aliases[i as usize % aliases.len()], &params) {
                    Ok(_) => ok += 1,
                    Err(e) if e.code == ErrorCode::RateLimited => limited += 1,
                    Err(_) => other += 1,
                }
            }
            format!("rawkicks ok={ok} limited={limited} other={other}")
        }
        "alls" => {
            let (w, _) = split(line, 3)?;
            let n: u32 = n_of(w[1])?;
            let (mut ok, mut limited, mut other) = (0, 0, 0);
            for _ in 0..n {
                let message = MessageChain::new().push(MessageSegment::at_all()).text(" hi");
                match bot.send_group_message(w[2], message) {
                    Ok(_) => ok += 1,
                    Err(e) if e.code == ErrorCode::RateLimited => limited += 1,
                    Err(_) => other += 1,
                }
            }
            format!("alls ok={ok} limited={limited} other={other}")
        }
        "bigtext" | "bigraw" | "manysegs" | "manycq" | "manynodes" => {
            let (w, _) = split(line, 4)?;
            let n: usize = w[3].parse().ok()?;
            let target = chat(w[1], w[2]);
            let raw_target = if w[1] == "private" {
                format!(r#""user_id": "{}""#, w[2])
            } else {
                format!(r#""group_id": "{}""#, w[2])
            };
            let raw = |message: String| {
                let params = format!(r#"{{{raw_target}, "message": {message}}}"#);
                bot.call_api("send_msg", &params)
            };
            let result = match w[0] {
                "bigtext" => bot.send_message(&target, "x".repeat(n)),
                "bigraw" => raw(format!(
                    r#"[{{"type": "text", "data": {{"text": "{}"}}}}]"#,
                    "x".repeat(n)
                )),
                "manysegs" => {
                    let message: Vec<coral_sdk::Segment> = (0..n).map(|_| MessageSegment::text("x")).collect();
                    bot.send_message(&target, message)
                }
                "manycq" => raw(format!(r#""{}""#, "[CQ:face,id=1]".repeat(n))),
                _ => {
                    let message: Vec<coral_sdk::Segment> =
                        (0..n).map(|i| MessageSegment::node(i.to_string())).collect();
                    bot.send_message(&target, message)
                }
            };
            // Short either way: the answer must not be the thing that is too large.
            match result {
                Ok(_) => format!("{} ok", w[0]),
                Err(e) => format!("{} err {:?} {} {}", w[0], e.code, e.retcode, e.message),
            }
        }
        _ => return None,
    })
}

fn n_of(word: &str) -> Option<u32> {
    word.parse().ok()
}

/// Every capability there is, and a `call-api` grant request for each action the tests call raw.
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
    "call-api:send_msg",
    "call-api:send_group_msg",
    "call-api:send_private_msg",
    "call-api:delete_msg",
    "call-api:set_group_kick",
    "call-api:SET_GROUP_KICK",
    "call-api:.set_group_kick",
    "call-api:set_group_kick_async",
    "call-api:Set_Group_Kick_Async_Rate_Limited",
    "call-api:.handle_quick_operation",
    "call-api:send_group_forward_msg",
    "call-api:upload_group_file",
    "call-api:get_group_notice",
];

impl Plugin for Attacker {
    fn metadata() -> Metadata {
        // Its texts try to break out of every operator-facing output: HTML (the web console) and the terminal.
        let markup = "<img src=x onerror=alert(1)>\"'&\u{1b}[31m";
        Metadata::new("attacker", "0.1.0")
            .description(format!("tries every way around the host's checks, on command {markup}"))
            .capabilities(ALL.iter().copied())
            .config_schema(&serde_json::json!({
                "type": "object",
                "properties": {
                    format!("x\"><script>alert(2)</script>"): {
                        "type": "string",
                        "title": format!("<script>alert(3)</script>{markup}"),
                        "description": format!("<b onmouseover=alert(4)>{markup}</b>"),
                    },
                    "mode": {"type": "string", "enum": ["</option><script>alert(5)</script>", "plain"]},
                },
            }))
    }
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Attacker)
    }
    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        if let Some(text) = command(bot, &msg.plain_text) {
            coral_sdk::log::info(format!("attacker: {text}"));
            bot.reply(msg, text)?;
        }
        Ok(())
    }
}

export_plugin!(Attacker);
