//! The console platform (the embedded default): lines typed on stdin become messages from a simulated user, and
//! what plugins send is printed to stdout, one line per message, as `[private 10000] text` or
//! `[group 1000001] text`. Works interactively and from a pipe.
//!
//! Lines starting with `/` control the simulation: `/user <id> [nickname]`, `/group <id>`, `/private`,
//! `/whoami`, `/help`, `/quit`. In a group, start a line with `@bot` to address the bot.
//! The console has no group or user management: those actions return "unsupported".

use coral_model::EventSink;
use serde::Deserialize;

use coral_model::bindings::{Chat, ChatType, Event, EventKind, MessageEvent, Role, Segment, Sender};
use coral_model::{Action, ApiError, ApiFuture, BotConnection, Bots};
use parking_lot::Mutex;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The console bot's self id.
pub const CONSOLE_SELF_ID: &str = "console";
/// The console's platform name.
pub const PLATFORM: &str = "console";

/// Where the console prints (stdout for the binary; a buffer in tests and benchmarks).
pub type Output = Arc<Mutex<dyn Write + Send>>;

/// The console bot: prints sends, answers a few queries, refuses the rest.
pub struct ConsoleBot {
    out: Output,
    next_message_id: Arc<AtomicU64>,
}

impl ConsoleBot {
    fn print(&self, chat: &Chat, prefix: &str, message: &[Segment]) -> serde_json::Value {
        let id = self.next_message_id.fetch_add(1, Ordering::Relaxed);
        let (kind, target) = match chat {
            Chat::Private(user) => ("private", user),
            Chat::Group(group) => ("group", group),
        };
        // A plugin's text reaches the operator's terminal: lines stay lines (indented under the first), every
        // other control character (escapes, carriage returns, bells) is shown escaped.
        let body: Vec<String> = format!("{prefix}{}", coral_model::text::message_line(message))
            .split('\n')
            .map(|line| coral_model::text::escape_controls(line).into_owned())
            .collect();
        let body = body.join("\n  ");
        let target = coral_model::text::escape_controls(target);
        let mut out = self.out.lock();
        // A closed stdout must not take the host down; the send still "happened" as far as plugins know.
        let _ = writeln!(out, "[{kind} {target}] {body}").and_then(|_| out.flush());
        json!({ "message_id": id })
    }
}

impl BotConnection for ConsoleBot {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn online(&self) -> bool {
        true
    }

    fn call(&self, action: Action) -> ApiFuture {
        let result = match action {
            Action::SendPrivateMsg { user_id, message } => Ok(self.print(&Chat::Private(user_id), "", &message)),
            Action::SendGroupMsg { group_id, message } => Ok(self.print(&Chat::Group(group_id), "", &message)),
            Action::SendMsg {
                target,
                message,
                options,
            } => {
                let mut prefix = String::new();
                if let Some(id) = options.reply_to {
                    prefix.push_str(&format!("[reply #{id}] "));
                }
                if let Some(user) = options.at_sender {
                    prefix.push_str(&format!("@{user} "));
                }
                Ok(self.print(&target, &prefix, &message))
            }
            Action::GetLoginInfo => Ok(json!({ "user_id": CONSOLE_SELF_ID, "nickname": "Coral" })),
            Action::GetStatus => Ok(json!({ "online": true, "good": true })),
            Action::GetVersionInfo => Ok(json!({
                "app_name": "coral-console",
                "app_version": env!("CARGO_PKG_VERSION"),
                "protocol_version": "v11",
            })),
            Action::CanSendImage | Action::CanSendRecord => Ok(json!({ "yes": false })),
            other => Err(ApiError::Unsupported {
                platform: PLATFORM.into(),
                action: other.name().to_string(),
            }),
        };
        Box::pin(std::future::ready(result))
    }
}

/// `[console]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Run the console platform (stdin/stdout). Default: true when `coral` runs without a config file; false
    /// when a config file has no `[console]` table.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The user id you type as. Default `10000`.
    #[serde(default = "default_console_user")]
    pub user_id: String,
    /// Your nickname. Default `console-user`.
    #[serde(default = "default_console_nickname")]
    pub nickname: String,
}

fn yes() -> bool {
    true
}
fn default_console_user() -> String {
    "10000".into()
}
fn default_console_nickname() -> String {
    "console-user".into()
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: false,
            user_id: default_console_user(),
            nickname: default_console_nickname(),
        }
    }
}

/// Who is typing, and where: the simulated chat state (also what the web console's chat page types as).
#[derive(Debug, Clone)]
pub struct Session {
    /// The user id.
    pub user_id: String,
    /// The nickname.
    pub nickname: String,
    /// The group, or none for a private chat.
    pub group: Option<String>,
    /// Your role in groups (`:role`), as plugins see it in `sender.role`.
    pub role: Role,
}

