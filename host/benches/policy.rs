//! Benchmark: the cost of one policy check (grant + scope + content + rate limit), as every plugin call pays it.
//! Run: `cargo bench --bench policy`.

use coral_model::Action;
use coral_model::bindings::{Chat, Segment, SendOptions};
use coral_model::rate::Rate;
use coral_policy::{Capability, Context, Grants, Policy, Scope};
use std::hint::black_box;
use std::time::Instant;

fn time(label: &str, n: u32, mut f: impl FnMut()) {
    for _ in 0..n / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{label}: {:.0} ns per check ({n} checks)",
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
}

fn main() {
    let requested: Vec<String> = ["send", "kick", "ban"].iter().map(|s| s.to_string()).collect();
    let mut grants = Grants {
        grants: [Capability::Send, Capability::Kick, Capability::Ban].into(),
        scope: Scope {
            groups: Some((1_000_000..1_000_050).map(|g: u32| g.to_string()).collect()),
            users: None,
        },
        ..Grants::default()
    };
    // A rate high enough never to refuse during the run, so every check does the full work.
    grants.rates.insert(
        Capability::Kick,
        ("1000000000/s".into(), Rate::parse("1000000000/s").unwrap()),
    );
    let policy = Policy::new(&requested, &grants);
    let mut send = Action::SendMsg {
        target: Chat::Group("1000007".into()),
        message: vec![Segment::Text("pong 42".into()), Segment::At("10001".into())],
        options: SendOptions {
            at_sender: None,
            reply_to: None,
        },
    };
    let mut kick = Action::SetGroupKick {
        group_id: "1000007".into(),
        user_id: "42".into(),
        reject_add_request: false,
    };
    let reply_chat = Chat::Group("1000007".into());
    time("send, reply into the event's chat", 2_000_000, || {
        black_box(
            policy
                .check(black_box(&mut send), &Context::reply(&reply_chat))
                .unwrap(),
        );
    });
    time("send, scoped grant (50 groups)", 2_000_000, || {
        black_box(policy.check(black_box(&mut send), &Context::none()).unwrap());
    });
    time("kick, scoped grant + rate limit", 2_000_000, || {
        black_box(policy.check(black_box(&mut kick), &Context::none()).unwrap());
    });
    let mut image = Action::SendMsg {
        target: Chat::Group("1000007".into()),
        message: vec![
            Segment::Text("look".into()),
            Segment::Image(coral_model::bindings::coral::bot::types::Image {
                media: coral_model::bindings::Media {
                    file: "abc.image".into(),
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
            }),
        ],
        options: SendOptions {
            at_sender: Some("42".into()),
            reply_to: None,
        },
    };
    time(
        "send with an image and at-sender, reply (content judged on the wire form)",
        1_000_000,
        || {
            black_box(
                policy
                    .check(black_box(&mut image), &Context::reply(&reply_chat))
                    .unwrap(),
            );
        },
    );
    let raw_grants = Grants {
        grants: [
            Capability::Send,
            Capability::Kick,
            Capability::CallApi("send_group_msg".into()),
            Capability::CallApi("set_group_kick".into()),
        ]
        .into(),
        ..Grants::default()
    };
    let raw_requested: Vec<String> = ["send", "kick", "call-api:send_group_msg", "call-api:set_group_kick"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let raw_policy = Policy::new(&raw_requested, &raw_grants);
    // A fresh action each time: a raw call's CQ string is replaced by its array in place (the clone is measured too).
    let raw_send = Action::Raw {
        action: "send_group_msg_async".into(),
        params: serde_json::json!({"group_id": 1000007, "message": "pong [CQ:face,id=1] 42"}),
    };
    time(
        "raw send_group_msg_async with a CQ string (incl. cloning the action)",
        1_000_000,
        || {
            let mut action = raw_send.clone();
            black_box(raw_policy.check(black_box(&mut action), &Context::none()).unwrap());
        },
    );
    time("cloning that raw action alone", 1_000_000, || {
        black_box(black_box(&raw_send).clone());
    });
    let mut raw_kick = Action::Raw {
        action: "SET_GROUP_KICK".into(),
        params: serde_json::json!({"group_id": 1000007, "user_id": 42}),
    };
    time("raw kick (alias, typed twin + call-api)", 1_000_000, || {
        black_box(raw_policy.check(black_box(&mut raw_kick), &Context::none()).unwrap());
    });
    let mut denied = Action::SetGroupWholeBan {
        group_id: "1000007".into(),
        enable: true,
    };
    time("whole-ban, denied", 2_000_000, || {
        black_box(policy.check(black_box(&mut denied), &Context::none()).unwrap_err());
    });
}
