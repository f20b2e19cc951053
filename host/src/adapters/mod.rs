//! Platforms: each adapter registers one [`coral_model::BotConnection`] per bot account in the host's
//! [`coral_model::Bots`] and delivers the events it decodes to a [`coral_model::EventSink`].

pub mod console;
pub mod onebot;
