//! The [`Plugin`] trait a plugin implements, its [`Metadata`], its [`Config`], and [`export_plugin!`](crate::export_plugin).

use crate::bindings::coral::bot::types::{
    Event, EventCategory, EventKind, MessageEvent, MetaEvent, NoticeEvent, PluginMetadata, RequestEvent, TimerEvent,
};
use crate::bot::{Bot, get_bot};
use crate::command::{Command, Flow, Invocation, PromptReply};
use std::any::Any;
use std::cell::{Cell, RefCell};

/// What an event handler returns: any error is logged by the host and counted as a failed event.
pub type HandlerResult = Result<(), Box<dyn std::error::Error>>;

/// What a plugin tells the host about itself.
#[derive(Debug, Clone)]
pub struct Metadata(PluginMetadata);

impl Metadata {
    /// A plugin called `name` at `version`; it requests no capabilities and wants every event until you say
    /// otherwise.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Metadata(PluginMetadata {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            capabilities: Vec::new(),
            events: Vec::new(),
            config_schema: None,
        })
    }

    /// One line saying what the plugin does.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.0.description = description.into();
        self
    }

    /// The capabilities the plugin asks for (`send`, `recall`, `kick`, `ban`, …). The operator decides which are
    /// granted.
    pub fn capabilities<S: Into<String>>(mut self, capabilities: impl IntoIterator<Item = S>) -> Self {
        self.0.capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }

    /// The event categories to deliver (default: all).
    pub fn events(mut self, events: impl IntoIterator<Item = EventCategory>) -> Self {
        self.0.events = events.into_iter().collect();
        self
    }

    /// A JSON Schema for the plugin's `[plugins.<name>.config]` table. `coral check` reports every place the
    /// table breaks it, and the host refuses to load the plugin with such a config. Supported keywords: `type`,
    /// `properties`, `required`, `additionalProperties`, `items`, `minItems`, `maxItems`, `enum`, `const`,
    /// `minimum`, `maximum`, `minLength`, `maxLength` (others, like `pattern`, make the schema invalid).
    pub fn config_schema(mut self, schema: &serde_json::Value) -> Self {
        self.0.config_schema = Some(schema.to_string());
        self
    }

    #[doc(hidden)]
    pub fn into_wit(self) -> PluginMetadata {
        self.0
    }
}

/// The plugin's `[plugins.<name>.config]` table from `coral.toml`.
///
/// ```no_run
/// # fn f(config: coral_sdk::Config) {
/// let words: Vec<String> = config.get("words").unwrap_or_default();
/// let minutes: u32 = config.get("ban_minutes").unwrap_or(10);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Config(serde_json::Value);

impl Config {
    /// Parse the JSON the host passes to the `setup` export.
    pub fn from_json(json: &str) -> Result<Self, String> {
        serde_json::from_str(json)
            .map(Config)
            .map_err(|e| format!("config is not valid JSON: {e}"))
    }

    /// Read a key, converting it to `T`; `None` when missing or of the wrong type.
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The whole table as JSON.
    pub fn json(&self) -> &serde_json::Value {
        &self.0
    }
}

/// A Coral plugin. Implement [`Plugin::metadata`] and [`Plugin::init`], override the handlers you need, then
/// call [`export_plugin!`](crate::export_plugin) once.
///
/// The host calls one handler at a time; state lives in `self`. If the plugin traps (a panic) or exceeds its
/// CPU or memory budget, the host discards the instance and starts a fresh one, calling `init` again.
pub trait Plugin: Sized + 'static {
    /// Describe the plugin.
    fn metadata() -> Metadata;

    /// Create the plugin from its config; an `Err` stops it from loading.
    fn init(config: Config) -> Result<Self, String>;

    /// The commands it offers (see [`crate::command`]); none by default. A plugin with commands gets plain
    /// messages only if [`Metadata::events`] names [`EventCategory::Message`].
    fn commands() -> Vec<Command> {
        Vec::new()
    }

    /// One of its commands, parsed and checked by the host (read arguments with [`crate::command::Args`]).
    fn on_command(&mut self, bot: &Bot, command: &Invocation) -> HandlerResult {
        let _ = (bot, command);
        Ok(())
    }

    /// The answer to one of its prompts ([`crate::command::prompt`]), or its timeout.
    fn on_prompt(&mut self, bot: &Bot, reply: &PromptReply) -> HandlerResult {
        let _ = (bot, reply);
        Ok(())
    }

    /// Any event. The default dispatches to the `on_*` methods below.
    fn on_event(&mut self, event: &Event) -> HandlerResult {
        let bot = get_bot(event.self_id.clone());
        match &event.kind {
            EventKind::Message(m) => self.on_message(&bot, m),
            EventKind::Notice(n) => self.on_notice(&bot, n),
            EventKind::Request(r) => self.on_request(&bot, r),
            EventKind::Meta(m) => self.on_meta(&bot, m),
            EventKind::Other(json) => self.on_other(&bot, json),
            EventKind::Timer(timer) => self.on_timer(timer),
        }
    }

    /// One of the plugin's scheduled jobs is due (see [`crate::schedule`]). No bot comes with it: use
    /// [`get_bot`] with an id you saved (e.g. in the payload).
    fn on_timer(&mut self, timer: &TimerEvent) -> HandlerResult {
        let _ = timer;
        Ok(())
    }

    /// A message.
    fn on_message(&mut self, bot: &Bot, message: &MessageEvent) -> HandlerResult {
        let _ = (bot, message);
        Ok(())
    }

    /// A notice (someone joined, was muted, recalled a message, poked…).
    fn on_notice(&mut self, bot: &Bot, notice: &NoticeEvent) -> HandlerResult {
        let _ = (bot, notice);
        Ok(())
    }

    /// A friend or group request.
    fn on_request(&mut self, bot: &Bot, request: &RequestEvent) -> HandlerResult {
        let _ = (bot, request);
        Ok(())
    }

    /// A meta event (lifecycle, heartbeat).
    fn on_meta(&mut self, bot: &Bot, meta: &MetaEvent) -> HandlerResult {
        let _ = (bot, meta);
        Ok(())
    }

    /// An event type Coral does not know, as JSON.
    fn on_other(&mut self, bot: &Bot, json: &str) -> HandlerResult {
        let _ = (bot, json);
        Ok(())
    }
}

