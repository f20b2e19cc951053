//! Fixture: drives `coral:bot/http` through the SDK. `get <url>` answers `get <status> loc=<location|-> <first
//! body line>`, `post <url>` posts `{"probe":1}` with `post_json` and answers the same way; a refusal or failure
//! answers `<verb> err <code> <retcode> <message>`.

use coral_sdk::http::{Response, get, post_json};
use coral_sdk::prelude::*;

struct Probe;

fn answer(verb: &str, result: Result<Response, Error>) -> String {
    match result {
        Ok(response) => {
            let text = response.text();
            let first = text.lines().next().unwrap_or("").trim().to_string();
            let location = response.redirect_location().unwrap_or("-").to_string();
            format!("{verb} {} loc={location} {first}", response.status)
        }
        Err(e) => format!("{verb} err {:?} {} {}", e.code, e.retcode, e.message),
    }
}

impl Plugin for Probe {
    fn metadata() -> Metadata {
        Metadata::new("http-probe", "0.1.0")
            .description("calls coral:bot/http fetch")
            .capabilities(["http"])
            .events([EventCategory::Message])
    }
    fn init(_config: Config) -> Result<Self, String> {
        Ok(Probe)
    }
    fn on_message(&mut self, bot: &Bot, msg: &MessageEvent) -> HandlerResult {
        let text = msg.plain_text.trim();
        if let Some(url) = text.strip_prefix("get ") {
            bot.reply(msg, answer("get", get(url.trim())))?;
        } else if let Some(url) = text.strip_prefix("post ") {
            let body = serde_json::json!({ "probe": 1 });
            bot.reply(msg, answer("post", post_json(url.trim(), &body)))?;
        }
        Ok(())
    }
}

export_plugin!(Probe);
