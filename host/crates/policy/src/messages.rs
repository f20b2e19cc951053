//! The messages a plugin has seen, by bot and id ([`MessageIndex`]): the facts a recall, quote or forward is
//! judged by (a message may be pointed at only in the chat it was seen in).

use crate::request::MessageLookup;
use coral_model::bindings::Chat;
use std::sync::Arc;

/// Recent message ids and their chats, per bot, bounded (oldest forgotten first). Message ids are only unique per
/// bot, so the same id seen on two bots is two entries.
#[derive(Debug, Default)]
pub struct MessageIndex {
    /// By [`key`]: one shared string per entry, in the map and in the order.
    chats: std::collections::HashMap<Arc<str>, Chat>,
    order: std::collections::VecDeque<Arc<str>>,
    /// The key being looked up, reused: remembering an id already known allocates nothing.
    scratch: String,
}

/// The key of `message_id` on `bot`: the bot's length first, so no two pairs share a key.
fn key(out: &mut String, bot: &str, message_id: &str) {
    use std::fmt::Write as _;
    out.clear();
    // Writing into a String cannot fail.
    let _ = write!(out, "{}:{bot}{message_id}", bot.len());
}

/// How many message ids a plugin's index remembers.
const MESSAGE_INDEX_LEN: usize = 4096;

impl MessageIndex {
    /// Remember where a message of `bot` is. The first chat an id was seen in stays its chat: a later sighting
    /// elsewhere (an id named by a quote or forward inside another chat's message, whose fields the sender wrote)
    /// never moves it, so a recall or quote allowed in that other chat cannot reach it.
    pub fn remember(&mut self, bot: &str, message_id: &str, chat: &Chat) {
        if message_id.is_empty() {
            return;
        }
        key(&mut self.scratch, bot, message_id);
        if self.chats.contains_key(self.scratch.as_str()) {
            return;
        }
        let key: Arc<str> = Arc::from(self.scratch.as_str());
        self.chats.insert(key.clone(), chat.clone());
        self.order.push_back(key);
        if self.order.len() > MESSAGE_INDEX_LEN
            && let Some(old) = self.order.pop_front()
        {
            self.chats.remove(&old);
        }
    }

    /// Where a message of `bot` is, if known.
    pub fn chat_of(&self, bot: &str, message_id: &str) -> Option<Chat> {
        let mut wanted = String::new();
        key(&mut wanted, bot, message_id);
        self.chats.get(wanted.as_str()).cloned()
    }

    /// The index as one bot's [`MessageLookup`].
    pub fn of_bot<'a>(&'a self, bot: &'a str) -> BotMessages<'a> {
        BotMessages { index: self, bot }
    }
}

/// The messages known on one bot.
pub struct BotMessages<'a> {
    index: &'a MessageIndex,
    bot: &'a str,
}

impl MessageLookup for BotMessages<'_> {
    fn chat_of(&self, message_id: &str) -> Option<Chat> {
        self.index.chat_of(self.bot, message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the index puts a message, as text.
    fn at(index: &MessageIndex, bot: &str, id: &str) -> Option<String> {
        index.chat_of(bot, id).map(|chat| match chat {
            Chat::Group(group) => format!("group {group}"),
            Chat::Private(user) => format!("user {user}"),
        })
    }

    #[test]
    fn ids_are_kept_apart_by_bot_and_the_oldest_is_forgotten_first() {
        let mut index = MessageIndex::default();
        let (group, user) = (Chat::Group("5".into()), Chat::Private("7".into()));
        // The same text split differently between bot and id is two entries.
        index.remember("1", "23", &group);
        index.remember("12", "3", &user);
        assert_eq!(at(&index, "1", "23").as_deref(), Some("group 5"));
        assert_eq!(at(&index, "12", "3").as_deref(), Some("user 7"));
        assert_eq!(at(&index, "123", ""), None);
        // An empty id is never remembered.
        index.remember("1", "", &group);
        assert_eq!(at(&index, "1", ""), None);
        // A known id keeps its chat and its place; past the limit the oldest goes.
        index.remember("1", "23", &user);
        assert_eq!(at(&index, "1", "23").as_deref(), Some("group 5"));
        for n in 0..MESSAGE_INDEX_LEN - 1 {
            index.remember("9", &n.to_string(), &group);
        }
        assert_eq!(at(&index, "1", "23"), None, "the oldest is forgotten");
        assert_eq!(at(&index, "12", "3").as_deref(), Some("user 7"));
        assert_eq!(index.chats.len(), MESSAGE_INDEX_LEN);
        assert_eq!(index.order.len(), MESSAGE_INDEX_LEN);
    }
}
