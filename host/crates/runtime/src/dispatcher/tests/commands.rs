//! Unit tests of command routing, priority levels and prompts, with plugins whose queues the test reads itself:
//! who gets a command (parsed) and who the plain message, what the host answers instead (through a recording
//! bot), that a `stop` keeps an event from lower priorities, that a prompt's answer goes to the asker alone, and
//! that a clashing command word keeps a plugin out.

use super::{event_of, plugin_with};
use crate::commands::{Hub, Settings};
use crate::dispatcher::{Delivery, Dispatcher, Work};
use coral_model::bindings::{
    ArgKind, ArgValue, Chat, ChatType, CommandScope, CommandSpec, Event, EventCategory, EventKind, Permission,
    PromptOutcome, Role, Segment,
};
use coral_model::{Action, ApiFuture, BotConnection, Bots};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct RecordingBot {
    said: Mutex<Vec<String>>,
    /// Members whose role `get_group_member_info` was asked for.
    asked: Mutex<Vec<String>>,
}

impl BotConnection for RecordingBot {
    fn platform(&self) -> &str {
        "test"
    }
    fn online(&self) -> bool {
        true
    }
    fn call(&self, action: Action) -> ApiFuture {
        if let Action::GetGroupMemberInfo { user_id, .. } = &action {
            self.asked.lock().push(user_id.clone());
            let role = if user_id == "50" { "admin" } else { "member" };
            return Box::pin(async move { Ok(serde_json::json!({"user_id": 1, "role": role})) });
        }
        if let Action::SendMsg { message, .. } = action {
            let text: String = message
                .iter()
                .filter_map(|s| match s {
                    Segment::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            self.said.lock().push(text);
        }
        Box::pin(async { Ok(serde_json::json!({"message_id": 1})) })
    }
}

fn setup(settings: Settings) -> (Dispatcher, Arc<RecordingBot>) {
    let bot = Arc::new(RecordingBot::default());
    let bots = Bots::default();
    bots.insert("1", bot.clone());
    let hub = Arc::new(Hub::new(bots));
    hub.set_settings(settings);
    (Dispatcher::new(hub), bot)
}

/// What the host said, once its answer (sent from a task) has gone out.
async fn said(bot: &RecordingBot, n: usize) -> Vec<String> {
    for _ in 0..200 {
        if bot.said.lock().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bot.said.lock().clone()
}

fn spec(name: &str, args: &[(&str, ArgKind, bool)]) -> CommandSpec {
    crate::test_support::command(name, args)
}

fn message(text: &str, group: Option<&str>, user: &str, role: Option<Role>) -> Event {
    let kind = if group.is_some() {
        ChatType::Group
    } else {
        ChatType::Private
    };
    crate::test_support::message(kind, text, user, group, role)
}

fn command_of(delivery: &Delivery) -> &coral_model::bindings::Invocation {
    match &delivery.0 {
        Work::Command(call) => call,
        other => panic!("not a command: {other:?}"),
    }
}

#[tokio::test]
async fn a_command_reaches_its_plugin_parsed_and_the_others_get_the_message() {
    let (dispatcher, _bot) = setup(Settings::default());
    let (sign, mut sign_rx) = plugin_with(
        "sign",
        "1",
        Vec::new(),
        8,
        vec![spec("sign", &[("days", ArgKind::Int, true)])],
        0,
    );
    let (log, mut log_rx) = plugin_with("log", "1", vec![EventCategory::Message], 8, Vec::new(), 0);
    dispatcher.add(sign);
    dispatcher.add(log);
    assert_eq!(dispatcher.dispatch(message("/SIGN 3", Some("5"), "42", None)), 2);
    let delivered = sign_rx.try_recv().unwrap();
    let call = command_of(&delivered);
    assert_eq!(
        (call.command.as_str(), call.alias.as_str(), call.prefix.as_str()),
        ("sign", "sign", "/")
    );
    assert!(matches!(call.args[..], [Some(ArgValue::Int(3))]));
    assert_eq!(call.time, 1_700_000_000);
    assert!(!call.superuser);
    assert!(matches!(
        event_of(&log_rx.try_recv().unwrap()).kind,
        EventKind::Message(_)
    ));
    // The bare word works too (prefix ""), and a message that is no command skips the command plugin's wasm.
    assert_eq!(dispatcher.dispatch(message("sign", Some("5"), "42", None)), 2);
    assert_eq!(command_of(&sign_rx.try_recv().unwrap()).prefix, "");
    log_rx.try_recv().unwrap();
    assert_eq!(dispatcher.dispatch(message("hello there", Some("5"), "42", None)), 1);
    assert!(
        sign_rx.try_recv().is_err(),
        "a plugin with commands and no `events` gets no plain messages"
    );
    log_rx.try_recv().unwrap();
}

#[tokio::test]
async fn the_host_answers_wrong_usage_refusals_and_cooldowns_without_calling_the_plugin() {
    let superusers = ["7".to_string()].into_iter().collect();
    let (dispatcher, bot) = setup(Settings {
        superusers,
        ..Settings::default()
    });
    let mut mute = spec("mute", &[("who", ArgKind::User, false)]);
    mute.permission = Permission::GroupAdmin;
    let mut sign = spec("sign", &[]);
    sign.user_cooldown_secs = 60;
    let (p, mut rx) = plugin_with("p", "1", Vec::new(), 8, vec![mute, sign], 0);
    dispatcher.add(p);
    // Not an admin: refused, with the rule.
    assert_eq!(
        dispatcher.dispatch(message("/mute 99", Some("5"), "42", Some(Role::Member))),
        0
    );
    assert_eq!(said(&bot, 1).await, ["/mute is for group admins only."]);
    // An admin with a bad argument: the usage line (another user, so the answer is not held back).
    assert_eq!(
        dispatcher.dispatch(message("/mute bob", Some("5"), "43", Some(Role::Admin))),
        0
    );
    assert_eq!(
        said(&bot, 2).await[1],
        "<who> must be a mention or a user id. Usage: /mute <who>"
    );
    // A superuser needs no role.
    assert_eq!(dispatcher.dispatch(message("/mute 99", Some("5"), "7", None)), 1);
    let call = rx.try_recv().unwrap();
    assert!(command_of(&call).superuser);
    // A cooldown: the first run passes, the second is answered by the host; another user is not held up.
    assert_eq!(dispatcher.dispatch(message("/sign", Some("5"), "44", None)), 1);
    assert_eq!(dispatcher.dispatch(message("/sign", Some("5"), "44", None)), 0);
    let text = &said(&bot, 3).await[2];
    assert!(
        text.starts_with("Please wait ") && text.ends_with(" s before using /sign again."),
        "{text}"
    );
    assert_eq!(dispatcher.dispatch(message("/sign", Some("5"), "45", None)), 1);
    // The host answers one user a few times, then one answer per few seconds: a flood of bad commands is three.
    for _ in 0..10 {
        dispatcher.dispatch(message("/mute x", Some("5"), "46", Some(Role::Admin)));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(said(&bot, 6).await.len(), 6);
}

#[tokio::test]
async fn help_lists_what_this_chat_and_sender_may_use() {
    let (dispatcher, bot) = setup(Settings::default());
    let mut kick = spec("kick", &[("who", ArgKind::User, false)]);
    kick.permission = Permission::GroupAdmin;
    let mut dm = spec("dm", &[("text", ArgKind::Rest, false)]);
    dm.scope = CommandScope::Private;
    let (p, _rx) = plugin_with("p", "1", Vec::new(), 8, vec![spec("sign", &[]), kick, dm], 0);
    dispatcher.add(p);
    dispatcher.dispatch(message("/help", Some("5"), "42", Some(Role::Member)));
    assert_eq!(said(&bot, 1).await, ["Commands:\n/sign — sign things"]);
    dispatcher.dispatch(message("/help", None, "43", None));
    assert_eq!(
        said(&bot, 2).await[1],
        "Commands:\n/sign — sign things\n/dm <text...> — dm things"
    );
    dispatcher.dispatch(message("/help kick", Some("5"), "44", Some(Role::Owner)));
    assert_eq!(said(&bot, 3).await[2], "/kick <who> — kick things");
}

#[tokio::test]
async fn a_stop_keeps_the_event_from_lower_priorities_and_next_passes_it_on() {
    let (dispatcher, _bot) = setup(Settings::default());
    let (first, mut first_rx) = plugin_with("first", "1", Vec::new(), 8, Vec::new(), -1);
    let (second, mut second_rx) = plugin_with("second", "1", Vec::new(), 8, Vec::new(), 0);
    let (third, mut third_rx) = plugin_with("third", "1", Vec::new(), 8, Vec::new(), 0);
    dispatcher.add(second);
    dispatcher.add(first);
    dispatcher.add(third);
    // Only the highest level is offered at first.
    assert_eq!(dispatcher.dispatch(message("hi", None, "42", None)), 1);
    let delivery = first_rx.try_recv().unwrap();
    assert!(second_rx.try_recv().is_err());
    // It said `stop`: the others never see it.
    delivery.1.stop();
    drop(delivery);
    assert!(second_rx.try_recv().is_err() && third_rx.try_recv().is_err());
    // Next time it lets it pass: both plugins of the next level get it at once.
    dispatcher.dispatch(message("again", None, "42", None));
    drop(first_rx.try_recv().unwrap());
    assert!(second_rx.try_recv().is_ok() && third_rx.try_recv().is_ok());
}

#[tokio::test]
async fn a_prompt_takes_that_user_s_next_message_in_that_chat_for_the_asker_alone() {
    let (dispatcher, _bot) = setup(Settings::default());
    let (quiz, mut quiz_rx) = plugin_with("quiz", "1", Vec::new(), 8, vec![spec("quiz", &[])], 0);
    let (log, mut log_rx) = plugin_with("log", "1", vec![EventCategory::Message], 8, Vec::new(), 0);
    dispatcher.add(quiz);
    dispatcher.add(log);
    let name: Arc<str> = Arc::from("quiz");
    let chat = Chat::Group("5".into());
    dispatcher.hub().prompts.ask(&name, "1", &chat, "42", 30, "q").unwrap();
    // Someone else's message is an ordinary one.
    assert_eq!(dispatcher.dispatch(message("41", Some("5"), "43", None)), 1);
    log_rx.try_recv().unwrap();
    // The user's answer goes to the asker only.
    assert_eq!(dispatcher.dispatch(message("42", Some("5"), "42", None)), 1);
    match &quiz_rx.try_recv().unwrap().0 {
        Work::Prompt(reply) => {
            assert_eq!(reply.key, "q");
            assert!(matches!(&reply.outcome, PromptOutcome::Answer(m) if m.plain_text == "42"));
        }
        other => panic!("{other:?}"),
    }
    assert!(log_rx.try_recv().is_err());
    // Answered once: the next message is ordinary again.
    assert_eq!(dispatcher.dispatch(message("more", Some("5"), "42", None)), 1);
    log_rx.try_recv().unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_prompt_times_out_to_the_plugin_of_that_name() {
    let (dispatcher, _bot) = setup(Settings::default());
    let (quiz, mut quiz_rx) = plugin_with("quiz", "1", Vec::new(), 8, vec![spec("quiz", &[])], 0);
    dispatcher.add(quiz);
    let timeouts = tokio::spawn(dispatcher.clone().run_prompt_timeouts());
    let name: Arc<str> = Arc::from("quiz");
    dispatcher
        .hub()
        .prompts
        .ask(&name, "1", &Chat::Private("42".into()), "42", 5, "q")
        .unwrap();
    // A new version of the plugin takes over meanwhile; the timeout reaches it.
    let (quiz2, mut quiz2_rx) = plugin_with("quiz", "2", Vec::new(), 8, vec![spec("quiz", &[])], 0);
    dispatcher.replace(quiz2).unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    match &quiz2_rx.try_recv().expect("the timeout").0 {
        Work::Prompt(reply) => assert!(matches!(reply.outcome, PromptOutcome::TimedOut)),
        other => panic!("{other:?}"),
    }
    assert!(quiz_rx.try_recv().is_err());
    timeouts.abort();
}

#[tokio::test]
async fn a_command_word_another_plugin_has_keeps_the_newcomer_out_unless_duplicates_are_allowed() {
    let (dispatcher, _bot) = setup(Settings::default());
    let (a, _a_rx) = plugin_with("a", "1", Vec::new(), 8, vec![spec("sign", &[])], 0);
    dispatcher.replace(a).unwrap();
    let (b, _b_rx) = plugin_with("b", "1", Vec::new(), 8, vec![spec("SIGN", &[])], 0);
    let Err(clash) = dispatcher.replace(b) else {
        panic!("b loaded")
    };
    assert_eq!(
        clash.error.to_string(),
        "command word \"sign\" is already taken by plugin a (set [host] allow_duplicate_commands = true to allow it)"
    );
    assert_eq!(dispatcher.names(), ["a"]);
    // A new version of `a` itself is no clash.
    let (a2, _a2_rx) = plugin_with("a", "2", Vec::new(), 8, vec![spec("sign", &[])], 0);
    assert!(dispatcher.replace(a2).is_ok());
    // The built-in help's word is taken too.
    let (h, _h_rx) = plugin_with("h", "1", Vec::new(), 8, vec![spec("help", &[])], 0);
    let Err(clash) = dispatcher.replace(h) else {
        panic!("h loaded")
    };
    assert_eq!(
        clash.error.to_string(),
        "command word \"help\" is the built-in help's (rename the help with [host] help_command, or \"\" for none)"
    );
    // Allowed duplicates: both get it.
    dispatcher.hub().set_settings(Settings {
        allow_duplicates: true,
        ..Settings::default()
    });
    let (c, _c_rx) = plugin_with("c", "1", Vec::new(), 8, vec![spec("sign", &[])], 0);
    assert!(dispatcher.replace(c).is_ok());
    assert_eq!(dispatcher.dispatch(message("/sign", None, "42", None)), 2);
}

#[tokio::test]
async fn a_missing_role_is_looked_up_once_for_a_command_that_needs_it_and_then_cached() {
    let (dispatcher, bot) = setup(Settings::default());
    let mut mute = spec("mute", &[("who", ArgKind::User, false)]);
    mute.permission = Permission::GroupAdmin;
    let (p, mut rx) = plugin_with("p", "1", Vec::new(), 8, vec![mute, spec("sign", &[])], 0);
    dispatcher.add(p);
    // No role on the event (some implementations leave it out): the host asks the platform, then delivers.
    dispatcher.dispatch(message("/mute 9", Some("5"), "50", None));
    let delivered = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(command_of(&delivered).role, Some(Role::Admin)));
    // Cached: the next one goes straight through, and a command anyone may run never asks.
    assert_eq!(dispatcher.dispatch(message("/mute 9", Some("5"), "50", None)), 1);
    assert!(matches!(command_of(&rx.try_recv().unwrap()).role, Some(Role::Admin)));
    assert_eq!(dispatcher.dispatch(message("/sign", Some("5"), "51", None)), 1);
    assert_eq!(*bot.asked.lock(), ["50"]);
    // A member looked up is refused by the host, as if the event had said so.
    dispatcher.dispatch(message("/mute 9", Some("5"), "52", None));
    assert_eq!(said(&bot, 1).await, ["/mute is for group admins only."]);
    assert_eq!(*bot.asked.lock(), ["50", "52"]);
}
