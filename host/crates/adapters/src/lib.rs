//! `coral-adapters`: the platforms. Each adapter registers one [`coral_model::BotConnection`] per bot account in the host's
//! [`coral_model::Bots`] and delivers the events it decodes to a [`coral_model::EventSink`].

pub mod console;
pub mod onebot;

#[cfg(test)]
#[path = "../../../../tests/support/fixtures.rs"]
pub(crate) mod test_fixtures;
