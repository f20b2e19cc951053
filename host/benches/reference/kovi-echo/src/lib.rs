//! The echo plugin of the Kovi reference bot: answers `ping K` with `pong K` through Kovi's ordinary reply API.

use kovi::PluginBuilder as plugin;
use kovi_onebot::EventRegistrar as _;

#[kovi::plugin]
async fn main() {
    plugin::on_msg(|event| async move {
        if let Some(k) = event.borrow_text().and_then(|text| text.strip_prefix("ping ")) {
            event.reply(format!("pong {k}"));
        }
    });
}
