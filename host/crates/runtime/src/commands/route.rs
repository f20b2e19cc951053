//! Who gets an event, and as what: a prompt's answer goes to the plugin that asked (and nowhere else); a
//! command goes, parsed and checked, to the plugins that declare it (or the host answers: usage, cooldown,
//! refusal, `help`); every other plugin that wants the event gets it as it is.

use super::parse::{self, Input};
use super::{Hub, Settings, fill, in_scope, permits, who};
use crate::dispatcher::{PluginHandle, Work};
use coral_model::bindings::{
    Chat, ChatType, Event, EventCategory, EventKind, Invocation, MessageEvent, Permission, PromptOutcome, PromptReply,
};

/// Longest `help` answer, bytes.
const MAX_HELP: usize = 3000;

/// The chat a message was sent in.
pub fn chat_of(message: &MessageEvent) -> Chat {
    match (&message.message_type, &message.group_id) {
        (ChatType::Group, Some(group)) => Chat::Group(group.clone()),
        _ => Chat::Private(message.user_id.clone()),
    }
}

/// What routing decided.
pub(crate) enum Routed {
    /// Each delivery the event makes, as (index into `plugins`, work).
    Deliver(Vec<(usize, Work)>),
    /// A command that needs the sender's group role came without one: look it up (bot, group, user), then route
    /// the event again.
    NeedsRole(Box<(Event, [String; 3])>),
}

/// Each delivery an event makes, as (index into `plugins`, work). `look_up`: whether a missing group role may be
/// looked up first (once per event).
pub(crate) fn route(hub: &Hub, plugins: &[PluginHandle], mut event: Event, look_up: bool) -> Routed {
    // Which plugins may not see it (empty: all may). A blocked sender or group: nobody, not even the host.
    let hidden: Vec<bool> = {
        let view = hub.visibility.view();
        match event.place().filter(|_| !view.is_open()) {
            None => Vec::new(),
            Some(place) if view.blocked(&place) => return Routed::Deliver(Vec::new()),
            Some(place) => plugins.iter().map(|p| !view.sees(&p.name, &place)).collect(),
        }
    };
    if let EventKind::Message(m) = &mut event.kind
        && m.sender.role.is_none()
        && let (ChatType::Group, Some(group)) = (&m.message_type, &m.group_id)
    {
        m.sender.role = hub.cached_role(&event.self_id, group, &m.user_id);
    }
    if look_up && let Some(who) = role_needed(hub, plugins, &hidden, &event) {
        return Routed::NeedsRole(Box::new((event, who)));
    }
    Routed::Deliver(deliveries(hub, plugins, &hidden, event))
}

/// Whether plugin `i` may not see the event.
fn is_hidden(hidden: &[bool], i: usize) -> bool {
    hidden.get(i).copied().unwrap_or(false)
}

/// The (bot, group, user) whose role a command in this message needs and nobody knows.
fn role_needed(hub: &Hub, plugins: &[PluginHandle], hidden: &[bool], event: &Event) -> Option<[String; 3]> {
    let EventKind::Message(m) = &event.kind else {
        return None;
    };
    let (ChatType::Group, Some(group), None) = (&m.message_type, &m.group_id, m.sender.role) else {
        return None;
    };
    if m.self_sent || hub.is_superuser(&m.user_id) || plugins.iter().all(|p| p.commands.is_empty()) {
        return None;
    }
    let settings = hub.settings();
    let input = Input::new(&m.message, &event.self_id);
    let visible = || {
        plugins
            .iter()
            .enumerate()
            .filter(|(i, _)| !is_hidden(hidden, *i))
            .map(|(_, p)| p)
    };
    let head = parse::heads(&input, &settings.prefixes)
        .into_iter()
        .find(|h| visible().any(|p| p.commands.find(&h.word).is_some()))?;
    let needs = visible()
        .filter_map(|p| p.commands.find(&head.word))
        .any(|spec| matches!(spec.permission, Permission::GroupAdmin | Permission::GroupOwner));
    needs.then(|| [event.self_id.clone(), group.clone(), m.user_id.clone()])
}

