//! `signin`: a group sign-in plugin, the host doing the command work. `/sign` (or `签到`) signs you in for the
//! day: 10 points, plus your streak; `/points [@who]` shows points; `/reset <@who>` (group admins) clears
//! someone's; `/quiz` asks you a question and waits for *your* next message in that chat; a daily reminder is
//! posted to the groups in config.
//!
//! Everything a hand-written version had to do — splitting text, a per-user cooldown, an admin check, a pending
//! question with an expiry — is declared in `commands()` and done by the host.
//!
//! ```toml
//! [plugins.signin]
//! grants = ["storage", "schedule", "prompt", "send"]
//! [plugins.signin.config]
//! remind_groups = ["1000001"]   # where the daily reminder goes (needs `send` for those groups)
//! remind_cron = "0 0 * * *"     # when, UTC (default 00:00 UTC = 08:00 in China)
//! quiz_secs = 30                # how long /quiz waits for the answer
//! bot = "console"               # the bot the reminder is sent from
//! ```

use coral_sdk::command::{Args, PromptOutcome};
use coral_sdk::prelude::*;
use coral_sdk::schedule::When;
use serde::{Deserialize, Serialize};

/// What is kept per user per group.
#[derive(Default, Serialize, Deserialize)]
struct Record {
    points: i64,
    streak: i64,
    last_day: i64,
}

struct SignIn {
    quiz_secs: u32,
    groups: Vec<String>,
    bot: String,
}

fn key(chat: &Chat, user: &str) -> String {
    match chat {
        Chat::Group(g) => format!("g:{g}:{user}"),
        Chat::Private(_) => format!("p:{user}"),
    }
}

fn load(key: &str) -> Result<Record, Error> {
    Ok(storage::get_json(key)?.unwrap_or_default())
}

impl Plugin for SignIn {
    fn metadata() -> Metadata {
        Metadata::new("signin", "0.1.0")
            .description("daily sign-in with points, streaks, a quiz and a morning reminder")
            .capabilities(["storage", "schedule", "prompt", "send"])
    }

    fn commands() -> Vec<Command> {
        vec![
            Command::new("sign")
                .alias("签到")
                .description("sign in for today")
                .group_only()
                .user_cooldown(3),
            Command::new("points")
                .description("show points (yours, or someone's)")
                .optional("who", ArgKind::User),
            Command::new("reset")
                .description("clear someone's points")
                .arg("who", ArgKind::User)
                .admin_only()
                .group_only(),
            Command::new("quiz")
                .description("answer a question for 5 points")
                .user_cooldown(5),
        ]
    }

    fn init(config: Config) -> Result<Self, String> {
        let groups: Vec<String> = config.get("remind_groups").unwrap_or_default();
        let cron: String = config.get("remind_cron").unwrap_or_else(|| "0 0 * * *".into());
        if !groups.is_empty() {
            schedule::add("remind", When::Cron(cron), "").map_err(|e| format!("reminder: {}", e.message))?;
        }
        Ok(SignIn {
            quiz_secs: config.get("quiz_secs").unwrap_or(30),
            groups,
            bot: config.get("bot").unwrap_or_else(|| "console".into()),
        })
    }

    fn on_command(&mut self, bot: &Bot, cmd: &Invocation) -> HandlerResult {
        let chat = cmd.chat();
        let me = &cmd.message.user_id;
        match cmd.command.as_str() {
            "sign" => {
                let key = key(&chat, me);
                let mut record = load(&key)?;
                let today = event_time().div_euclid(86_400);
                if record.last_day == today {
                    bot.reply_at_sender(
                        &cmd.message,
                        format!("already signed in today ({} points)", record.points),
                    )?;
                    return Ok(());
                }
                record.streak = if record.last_day == today - 1 {
                    record.streak + 1
                } else {
                    1
                };
                record.last_day = today;
                record.points += 10 + record.streak - 1;
                storage::set_json(&key, &record, None)?;
                bot.reply_at_sender(
                    &cmd.message,
                    format!("signed in: streak {} day(s), {} points", record.streak, record.points),
                )?;
            }
            "points" => {
                let who = cmd.user(0).unwrap_or(me);
                let record = load(&key(&chat, who))?;
                bot.reply(&cmd.message, format!("{who} has {} points", record.points))?;
            }
            "reset" => {
                let who = cmd.user(0).unwrap_or_default();
                storage::delete(&key(&chat, who))?;
                bot.reply(&cmd.message, format!("points of {who} cleared"))?;
            }
            "quiz" => {
                command::prompt(&cmd.self_id, &chat, me, self.quiz_secs, "6x7")?;
                bot.reply_at_sender(&cmd.message, format!("what is 6 × 7? ({} s)", self.quiz_secs))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn on_prompt(&mut self, bot: &Bot, reply: &PromptReply) -> HandlerResult {
        let text = match &reply.outcome {
            PromptOutcome::Answer(message) if message.plain_text.trim() == "42" => {
                let key = key(&reply.chat, &reply.user_id);
                let mut record = load(&key)?;
                record.points += 5;
                storage::set_json(&key, &record, None)?;
                format!("right, {}: 5 points ({} in all)", reply.user_id, record.points)
            }
            PromptOutcome::Answer(_) => format!("no, {}: it is 42", reply.user_id),
            PromptOutcome::TimedOut => format!("time's up, {}: it was 42", reply.user_id),
        };
        bot.send_message(&reply.chat, text)?;
        Ok(())
    }

    fn on_timer(&mut self, _timer: &TimerEvent) -> HandlerResult {
        let bot = get_bot(self.bot.clone());
        for group in &self.groups {
            bot.send_group_message(group, "good morning! /sign to keep your streak")?;
        }
        Ok(())
    }
}

export_plugin!(SignIn);
