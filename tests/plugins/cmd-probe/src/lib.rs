//! `cmd-probe`: a fixture for the host's commands. `/echo <n> [who] [rest...]` answers with what the host parsed;
//! `/fail` returns an error; `/boss` is for superusers; `/askme <secs>` prompts the sender and reports the answer
//! or the timeout; a plain message containing `block` is answered `blocked` and stopped (lower priorities do not
//! see it).

use coral_sdk::command::{self, ArgValue, Args, PromptOutcome};
use coral_sdk::prelude::*;

struct Probe;

fn show(value: &Option<ArgValue>) -> String {
    match value {
        None => "-".into(),
        Some(ArgValue::Int(n)) => n.to_string(),
        Some(ArgValue::Text(t)) => format!("{t:?}"),
        Some(ArgValue::User(u)) => format!("user:{u}"),
    }
}

impl Plugin for Probe {
    fn metadata() -> Metadata {
        Metadata::new("cmd-probe", "0.1.0")
            .description("reports what the host's command parser gives it")
            .capabilities(["prompt"])
            .events([EventCategory::Message])
    }

    fn init(_config: Config) -> Result<Self, String> {
        Ok(Probe)
    }

    fn commands() -> Vec<Command> {
        vec![
            Command::new("echo")
                .alias("e")
                .description("show the parsed arguments")
                .arg("n", ArgKind::Int)
                .optional("who", ArgKind::User)
                .optional("rest", ArgKind::Rest),
            Command::new("fail").description("return an error"),
            Command::new("boss").description("superusers only").superuser_only(),
            Command::new("askme")
                .description("ask the sender something")
                .arg("secs", ArgKind::Int),
        ]
    }

    fn on_command(&mut self, bot: &Bot, cmd: &Invocation) -> HandlerResult {
        match cmd.command.as_str() {
            "echo" => {
                let args: Vec<String> = cmd.args.iter().map(show).collect();
                bot.reply(
                    &cmd.message,
                    format!(
                        "echo [{}] alias={} prefix={:?} superuser={} role={:?} time_ok={}",
                        args.join(" "),
                        cmd.alias,
                        cmd.prefix,
                        cmd.superuser,
                        cmd.role,
                        event_time() > 1_600_000_000
                    ),
                )?;
            }
            "fail" => return Err("deliberate failure".into()),
            "boss" => {
                bot.reply(&cmd.message, "boss ok")?;
            }
            "askme" => {
                let secs = cmd.int(0).unwrap_or(10).clamp(0, 4000) as u32;
                match command::prompt(&cmd.self_id, &cmd.chat(), &cmd.message.user_id, secs, "k1") {
                    Ok(()) => bot.reply(&cmd.message, "asked: what is your answer?")?,
                    Err(e) => bot.reply(&cmd.message, format!("prompt refused: {:?} {}", e.code, e.message))?,
                };
            }
            other => return Err(format!("unknown command {other}").into()),
        }
        Ok(())
    }

    fn on_prompt(&mut self, bot: &Bot, reply: &PromptReply) -> HandlerResult {
        let text = match &reply.outcome {
            PromptOutcome::Answer(message) => format!("answer to {}: {}", reply.key, message.plain_text),
            PromptOutcome::TimedOut => format!("{} timed out", reply.key),
        };
        bot.send_message(&reply.chat, text)?;
        Ok(())
    }

    fn on_message(&mut self, bot: &Bot, message: &MessageEvent) -> HandlerResult {
        if message.plain_text.contains("block") {
            command::stop();
            bot.reply(message, "blocked")?;
        }
        Ok(())
    }
}

export_plugin!(Probe);