const HELP: &str = "console commands (start with `:` or `//`): :user <id> [nickname] | :group <id> | :private | \
:role owner|admin|member | :superuser on|off | :whoami | :quit; every other line (`/sign` too) is a message; in a \
group, start a line with @bot to address the bot";

/// What the console calls when its user turns superuser on or off (`:superuser on|off`): the host adds or removes
/// that user id from its superusers.
pub type SuperuserHook = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// A console command: a line starting with `:` or `//` (a single `/` starts a message, so plugin commands like
/// `/sign` can be typed).
fn console_command(line: &str) -> Option<&str> {
    line.strip_prefix("//").or_else(|| line.strip_prefix(':'))
}

/// The console platform once its bot is registered ([`Console::register`]); [`Console::run`] reads its input.
pub struct Console {
    next_message_id: Arc<AtomicU64>,
    superuser: Option<SuperuserHook>,
}

impl Console {
    /// Register the `console` bot in `bots` (printing to `out`): from now on plugins can answer there.
    pub fn register(out: Output, bots: &Bots) -> Console {
        let next_message_id = Arc::new(AtomicU64::new(1));
        bots.insert(
            CONSOLE_SELF_ID,
            Arc::new(ConsoleBot {
                out,
                next_message_id: next_message_id.clone(),
            }),
        );
        Console {
            next_message_id,
            superuser: None,
        }
    }

    /// A handle that types messages into the console from elsewhere (the web console's chat page), numbered
    /// with the console's own message ids.
    pub fn typist(&self) -> Typist {
        Typist {
            next_message_id: self.next_message_id.clone(),
        }
    }

    /// Let `:superuser on|off` make the console's user a superuser (or not) through `hook`.
    pub fn with_superuser_hook(mut self, hook: SuperuserHook) -> Console {
        self.superuser = Some(hook);
        self
    }

    /// Deliver what is typed until the input ends (EOF or `:quit`).
    pub async fn run(
        self,
        config: &ConsoleConfig,
        input: impl AsyncBufRead + Unpin,
        sink: Arc<dyn EventSink>,
    ) -> std::io::Result<()> {
        let mut session = Session {
            user_id: config.user_id.clone(),
            nickname: config.nickname.clone(),
            group: None,
            role: Role::Member,
        };
        let mut lines = input.lines();
        while let Some(line) = lines.next_line().await? {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if let Some(command) = console_command(line) {
                if let Some(on) = superuser_switch(command) {
                    match &self.superuser {
                        Some(hook) => {
                            hook(&session.user_id, on);
                            eprintln!(
                                "[console] user {} is {}a superuser",
                                session.user_id,
                                if on { "" } else { "not " }
                            );
                        }
                        None => eprintln!("[console] superusers cannot be changed here"),
                    }
                    continue;
                }
                if !control(&mut session, command) {
                    break;
                }
                continue;
            }
            let id = self.next_message_id.fetch_add(1, Ordering::Relaxed);
            sink.dispatch_wait(message_event(&session, line, id)).await;
        }
        Ok(())
    }
}

/// Register the console bot and run the console until its input ends (see [`Console`]).
pub async fn run(
    config: &ConsoleConfig,
    input: impl AsyncBufRead + Unpin,
    out: Output,
    sink: Arc<dyn EventSink>,
    bots: Bots,
) -> std::io::Result<()> {
    Console::register(out, &bots).run(config, input, sink).await
}

/// `superuser on` / `superuser off`.
fn superuser_switch(command: &str) -> Option<bool> {
    let mut words = command.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("superuser"), Some("on"), None) => Some(true),
        (Some("superuser"), Some("off"), None) => Some(false),
        _ => None,
    }
}

/// Apply a control command; false means quit.
fn control(session: &mut Session, command: &str) -> bool {
    let mut words = command.split_whitespace();
    match (words.next(), words.next()) {
        (Some("user"), Some(id)) => {
            session.user_id = id.to_string();
            let nickname = words.collect::<Vec<_>>().join(" ");
            if !nickname.is_empty() {
                session.nickname = nickname;
            }
            eprintln!("[console] you are now user {} ({})", session.user_id, session.nickname);
        }
        (Some("role"), Some(role)) if words.next().is_none() => {
            session.role = match role {
                "owner" => Role::Owner,
                "admin" => Role::Admin,
                "member" => Role::Member,
                _ => {
                    eprintln!("[console] {HELP}");
                    return true;
                }
            };
            eprintln!("[console] your role in groups is now {role}");
        }
        (Some("group"), Some(id)) => {
            session.group = Some(id.to_string());
            eprintln!("[console] now in group {id}");
        }
        (Some("private"), None) => {
            session.group = None;
            eprintln!("[console] now in a private chat");
        }
        (Some("whoami"), None) => match &session.group {
            Some(g) => eprintln!("[console] user {} in group {g} ({:?})", session.user_id, session.role),
            None => eprintln!("[console] user {} in a private chat", session.user_id),
        },
        (Some("quit" | "exit"), None) => return false,
        _ => eprintln!("[console] {HELP}"),
    }
    true
}

