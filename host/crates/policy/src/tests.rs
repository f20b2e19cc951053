//! Tests of [`Policy::check`]: the helpers they share, and one module per topic in `tests/`.

use super::*;
use coral_model::bindings::coral::bot::types::{Image, OtherSegment};
use coral_model::bindings::{Media, Segment, SendOptions};
use std::collections::HashMap;

fn grants(caps: &[&str]) -> Grants {
    Grants {
        grants: caps.iter().map(|c| Capability::parse(c).unwrap()).collect(),
        ..Grants::default()
    }
}

fn req(caps: &[&str]) -> Vec<String> {
    caps.iter().map(|c| c.to_string()).collect()
}

fn policy(caps: &[&str]) -> Policy {
    Policy::new(&req(caps), &grants(caps))
}

fn kick(group: &str) -> Action {
    Action::SetGroupKick {
        group_id: group.into(),
        user_id: "42".into(),
        reject_add_request: false,
    }
}

fn send(chat: Chat, message: Vec<Segment>) -> Action {
    send_with(chat, message, None, None)
}

fn send_with(chat: Chat, message: Vec<Segment>, at: Option<&str>, reply_to: Option<&str>) -> Action {
    Action::SendMsg {
        target: chat,
        message,
        options: SendOptions {
            at_sender: at.map(Into::into),
            reply_to: reply_to.map(Into::into),
        },
    }
}

fn raw(action: &str, params: serde_json::Value) -> Action {
    Action::Raw {
        action: action.into(),
        params,
    }
}

/// Messages known in chats (as the index of one bot would say).
struct Known(HashMap<&'static str, Chat>);

impl MessageLookup for Known {
    fn chat_of(&self, id: &str) -> Option<Chat> {
        self.0.get(id).cloned()
    }
}

fn check(p: &Policy, action: &Action) -> Result<Decision, PolicyError> {
    p.check(&mut action.clone(), &Context::none())
}

fn check_in(p: &Policy, action: &Action, here: &Chat) -> Result<Decision, PolicyError> {
    p.check(&mut action.clone(), &Context::reply(here))
}

fn denied(result: Result<Decision, PolicyError>) -> Capability {
    match result {
        Err(PolicyError::Denied { capability, .. }) => capability,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn image(file: &str) -> Segment {
    Segment::Image(Image {
        media: Media {
            file: file.into(),
            url: None,
            cache: None,
            proxy: None,
            timeout_secs: None,
        },
        flash: false,
        sub_type: None,
        summary: None,
        file_size: None,
        filename: None,
    })
}

fn other(kind: &str, data: serde_json::Value) -> Segment {
    Segment::Other(OtherSegment {
        kind: kind.into(),
        data_json: data.to_string(),
    })
}

mod grants_and_scopes;
mod message_content;
mod quick_operations;
mod rate_limits;
mod raw_calls;
