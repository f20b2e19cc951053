//! The messages a plugin has seen, by bot and id ([`MessageIndex`]): the facts a recall, quote or forward is
//! judged by (a message may be pointed at only in the chat it was seen in).

use crate::request::MessageLookup;
use coral_model::bindings::Chat;

/// Recent message ids and their chats, per bot, bounded (oldest forgotten first). Message ids are only unique per
/// bot, so the same id seen on two bots is two entries.
#[derive(Debug, Default)]
pub struct MessageIndex {
    chats: std::collections::HashMap<(String, String), Chat>,
    order: std::collections::VecDeque<(String, String)>,
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
        let key = (bot.to_string(), message_id.to_string());
        match self.chats.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => return,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(chat.clone());
            }
        }
        self.order.push_back(key);
        if self.order.len() > MESSAGE_INDEX_LEN
            && let Some(old) = self.order.pop_front()
        {
            self.chats.remove(&old);
        }
    }

    /// Where a message of `bot` is, if known.
    pub fn chat_of(&self, bot: &str, message_id: &str) -> Option<Chat> {
        self.chats.get(&(bot.to_string(), message_id.to_string())).cloned()
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
