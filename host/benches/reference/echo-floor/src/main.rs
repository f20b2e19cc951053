//! The floor of the load benchmark (`host/benches/onebot_load.rs`, `CORAL_LOAD_PEER=floor`): the least a OneBot V11
//! bot can do. A forward-WebSocket client of the URL given as its only argument; it parses each frame, answers a
//! message whose text is `ping K` with a `send_msg` carrying `pong K`, and ignores everything else (the action
//! answers included). One thread, no framework, no plugins.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The concatenated text segments of a message event (array form), or its string form.
fn text(event: &Value) -> String {
    match &event["message"] {
        Value::Array(segments) => segments
            .iter()
            .filter(|s| s["type"] == "text")
            .filter_map(|s| s["data"]["text"].as_str())
            .collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).ok_or("usage: echo-floor ws://HOST:PORT/")?;
    let (socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let (mut sink, mut stream) = socket.split();
    let mut echo: u64 = 0;
    while let Some(frame) = stream.next().await {
        let Message::Text(frame) = frame? else {
            continue;
        };
        let event: Value = serde_json::from_str(&frame)?;
        if event["post_type"] != "message" {
            continue; // an action's answer, a meta event
        }
        let text = text(&event);
        let Some(k) = text.strip_prefix("ping ") else {
            continue;
        };
        let mut params = json!({
            "message_type": event["message_type"],
            "message": [{"type": "text", "data": {"text": format!("pong {k}")}}],
        });
        match event["message_type"].as_str() {
            Some("group") => params["group_id"] = event["group_id"].clone(),
            _ => params["user_id"] = event["user_id"].clone(),
        }
        echo += 1;
        let action = json!({"action": "send_msg", "params": params, "echo": echo});
        sink.send(Message::text(action.to_string())).await?;
    }
    Ok(())
}
