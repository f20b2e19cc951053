//! Unit tests of what each plugin sees: `enabled_in`, blocked users and groups, and per-group switches keep
//! events, commands, prompt answers and help entries away from a plugin, and only from that plugin.

use super::plugin_with;
use crate::commands::{Hub, Settings};
use crate::dispatcher::{Delivery, Dispatcher, Work};
use crate::visibility::{Rules, Sight};
use coral_model::bindings::{Chat, ChatType, Event, EventCategory, EventKind, PromptOutcome};
use std::sync::Arc;
use tokio::sync::mpsc;

fn message(text: &str, group: Option<&str>, user: &str) -> Event {
    let kind = if group.is_some() {
        ChatType::Group
    } else {
        ChatType::Private
    };
    crate::test_support::message(kind, text, user, group, None)
}

fn drain(rx: &mut mpsc::Receiver<Delivery>) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Ok(d) = rx.try_recv() {
        out.push(d);
    }
    out
}

/// `echo` sees everything; `quiet` only group 5 and no private chat, and declares `/sign`.
fn setup() -> (Dispatcher, mpsc::Receiver<Delivery>, mpsc::Receiver<Delivery>) {
    let hub = Arc::new(Hub::default());
    hub.set_settings(Settings::default());
    let dispatcher = Dispatcher::new(hub.clone());
    let (echo, echo_rx) = plugin_with(
        "echo",
        "1",
        vec![EventCategory::Message, EventCategory::Other],
        16,
        Vec::new(),
        0,
    );
    let (quiet, quiet_rx) = plugin_with(
        "quiet",
        "1",
        vec![EventCategory::Message, EventCategory::Other],
        16,
        vec![crate::test_support::command("sign", &[])],
        0,
    );
    dispatcher.add(echo);
    dispatcher.add(quiet);
    let mut rules = Rules::default();
    rules.sights.insert(
        "quiet".into(),
        Sight {
            groups: Some(["5".to_string()].into()),
            users: None,
            private: false,
        },
    );
    hub.visibility.set_rules(rules);
    (dispatcher, echo_rx, quiet_rx)
}

#[tokio::test]
async fn a_plugin_gets_nothing_from_chats_outside_enabled_in_not_even_its_own_command() {
    let (dispatcher, mut echo, mut quiet) = setup();
    assert_eq!(dispatcher.dispatch(message("/sign", Some("5"), "42")), 2);
    assert!(matches!(drain(&mut quiet)[..], [(Work::Command(_), _)]));
    drain(&mut echo);
    // Group 6 and a private chat: the command word is nobody's there, so `echo` gets a plain message.
    for event in [
        message("/sign", Some("6"), "42"),
        message("/sign", None, "42"),
        message("hi", Some("6"), "42"),
    ] {
        assert_eq!(dispatcher.dispatch(event), 1);
        assert!(drain(&mut quiet).is_empty());
        assert!(matches!(drain(&mut echo)[..], [(Work::Event(_), _)]));
    }
    // An event of a kind Coral has no case for is placed by its JSON.
    let other = |group: u64| Event {
        kind: EventKind::Other(format!(r#"{{"post_type":"x","group_id":{group},"user_id":42}}"#)),
        ..message("", Some("5"), "42")
    };
    assert_eq!(dispatcher.dispatch(other(6)), 1);
    assert!(drain(&mut quiet).is_empty());
    assert_eq!(dispatcher.dispatch(other(5)), 2);
    assert_eq!(drain(&mut quiet).len(), 1);
}

#[tokio::test]
async fn blocked_users_and_groups_reach_no_plugin() {
    let (dispatcher, mut echo, mut quiet) = setup();
    dispatcher.hub().visibility.set_rules(Rules {
        blocked_users: ["13".to_string()].into(),
        blocked_groups: ["7".to_string()].into(),
        ..Rules::default()
    });
    for event in [
        message("/sign", Some("5"), "13"),
        message("hi", None, "13"),
        message("/sign", Some("7"), "42"),
    ] {
        assert_eq!(dispatcher.dispatch(event), 0);
    }
    assert!(drain(&mut echo).is_empty() && drain(&mut quiet).is_empty());
    assert_eq!(dispatcher.dispatch(message("/sign", Some("5"), "42")), 2);
}

#[tokio::test]
async fn a_group_switched_off_hides_it_at_once_and_a_pending_prompt_is_not_answered_there() {
    let (dispatcher, mut echo, mut quiet) = setup();
    let hub = dispatcher.hub().clone();
    let group = Chat::Group("5".into());
    hub.prompts
        .ask(&Arc::from("quiet"), "1", &group, "42", 60, "k")
        .unwrap();
    assert!(hub.visibility.switch("quiet", "5", false).unwrap());
    assert_eq!(dispatcher.dispatch(message("yes", Some("5"), "42")), 1);
    assert!(
        drain(&mut quiet).is_empty(),
        "switched off: not even the prompt's answer"
    );
    assert!(matches!(drain(&mut echo)[..], [(Work::Event(_), _)]));
    assert_eq!(hub.prompts.len(), 1, "the prompt stays, to time out");
    assert!(hub.visibility.switch("quiet", "5", true).unwrap());
    assert_eq!(dispatcher.dispatch(message("yes", Some("5"), "42")), 1);
    match &drain(&mut quiet)[..] {
        [(Work::Prompt(reply), _)] => assert!(matches!(reply.outcome, PromptOutcome::Answer(_))),
        other => panic!("{} deliveries", other.len()),
    }
}
