//! `coral:bot/command`: prompts (checked like any action: capability `prompt`, its scope and rate, audited when
//! refused; kept in the host's [`crate::commands::Hub`] by plugin name) and whether a user is a superuser.

use crate::state::PluginState;
use coral_model::HostError;
use coral_model::bindings::coral::bot::command::Host;
use coral_model::bindings::{Chat, ErrorCode};
use coral_policy::{Capability, Target};

impl Host for PluginState {
    async fn prompt(
        &mut self,
        self_id: String,
        chat: Chat,
        user_id: String,
        timeout_secs: u32,
        key: String,
    ) -> Result<(), HostError> {
        self.count_host_call()?;
        let reply_chat = self
            .reply_chat
            .as_ref()
            .filter(|(bot, _)| *bot == self_id)
            .map(|(_, c)| c);
        if let Err(refusal) = self.shared.policy().check_prompt(&chat, reply_chat) {
            return Err(self.refuse(
                &self_id,
                "prompt",
                &Capability::Prompt,
                &Target::of_chat(&chat),
                &refusal,
            ));
        }
        if self.shared.bots.get(&self_id).is_none() {
            return Err(HostError::new(
                ErrorCode::BotUnavailable,
                format!("no bot {}", coral_model::text::bounded(&self_id, 64)),
            ));
        }
        let hub = self.shared.hub.clone();
        hub.prompts
            .ask(&self.shared.name, &self_id, &chat, &user_id, timeout_secs, &key)
            .map_err(|e| {
                let code = match e {
                    crate::commands::prompts::PromptError::Busy(_) => ErrorCode::Busy,
                    crate::commands::prompts::PromptError::TooMany => ErrorCode::QuotaExceeded,
                    crate::commands::prompts::PromptError::Invalid(_) => ErrorCode::InvalidArgument,
                };
                HostError::new(code, e.to_string())
            })
    }

    async fn cancel_prompt(&mut self, self_id: String, chat: Chat, user_id: String) -> wasmtime::Result<bool> {
        self.count_host_call()?;
        Ok(self
            .shared
            .hub
            .prompts
            .cancel(&self.shared.name, &self_id, &chat, &user_id))
    }

    async fn is_superuser(&mut self, user_id: String) -> wasmtime::Result<bool> {
        self.count_host_call()?;
        Ok(self.shared.hub.is_superuser(&user_id))
    }
}
