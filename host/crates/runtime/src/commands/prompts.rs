//! Pending prompts: "send this user's next message in this chat to me". Kept by plugin *name*, so a prompt
//! outlives a reload of the plugin that asked (the new version gets the reply); one per user and chat.

use coral_model::bindings::Chat;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

/// Most prompts one plugin may have pending.
pub const MAX_PER_PLUGIN: usize = 64;
/// Longest prompt timeout, seconds.
pub const MAX_TIMEOUT_SECS: u32 = 3600;
/// Longest prompt key, bytes.
pub const MAX_KEY: usize = 128;

/// A chat on a bot as a map key (`<bot>\0g:<id>` or `<bot>\0p:<id>`): the one key format of prompts, cooldowns,
/// host answers and roles.
pub fn chat_key(self_id: &str, chat: &Chat) -> String {
    match chat {
        Chat::Group(id) => format!("{self_id}\u{0}g:{id}"),
        Chat::Private(id) => format!("{self_id}\u{0}p:{id}"),
    }
}

/// A user in a chat on a bot as a map key.
pub fn member_key(self_id: &str, chat: &Chat, user_id: &str) -> String {
    format!("{}\u{0}{user_id}", chat_key(self_id, chat))
}

/// A pending prompt.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The plugin that asked (by name).
    pub plugin: Arc<str>,
    /// The plugin's key for it.
    pub key: String,
    /// The bot.
    pub self_id: String,
    /// The chat.
    pub chat: Chat,
    /// The user.
    pub user_id: String,
    /// When it times out.
    pub deadline: Instant,
}

/// Why a prompt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// Another plugin is already waiting for this user in this chat.
    #[error("another plugin ({0}) is already waiting for this user's answer in this chat")]
    Busy(String),
    /// The plugin has too many pending.
    #[error("at most {MAX_PER_PLUGIN} prompts may be pending per plugin")]
    TooMany,
    /// A bad timeout or key.
    #[error("{0}")]
    Invalid(String),
}

/// Every pending prompt, and a wake-up for the timeout task when one is added.
#[derive(Default)]
pub struct Prompts {
    pending: Mutex<HashMap<String, Pending>>,
    /// Notified when a prompt is added (its deadline may be the nearest).
    pub changed: Notify,
}

impl Prompts {
    /// Ask for `user_id`'s next message in `chat`. The same plugin asking again replaces its prompt.
    pub fn ask(
        &self,
        plugin: &Arc<str>,
        self_id: &str,
        chat: &Chat,
        user_id: &str,
        timeout_secs: u32,
        prompt_key: &str,
    ) -> Result<(), PromptError> {
        if timeout_secs == 0 || timeout_secs > MAX_TIMEOUT_SECS {
            return Err(PromptError::Invalid(format!(
                "timeout-secs must be 1 to {MAX_TIMEOUT_SECS}, not {timeout_secs}"
            )));
        }
        if prompt_key.len() > MAX_KEY {
            return Err(PromptError::Invalid(format!("a prompt key is at most {MAX_KEY} bytes")));
        }
        let k = member_key(self_id, chat, user_id);
        let mut pending = self.pending.lock();
        match pending.get(&k) {
            Some(p) if p.plugin != *plugin => return Err(PromptError::Busy(p.plugin.to_string())),
            Some(_) => {}
            None => {
                if pending.values().filter(|p| p.plugin == *plugin).count() >= MAX_PER_PLUGIN {
                    return Err(PromptError::TooMany);
                }
            }
        }
        pending.insert(
            k,
            Pending {
                plugin: plugin.clone(),
                key: prompt_key.to_string(),
                self_id: self_id.to_string(),
                chat: chat.clone(),
                user_id: user_id.to_string(),
                deadline: Instant::now() + Duration::from_secs(timeout_secs.into()),
            },
        );
        drop(pending);
        self.changed.notify_one();
        Ok(())
    }

    /// Withdraw `plugin`'s prompt for this user and chat.
    pub fn cancel(&self, plugin: &str, self_id: &str, chat: &Chat, user_id: &str) -> bool {
        let k = member_key(self_id, chat, user_id);
        let mut pending = self.pending.lock();
        if pending.get(&k).is_some_and(|p| &*p.plugin == plugin) {
            pending.remove(&k);
            return true;
        }
        false
    }