thread_local! {
    static STATE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    static TIME: Cell<i64> = const { Cell::new(0) };
}

/// When the event being handled happened, Unix seconds (a command's or a prompt answer's message time too; for
/// a prompt's timeout, 0).
pub fn event_time() -> i64 {
    TIME.with(Cell::get)
}

/// Glue called by the code [`export_plugin!`](crate::export_plugin) generates.
#[doc(hidden)]
pub mod rt {
    use super::*;

    pub fn metadata<P: Plugin>() -> PluginMetadata {
        P::metadata().into_wit()
    }

    pub fn init<P: Plugin>(config_json: String) -> Result<(), String> {
        let config = Config::from_json(if config_json.is_empty() { "{}" } else { &config_json })?;
        let plugin = P::init(config)?;
        STATE.with(|s| *s.borrow_mut() = Some(Box::new(plugin)));
        Ok(())
    }

    fn with_plugin<P: Plugin>(time: i64, f: impl FnOnce(&mut P) -> HandlerResult) -> Result<Flow, String> {
        TIME.with(|t| t.set(time));
        crate::command::take_flow();
        STATE.with(|s| {
            let mut state = s.borrow_mut();
            let plugin = state
                .as_mut()
                .and_then(|p| p.downcast_mut::<P>())
                .ok_or_else(|| "called before setup".to_string())?;
            f(plugin).map_err(|e| e.to_string())
        })?;
        Ok(crate::command::take_flow())
    }

    pub fn commands<P: Plugin>() -> Vec<crate::command::CommandSpec> {
        P::commands().into_iter().map(Command::into_wit).collect()
    }

    pub fn on_event<P: Plugin>(event: Event) -> Result<Flow, String> {
        with_plugin::<P>(event.time, |p| p.on_event(&event))
    }

    pub fn on_command<P: Plugin>(call: Invocation) -> Result<Flow, String> {
        let bot = get_bot(call.self_id.clone());
        with_plugin::<P>(call.time, |p| p.on_command(&bot, &call))
    }

    pub fn on_prompt<P: Plugin>(reply: PromptReply) -> Result<(), String> {
        let bot = get_bot(reply.self_id.clone());
        with_plugin::<P>(0, |p| p.on_prompt(&bot, &reply)).map(|_| ())
    }
}

/// Export a [`Plugin`] implementation as the component's `coral:bot/plugin` world. Call it once per plugin crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        pub struct __CoralPluginExport;

        impl $crate::bindings::Guest for __CoralPluginExport {
            fn metadata() -> $crate::bindings::coral::bot::types::PluginMetadata {
                $crate::plugin::rt::metadata::<$plugin>()
            }
            fn setup(config_json: String) -> Result<(), String> {
                $crate::plugin::rt::init::<$plugin>(config_json)
            }
            fn commands() -> Vec<$crate::command::CommandSpec> {
                $crate::plugin::rt::commands::<$plugin>()
            }
            fn on_event(event: $crate::Event) -> Result<$crate::command::Flow, String> {
                $crate::plugin::rt::on_event::<$plugin>(event)
            }
            fn on_command(call: $crate::command::Invocation) -> Result<$crate::command::Flow, String> {
                $crate::plugin::rt::on_command::<$plugin>(call)
            }
            fn on_prompt(reply: $crate::command::PromptReply) -> Result<(), String> {
                $crate::plugin::rt::on_prompt::<$plugin>(reply)
            }
        }

        $crate::bindings::__export_plugin_world!(__CoralPluginExport with_types_in $crate::bindings);
    };
}