/// Types console messages from elsewhere ([`Console::typist`]).
#[derive(Clone)]
pub struct Typist {
    next_message_id: Arc<AtomicU64>,
}

impl Typist {
    /// The message event `session` typing `line` makes (a leading `@bot` in a group addresses the bot).
    pub fn message(&self, session: &Session, line: &str) -> Event {
        let id = self.next_message_id.fetch_add(1, Ordering::Relaxed);
        message_event(session, line, id)
    }
}

fn message_event(session: &Session, line: &str, message_id: u64) -> Event {
    let (to_me, text) = match (&session.group, line.strip_prefix("@bot")) {
        (None, _) => (true, line),
        (Some(_), Some(rest)) => (true, rest),
        (Some(_), None) => (false, line),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Event {
        platform: PLATFORM.into(),
        self_id: CONSOLE_SELF_ID.into(),
        time: now,
        kind: EventKind::Message(MessageEvent {
            message_type: if session.group.is_some() {
                ChatType::Group
            } else {
                ChatType::Private
            },
            sub_type: if session.group.is_some() { "normal" } else { "friend" }.into(),
            message_id: message_id.to_string(),
            user_id: session.user_id.clone(),
            group_id: session.group.clone(),
            sender: Sender {
                user_id: session.user_id.clone(),
                nickname: session.nickname.clone(),
                card: None,
                sex: None,
                age: None,
                area: None,
                level: None,
                role: session.group.as_ref().map(|_| session.role),
                title: None,
            },
            anonymous: None,
            message: line_message(session.group.is_some() && to_me, text),
            raw_message: line.to_string(),
            plain_text: plain_text(text),
            to_me,
            self_sent: false,
            segment_extras: Vec::new(),
            font: None,
            message_seq: None,
            real_id: None,
            target_id: None,
            source_group_id: None,
        }),
        extra: None,
    }
}

/// A typed line as segments: CQ codes (`[CQ:face,id=1]`, `[CQ:at,qq=123]`, `[CQ:image,file=cat.jpg]`) become
/// segments with OneBot's parser, so segment handling can be tried by hand; the rest is text (`&#91;` and `&#93;`
/// type a literal `[` `]`, `&amp;` a `&`). A group line addressed with `@bot` starts with a mention of the bot.
fn line_message(mentions_bot: bool, text: &str) -> Vec<Segment> {
    let mut message = Vec::new();
    if mentions_bot {
        message.push(Segment::At(CONSOLE_SELF_ID.into()));
    }
    message.extend(coral_model::wire::json::message(&serde_json::Value::String(
        text.to_string(),
    )));
    message
}

/// The text segments of a typed line joined and trimmed (codes are not text), as OneBot's `plain-text`.
fn plain_text(text: &str) -> String {
    let joined: String = line_message(false, text)
        .into_iter()
        .filter_map(|s| match s {
            Segment::Text(t) => Some(t),
            _ => None,
        })
        .collect();
    joined.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::bindings::SendOptions;

    fn bot() -> (ConsoleBot, Arc<Mutex<Vec<u8>>>) {
        let buf = Arc::new(Mutex::new(Vec::new()));
        (
            ConsoleBot {
                out: buf.clone(),
                next_message_id: Arc::new(AtomicU64::new(1)),
            },
            buf,
        )
    }

    #[tokio::test]
    async fn sends_print_one_line_with_the_chat() {
        let (bot, buf) = bot();
        let options = SendOptions {
            at_sender: Some("42".into()),
            reply_to: None,
        };
        let message = vec![Segment::Text("pong hello".into())];
        let data = bot
            .call(Action::SendMsg {
                target: Chat::Group("1000001".into()),
                message,
                options,
            })
            .await;
        assert_eq!(data.unwrap()["message_id"], 1);
        assert_eq!(
            String::from_utf8(buf.lock().clone()).unwrap(),
            "[group 1000001] @42 pong hello\n"
        );
    }

    #[tokio::test]
    async fn group_management_is_unsupported() {
        let (bot, buf) = bot();
        let kick = Action::SetGroupKick {
            group_id: "1".into(),
            user_id: "2".into(),
            reject_add_request: false,
        };
        assert!(matches!(bot.call(kick).await, Err(ApiError::Unsupported { .. })));
        assert!(buf.lock().is_empty());
    }

    #[test]
    fn console_commands_start_with_a_colon_or_two_slashes_and_a_slash_starts_a_message() {
        assert_eq!(console_command(":group 5"), Some("group 5"));
        assert_eq!(console_command("//group 5"), Some("group 5"));
        assert_eq!(console_command("/sign"), None);
        assert_eq!(console_command("sign"), None);
        assert_eq!(superuser_switch("superuser on"), Some(true));
        assert_eq!(superuser_switch("superuser off"), Some(false));
        assert_eq!(superuser_switch("superuser maybe"), None);
    }

    #[test]
    fn group_lines_are_addressed_to_the_bot_only_with_at_bot() {
        let mut s = Session {
            user_id: "42".into(),
            nickname: "n".into(),
            group: None,
            role: Role::Member,
        };
        assert!(control(&mut s, "group 1000001"));
        let EventKind::Message(m) = message_event(&s, "@bot ping x", 1).kind else {
            panic!()
        };
        assert!(m.to_me);
        assert_eq!(m.plain_text, "ping x");
        assert_eq!(m.group_id.as_deref(), Some("1000001"));
        let EventKind::Message(m) = message_event(&s, "ping x", 2).kind else {
            panic!()
        };
        assert!(!m.to_me);
        assert!(!control(&mut s, "quit"));
    }

    #[test]
    fn role_and_user_set_what_plugins_see_as_the_sender() {
        let mut s = Session {
            user_id: "42".into(),
            nickname: "n".into(),
            group: Some("1000001".into()),
            role: Role::Member,
        };
        let sender = |s: &Session| match message_event(s, "hi", 1).kind {
            EventKind::Message(m) => m.sender,
            other => panic!("{other:?}"),
        };
        assert!(matches!(sender(&s).role, Some(Role::Member)));
        assert!(control(&mut s, "role admin"));
        assert!(matches!(sender(&s).role, Some(Role::Admin)));
        assert!(control(&mut s, "role owner"));
        assert!(matches!(sender(&s).role, Some(Role::Owner)));
        assert!(control(&mut s, "role king"), "an unknown role shows the help");
        assert!(matches!(sender(&s).role, Some(Role::Owner)), "and changes nothing");
        assert!(control(&mut s, "user 7 Ada Lovelace"));
        let who = sender(&s);
        assert_eq!((who.user_id.as_str(), who.nickname.as_str()), ("7", "Ada Lovelace"));
        assert!(control(&mut s, "private"));
        assert!(sender(&s).role.is_none(), "no role in a private chat");
    }

    /// Segments as short strings, for comparison.
    fn shape(message: &[Segment]) -> Vec<String> {
        message
            .iter()
            .map(|seg| match seg {
                Segment::Text(t) => format!("text:{t}"),
                Segment::Face(id) => format!("face:{id}"),
                Segment::Image(i) => format!("image:{}", i.media.file),
                Segment::At(who) => format!("at:{who}"),
                other => format!("other:{other:?}"),
            })
            .collect()
    }

    #[test]
    fn typed_cq_codes_become_segments() {
        let s = Session {
            user_id: "42".into(),
            nickname: "n".into(),
            group: None,
            role: Role::Member,
        };
        let line = "remember k look [CQ:face,id=1] at [CQ:image,file=cat.jpg] and [CQ:at,qq=123] &#91;x&#93;";
        let EventKind::Message(m) = message_event(&s, line, 1).kind else {
            panic!()
        };
        assert_eq!(
            shape(&m.message),
            [
                "text:remember k look ",
                "face:1",
                "text: at ",
                "image:cat.jpg",
                "text: and ",
                "at:123",
                "text: [x]"
            ]
        );
        assert_eq!(m.raw_message, line);
        assert_eq!(m.plain_text, "remember k look  at  and  [x]");
        assert_eq!(
            coral_model::text::message_line(&m.message),
            "remember k look [face:1] at [image:cat.jpg] and @123 [x]"
        );
    }

    #[test]
    fn plain_lines_and_malformed_codes_stay_text() {
        assert_eq!(shape(&line_message(false, "ping hello")), ["text:ping hello"]);
        assert_eq!(shape(&line_message(false, "a [CQ:face b")), ["text:a [CQ:face b"]);
        let mut s = Session {
            user_id: "42".into(),
            nickname: "n".into(),
            group: None,
            role: Role::Member,
        };
        assert!(control(&mut s, "group 7"));
        let EventKind::Message(m) = message_event(&s, "@bot [CQ:face,id=5] hi", 1).kind else {
            panic!()
        };
        assert_eq!(shape(&m.message), ["at:console", "text: ", "face:5", "text: hi"]);
        assert_eq!(m.plain_text, "hi");
    }
}