    /// The prompt this message answers, if any (taken: it is answered once).
    pub fn take_answer(&self, self_id: &str, chat: &Chat, user_id: &str) -> Option<Pending> {
        self.take_answer_if(self_id, chat, user_id, |_| true)
    }

    /// The prompt this message answers, if its plugin is `admitted` (else it stays pending, to time out).
    pub fn take_answer_if(
        &self,
        self_id: &str,
        chat: &Chat,
        user_id: &str,
        admitted: impl FnOnce(&str) -> bool,
    ) -> Option<Pending> {
        let mut pending = self.pending.lock();
        let k = member_key(self_id, chat, user_id);
        let found = pending.remove(&k)?;
        if found.deadline <= Instant::now() || !admitted(&found.plugin) {
            // Timed out already: the timeout task delivers that; the message is an ordinary one.
            pending.insert(k, found);
            return None;
        }
        Some(found)
    }

    /// Take every prompt whose deadline has passed.
    pub fn take_expired(&self) -> Vec<Pending> {
        let now = Instant::now();
        let mut pending = self.pending.lock();
        let keys: Vec<String> = pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| pending.remove(k)).collect()
    }

    /// The nearest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.lock().values().map(|p| p.deadline).min()
    }

    /// How many are pending.
    pub fn len(&self) -> usize {
        self.pending.lock().len()
    }

    /// Whether none is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_prompt_is_answered_once_by_its_user_in_its_chat_and_otherwise_times_out() {
        let prompts = Prompts::default();
        let quiz: Arc<str> = Arc::from("quiz");
        let group = Chat::Group("7".into());
        prompts.ask(&quiz, "1", &group, "42", 30, "q1").unwrap();
        // Someone else, or the same user elsewhere, does not answer it.
        assert!(prompts.take_answer("1", &group, "43").is_none());
        assert!(prompts.take_answer("1", &Chat::Private("42".into()), "42").is_none());
        let answered = prompts.take_answer("1", &group, "42").unwrap();
        assert_eq!((&*answered.plugin, answered.key.as_str()), ("quiz", "q1"));
        assert!(prompts.take_answer("1", &group, "42").is_none());
        prompts.ask(&quiz, "1", &group, "42", 30, "q2").unwrap();
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(
            prompts.take_answer("1", &group, "42").is_none(),
            "a late answer is not an answer"
        );
        let expired = prompts.take_expired();
        assert_eq!(expired.len(), 1);
        assert!(prompts.is_empty());
    }

    #[tokio::test]
    async fn a_second_plugin_is_busy_and_limits_hold() {
        let prompts = Prompts::default();
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let chat = Chat::Private("5".into());
        prompts.ask(&a, "1", &chat, "5", 10, "").unwrap();
        assert_eq!(
            prompts.ask(&b, "1", &chat, "5", 10, ""),
            Err(PromptError::Busy("a".into()))
        );
        // The same plugin replaces its own.
        prompts.ask(&a, "1", &chat, "5", 20, "again").unwrap();
        assert_eq!(prompts.len(), 1);
        assert!(!prompts.cancel("b", "1", &chat, "5"));
        assert!(prompts.cancel("a", "1", &chat, "5"));
        assert!(matches!(
            prompts.ask(&a, "1", &chat, "5", 0, ""),
            Err(PromptError::Invalid(_))
        ));
        assert!(matches!(
            prompts.ask(&a, "1", &chat, "5", 3601, ""),
            Err(PromptError::Invalid(_))
        ));
        assert!(matches!(
            prompts.ask(&a, "1", &chat, "5", 1, &"k".repeat(129)),
            Err(PromptError::Invalid(_))
        ));
        for i in 0..MAX_PER_PLUGIN {
            prompts.ask(&a, "1", &chat, &i.to_string(), 10, "").unwrap();
        }
        assert_eq!(prompts.ask(&a, "1", &chat, "x", 10, ""), Err(PromptError::TooMany));
    }
}
