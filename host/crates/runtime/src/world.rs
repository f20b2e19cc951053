//! Which contract a component was built against, and calling its exports in that contract: the current
//! `coral:bot@0.4.0` world (which also serves the frozen 0.3.0 one: the same exports, one import fewer), the frozen
//! 0.2.0 one (same imports, no commands or prompts, no flow), or the frozen 0.1.0 one (events converted down,
//! metadata up, by [`crate::interfaces::v0_1`]).

use super::state::PluginState;
use crate::interfaces::v0_1::Conv;
use coral_model::bindings::{self, CommandSpec, Event, Flow, Invocation, PluginMetadata, PromptReply, v0_1, v0_2};
use wasmtime::component::InstancePre;
use wasmtime::{Engine, Store};

/// The contract versions this host serves, newest first (as `coral plugin inspect` and the docs name them).
pub const SUPPORTED: &[&str] = &[
    "coral:bot@0.4.0",
    "coral:bot@0.3.0",
    "coral:bot@0.2.0",
    "coral:bot@0.1.0",
];

/// A component checked against its world, ready to instantiate.
#[derive(Clone)]
pub enum Pre {
    /// Built against the current contract, or `coral:bot@0.3.0` (whose exports are the current ones).
    Current(bindings::PluginPre<PluginState>),
    /// Built against `coral:bot@0.2.0`.
    V0_2(v0_2::PluginPre<PluginState>),
    /// Built against `coral:bot@0.1.0`.
    V0_1(v0_1::PluginPre<PluginState>),
}

/// A live instance.
pub enum Instance {
    /// Current contract.
    Current(bindings::Plugin),
    /// `coral:bot@0.2.0`.
    V0_2(v0_2::Plugin),
    /// `coral:bot@0.1.0`.
    V0_1(v0_1::Plugin),
}

/// What a call into a plugin answered: a flow, or the plugin's error text.
type Answer = wasmtime::Result<Result<Flow, String>>;

impl Pre {
    /// Check `pre`'s exports against the world its imports name (`wit_version`, e.g. `coral:bot@0.1.0`); any
    /// other version is checked against the current world, so a mismatch names what is supported.
    pub fn new(pre: InstancePre<PluginState>, wit_version: &str) -> wasmtime::Result<Self> {
        if wit_version.starts_with("coral:bot@0.1.") {
            Ok(Pre::V0_1(v0_1::PluginPre::new(pre)?))
        } else if wit_version.starts_with("coral:bot@0.2.") {
            Ok(Pre::V0_2(v0_2::PluginPre::new(pre)?))
        } else {
            Ok(Pre::Current(bindings::PluginPre::new(pre)?))
        }
    }

    /// The engine it was compiled with.
    pub fn engine(&self) -> &Engine {
        match self {
            Pre::Current(pre) => pre.engine(),
            Pre::V0_2(pre) => pre.engine(),
            Pre::V0_1(pre) => pre.engine(),
        }
    }

    /// Instantiate it in `store`.
    pub async fn instantiate_async(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::Current(pre) => Instance::Current(pre.instantiate_async(store).await?),
            Pre::V0_2(pre) => Instance::V0_2(pre.instantiate_async(store).await?),
            Pre::V0_1(pre) => Instance::V0_1(pre.instantiate_async(store).await?),
        })
    }
}

impl Instance {
    /// `metadata`.
    pub async fn call_metadata(&self, store: &mut Store<PluginState>) -> wasmtime::Result<PluginMetadata> {
        match self {
            Instance::Current(plugin) => plugin.call_metadata(store).await,
            Instance::V0_2(plugin) => plugin.call_metadata(store).await,
            Instance::V0_1(plugin) => Ok(plugin.call_metadata(store).await?.conv()),
        }
    }

    /// `commands` (none before 0.3.0).
    pub async fn call_commands(&self, store: &mut Store<PluginState>) -> wasmtime::Result<Vec<CommandSpec>> {
        match self {
            Instance::Current(plugin) => plugin.call_commands(store).await,
            Instance::V0_2(_) | Instance::V0_1(_) => Ok(Vec::new()),
        }
    }

    /// `setup`.
    pub async fn call_setup(
        &self,
        store: &mut Store<PluginState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Instance::Current(plugin) => plugin.call_setup(store, config).await,
            Instance::V0_2(plugin) => plugin.call_setup(store, config).await,
            Instance::V0_1(plugin) => plugin.call_setup(store, config).await,
        }
    }

    /// `on-event` (converted down for a 0.1.0 plugin: later fields are not part of its contract). Plugins before
    /// 0.3.0 have no say in the flow: they always let the event go on.
    pub async fn call_on_event(&self, store: &mut Store<PluginState>, event: &Event) -> Answer {
        match self {
            Instance::Current(plugin) => plugin.call_on_event(store, event).await,
            Instance::V0_2(plugin) => Ok(plugin.call_on_event(store, event).await?.map(|()| Flow::Next)),
            Instance::V0_1(plugin) => Ok(plugin
                .call_on_event(store, &event.clone().conv())
                .await?
                .map(|()| Flow::Next)),
        }
    }

    /// `on-command` (only plugins of 0.3.0 or later declare commands, so only they are given one).
    pub async fn call_on_command(&self, store: &mut Store<PluginState>, call: &Invocation) -> Answer {
        match self {
            Instance::Current(plugin) => plugin.call_on_command(store, call).await,
            Instance::V0_2(_) | Instance::V0_1(_) => Ok(Err("this plugin's contract has no commands".into())),
        }
    }

    /// `on-prompt` (only plugins of 0.3.0 or later can prompt).
    pub async fn call_on_prompt(
        &self,
        store: &mut Store<PluginState>,
        reply: &PromptReply,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Instance::Current(plugin) => plugin.call_on_prompt(store, reply).await,
            Instance::V0_2(_) | Instance::V0_1(_) => Ok(Err("this plugin's contract has no prompts".into())),
        }
    }
}