fn deliveries(hub: &Hub, plugins: &[PluginHandle], hidden: &[bool], event: Event) -> Vec<(usize, Work)> {
    let category = event.category();
    let EventKind::Message(message) = &event.kind else {
        return plain(plugins, event, category, hidden);
    };
    let chat = chat_of(message);
    // The plugin that asked may be gone: then the message is an ordinary one. One that may no longer see this
    // chat does not get the answer (its prompt times out).
    let sees = |name: &str| {
        plugins
            .iter()
            .position(|p| &*p.name == name)
            .is_some_and(|i| !is_hidden(hidden, i))
    };
    if !hub.prompts.is_empty()
        && let Some(prompt) = hub
            .prompts
            .take_answer_if(&event.self_id, &chat, &message.user_id, sees)
        && let Some(i) = plugins.iter().position(|p| p.name == prompt.plugin)
    {
        let reply = PromptReply {
            key: prompt.key,
            self_id: prompt.self_id,
            chat: prompt.chat,
            user_id: prompt.user_id,
            outcome: PromptOutcome::Answer(message.clone()),
        };
        return vec![(i, Work::Prompt(Box::new(reply)))];
    }
    // A plugin that may not see the event counts as having taken it: it gets nothing.
    let mut taken: Vec<bool> = (0..plugins.len()).map(|i| is_hidden(hidden, i)).collect();
    let mut out = Vec::new();
    let settings = hub.settings();
    let any_commands = settings.help.is_some() || plugins.iter().any(|p| !p.commands.is_empty());
    if any_commands && !message.self_sent {
        let input = Input::new(&message.message, &event.self_id);
        let superuser = settings.superusers.contains(&message.user_id);
        let role = message.sender.role;
        for head in parse::heads(&input, &settings.prefixes) {
            if settings.help.as_deref() == Some(head.word.as_str()) {
                let text = help(&settings, plugins, hidden, &chat, &input, &head, role, superuser);
                hub.answer(&event.self_id, &chat, &message.user_id, text);
                break;
            }
            let candidates: Vec<usize> = plugins
                .iter()
                .enumerate()
                .filter(|(i, p)| {
                    !is_hidden(hidden, *i) && p.commands.find(&head.word).is_some_and(|spec| in_scope(spec, &chat))
                })
                .map(|(i, _)| i)
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let mut refusal = None;
            for i in candidates {
                taken[i] = true;
                let plugin = &plugins[i];
                let Some(spec) = plugin.commands.find(&head.word) else {
                    continue;
                };
                let command = format!("{}{}", head.prefix, spec.name);
                if !permits(spec.permission, &chat, role, superuser) {
                    refusal.get_or_insert_with(|| {
                        fill(
                            &settings.texts.denied,
                            &[("command", &command), ("who", who(spec.permission))],
                        )
                    });
                    continue;
                }
                // Per user in this chat, and per group.
                let command_key = format!("{}\u{0}{}", plugin.name, spec.name);
                let member = super::prompts::member_key(&event.self_id, &chat, &message.user_id);
                let mut keys = vec![format!("{command_key}\u{0}{member}")];
                let mut lengths = vec![spec.user_cooldown_secs];
                if let Chat::Group(_) = &chat {
                    keys.push(format!(
                        "{command_key}\u{0}{}",
                        super::prompts::chat_key(&event.self_id, &chat)
                    ));
                    lengths.push(spec.group_cooldown_secs);
                }
                let left = keys
                    .iter()
                    .zip(&lengths)
                    .filter_map(|(k, &len)| hub.cooling(k, len))
                    .max();
                if let Some(left) = left {
                    let secs = left.as_millis().div_ceil(1000).max(1).to_string();
                    refusal.get_or_insert_with(|| {
                        fill(&settings.texts.cooldown, &[("command", &command), ("secs", &secs)])
                    });
                    continue;
                }
                let args = match parse::args(spec, &input, head.after) {
                    Ok(args) => args,
                    Err(bad) => {
                        let usage = parse::usage(head.prefix, spec);
                        refusal.get_or_insert_with(|| {
                            fill(
                                &settings.texts.usage,
                                &[("command", &command), ("usage", &usage), ("problem", &bad.0)],
                            )
                        });
                        continue;
                    }
                };
                let timed: Vec<String> = keys
                    .into_iter()
                    .zip(&lengths)
                    .filter(|(_, len)| **len > 0)
                    .map(|(k, _)| k)
                    .collect();
                hub.start_cooldowns(&timed);
                let call = Invocation {
                    command: spec.name.clone(),
                    alias: head.word.clone(),
                    prefix: head.prefix.to_string(),
                    args,
                    text: parse::text_after(&input, head.after),
                    message: message.clone(),
                    self_id: event.self_id.clone(),
                    time: event.time,
                    role,
                    superuser,
                };
                out.push((i, Work::Command(Box::new(call))));
            }
            if out.is_empty()
                && let Some(text) = refusal
            {
                hub.answer(&event.self_id, &chat, &message.user_id, text);
            }
            break;
        }
    }
    out.extend(plain(plugins, event, category, &taken));
    out
}

