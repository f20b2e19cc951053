//! Builders the runtime's unit tests share: a message event and a command declaration.

use coral_model::bindings::{
    ArgKind, ArgSpec, ChatType, CommandScope, CommandSpec, Event, EventKind, MessageEvent, Permission, Role, Segment,
    Sender,
};

/// A message event on bot `1` of this kind, from `user`, in `group` (if any), with `role`, saying `text`.
pub(crate) fn message(kind: ChatType, text: &str, user: &str, group: Option<&str>, role: Option<Role>) -> Event {
    Event {
        platform: "test".into(),
        self_id: "1".into(),
        time: 1_700_000_000,
        kind: EventKind::Message(MessageEvent {
            message_type: kind,
            sub_type: "normal".into(),
            message_id: "9".into(),
            user_id: user.into(),
            group_id: group.map(Into::into),
            sender: Sender {
                user_id: user.into(),
                nickname: "n".into(),
                card: None,
                sex: None,
                age: None,
                area: None,
                level: None,
                role,
                title: None,
            },
            anonymous: None,
            message: vec![Segment::Text(text.into())],
            raw_message: text.into(),
            plain_text: text.into(),
            to_me: false,
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

/// A command anyone may run anywhere, without cooldowns, described as `<name> things`.
pub(crate) fn command(name: &str, args: &[(&str, ArgKind, bool)]) -> CommandSpec {
    CommandSpec {
        name: name.into(),
        aliases: vec![],
        args: args
            .iter()
            .map(|(n, k, o)| ArgSpec {
                name: (*n).into(),
                kind: *k,
                optional: *o,
            })
            .collect(),
        description: format!("{name} things"),
        permission: Permission::Everyone,
        scope: CommandScope::Both,
        user_cooldown_secs: 0,
        group_cooldown_secs: 0,
    }
}