/// The event as it is, to every plugin that wants it and has not taken it as a command.
fn plain(plugins: &[PluginHandle], event: Event, category: EventCategory, taken: &[bool]) -> Vec<(usize, Work)> {
    let mut out = Vec::new();
    // A copy for each plugin but the last, which gets the event itself.
    let mut last = None;
    for (i, p) in plugins.iter().enumerate() {
        if !taken.get(i).copied().unwrap_or(false)
            && p.wants(category)
            && let Some(before) = last.replace(i)
        {
            out.push((before, Work::Event(Box::new(event.clone()))));
        }
    }
    if let Some(i) = last {
        out.push((i, Work::Event(Box::new(event))));
    }
    out
}

/// The built-in help: the commands the sender may use in this chat, or one command's usage (`help sign`).
#[allow(
    clippy::too_many_arguments,
    reason = "one call site; the pieces of one routed message"
)]
fn help(
    settings: &Settings,
    plugins: &[PluginHandle],
    hidden: &[bool],
    chat: &Chat,
    input: &Input,
    head: &parse::Head<'_>,
    role: Option<coral_model::bindings::Role>,
    superuser: bool,
) -> String {
    let shown_prefix = settings.shown_prefix();
    let usable = plugins
        .iter()
        .enumerate()
        .filter(|(i, _)| !is_hidden(hidden, *i))
        .flat_map(|(_, p)| p.commands.specs())
        .filter(|spec| in_scope(spec, chat) && permits(spec.permission, chat, role, superuser));
    let asked = parse::text_after(input, head.after).to_lowercase();
    let asked = asked.strip_prefix(shown_prefix).unwrap_or(&asked).to_string();
    let mut text = String::new();
    if asked.is_empty() {
        text.push_str(&settings.texts.help_header);
        for spec in usable {
            let line = format!("\n{} — {}", parse::usage(shown_prefix, spec), spec.description);
            if text.len() + line.len() > MAX_HELP {
                text.push_str("\n…");
                break;
            }
            text.push_str(&line);
        }
    } else {
        let mut found = usable
            .filter(|spec| spec.name == asked || spec.aliases.contains(&asked))
            .peekable();
        if found.peek().is_none() {
            return format!("No command {shown_prefix}{}.", coral_model::text::bounded(&asked, 32));
        }
        for spec in found {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("{} — {}", parse::usage(shown_prefix, spec), spec.description));
            if !spec.aliases.is_empty() {
                text.push_str(&format!(" (also: {})", spec.aliases.join(", ")));
            }
        }
    }
    text
}
