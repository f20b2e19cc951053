//! Capabilities, grants and rate limits: what a plugin may do, where, and how often.
//!
//! Every [`Action`] maps to exactly one [`Capability`] ([`capability_of`], one exhaustive match, no catch-all),
//! plus content capabilities for what its message carries (`at-all`, `local-file`, `media-url`). A plugin may use a
//! capability only if it both requested it (its `metadata`) and the operator granted it (`[plugins.<name>]
//! grants`), within the grant's scope (groups / users), and within its rate limit. Without any grant a plugin may
//! still send replies into the chat of the event it is handling. A refusal is a [`PolicyError`] value; nothing
//! reaches the platform.
//!
//! [`Policy::check`] is the one place every path decides in: typed calls, raw `call-api` calls, quick operations,
//! broadcasts and timers all arrive as an [`Action`], become [`request::Request`]s (typed twin, targets from
//! facts, content judged on the wire form by [`content`]) and are granted, scoped and charged here.

mod capability;
pub mod content;
pub mod http;
pub mod messages;
pub mod request;
mod scope;
pub mod size;

#[cfg(test)]
#[path = "../../../../tests/support/fixtures.rs"]
pub(crate) mod test_fixtures;

pub use capability::{Capability, capability_of, capability_of_kind, names, standard_capability, standard_kind};
use coral_model::Action;
use coral_model::bindings::{Chat, ErrorCode, WitError};
use coral_model::rate::{Bucket, Rate};
pub use messages::MessageIndex;
use parking_lot::Mutex;
pub use request::{MessageLookup, NoMessages, Request};
pub use scope::{Scope, Target, escape};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// A setting in the operator's config that cannot be read; the config names it by `key`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct SettingError {
    /// The offending key (`plugins.f.http[1]`).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The plugin may not do this (here).
    #[error("permission denied: {reason}")]
    Denied {
        /// The capability it lacked.
        capability: Capability,
        /// Why, for the plugin author and the audit log.
        reason: String,
    },
    /// The plugin used up its rate for this capability.
    #[error("rate limited: `{capability}` allows {rate}; retry in {} ms", retry_after.as_millis())]
    RateLimited {
        /// The capability.
        capability: Capability,
        /// The configured rate, as written.
        rate: String,
        /// Until a token is free.
        retry_after: Duration,
    },
    /// The call cannot be judged as given (an ambiguous target, a malformed name); nothing was sent.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The call carries more than the plugin's size limits allow ([`size::SizeLimits`]); nothing was sent.
    #[error("too large: {0}")]
    TooLarge(String),
}

/// A refusal as the WIT `error` the plugin receives (a rate limit carries its `retry-after-ms`).
impl From<&PolicyError> for WitError {
    fn from(error: &PolicyError) -> Self {
        match error {
            PolicyError::Denied { .. } => WitError::new(ErrorCode::PermissionDenied, error.to_string()),
            PolicyError::RateLimited { retry_after, .. } => WitError {
                retry_after_ms: Some(retry_after.as_millis() as u64),
                ..WitError::new(ErrorCode::RateLimited, error.to_string())
            },
            PolicyError::Invalid(_) => WitError::new(ErrorCode::InvalidArgument, error.to_string()),
            PolicyError::TooLarge(_) => WitError::new(ErrorCode::TooLarge, error.to_string()),
        }
    }
}

/// A plugin's effective permissions: requested ∩ granted, scopes, and live rate-limit buckets.
#[derive(Debug, Default)]
pub struct Policy {
    requested: BTreeSet<Capability>,
    granted: BTreeSet<Capability>,
    default_scope: Scope,
    scopes: HashMap<Capability, Scope>,
    rates: HashMap<Capability, (String, Mutex<Bucket>)>,
    http: std::sync::Arc<http::HttpRules>,
    sizes: size::SizeLimits,
}

/// The operator's grant table for one plugin, already parsed.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// Granted capabilities.
    pub grants: BTreeSet<Capability>,
    /// Scope of every grant unless overridden.
    pub scope: Scope,
    /// Per-capability scopes.
    pub scopes: BTreeMap<Capability, Scope>,
    /// Per-capability rates, with the text they were written as.
    pub rates: BTreeMap<Capability, (String, Rate)>,
    /// Where outgoing HTTP may go and its limits (`http`, `http_limits`).
    pub http: http::HttpRules,
    /// How much one call may carry (`sizes`).
    pub sizes: size::SizeLimits,
}

impl Policy {
    /// The policy of a plugin that requested `requested` and was granted `grants`.
    pub fn new(requested: &[String], grants: &Grants) -> Policy {
        let requested: BTreeSet<Capability> = requested.iter().filter_map(|c| Capability::parse(c).ok()).collect();
        let granted = grants.grants.clone();
        let scopes = grants.scopes.iter().map(|(c, s)| (c.clone(), s.clone())).collect();
        let rates = grants
            .rates
            .iter()
            .map(|(c, (text, rate))| (c.clone(), (text.clone(), Mutex::new(Bucket::new(*rate)))))
            .collect();
        Policy {
            requested,
            granted,
            default_scope: grants.scope.clone(),
            scopes,
            rates,
            http: std::sync::Arc::new(grants.http.clone()),
            sizes: grants.sizes,
        }
    }

    /// How much one call may carry.
    pub fn sizes(&self) -> &size::SizeLimits {
        &self.sizes
    }

    /// The HTTP allowlist and limits.
    pub fn http(&self) -> &std::sync::Arc<http::HttpRules> {
        &self.http
    }

    /// Capabilities the plugin may use (requested and granted).
    pub fn effective(&self) -> BTreeSet<Capability> {
        self.requested.intersection(&self.granted).cloned().collect()
    }

    /// Capabilities requested.
    pub fn requested(&self) -> &BTreeSet<Capability> {
        &self.requested
    }

    /// Capabilities granted.
    pub fn granted(&self) -> &BTreeSet<Capability> {
        &self.granted
    }

    fn scope(&self, capability: &Capability) -> &Scope {
        self.scopes.get(capability).unwrap_or(&self.default_scope)
    }

    fn deny(capability: &Capability, reason: String) -> Result<(), PolicyError> {
        Err(PolicyError::Denied {
            capability: capability.clone(),
            reason,
        })
    }

    /// The capability is granted and requested (anywhere).
    fn held(&self, capability: &Capability) -> Result<(), PolicyError> {
        if !self.granted.contains(capability) {
            return Self::deny(capability, format!("`{capability}` is not granted to this plugin"));
        }
        if !self.requested.contains(capability) {
            return Self::deny(
                capability,
                format!("`{capability}` is granted but the plugin did not request it in its metadata"),
            );
        }
        Ok(())
    }

    fn permit(&self, capability: &Capability, target: &Target) -> Result<(), PolicyError> {
        self.held(capability)?;
        if !self.scope(capability).allows(target) {
            return Self::deny(capability, format!("`{capability}` is not granted for {target}"));
        }
        Ok(())
    }

    /// Decide whether a host service (`storage`, `schedule`, `http`) may be used now: the capability must be
    /// requested and granted (service calls have no group/user target, so scopes do not apply), and its rate
    /// limit (`rate = { storage = "…" }`) is charged.
    pub fn check_service(&self, capability: &Capability) -> Result<(), PolicyError> {
        self.held(capability)?;
        self.charge(capability)
    }

    /// Decide whether a prompt in `chat` may be set now: `prompt` must be requested and granted, for that chat
    /// (unless it is `reply_chat`, where the current event happened), and its rate is charged.
    pub fn check_prompt(&self, chat: &Chat, reply_chat: Option<&Chat>) -> Result<(), PolicyError> {
        let capability = Capability::Prompt;
        if same_chat(Some(chat), reply_chat) {
            self.held(&capability)?;
        } else {
            self.permit(&capability, &Target::of_chat(chat))?;
        }
        self.charge(&capability)
    }

    /// Take one token from the capability's rate bucket, if it has one.
    fn charge(&self, capability: &Capability) -> Result<(), PolicyError> {
        self.charge_all(std::iter::once((capability, 1)))
    }

    /// Take `count` tokens from the bucket of every capability listed (that has a rate; counts of one capability
    /// add up), all or none: if any bucket is short nothing is taken and the refusal names that capability. A count
    /// over a bucket's burst is refused outright (it could never be admitted).
    fn charge_all<'c>(&self, capabilities: impl Iterator<Item = (&'c Capability, u32)>) -> Result<(), PolicyError> {
        if self.rates.is_empty() {
            return Ok(());
        }
        let mut buckets: Vec<(&Capability, u32, &String, &Mutex<Bucket>)> = Vec::new();
        for (capability, count) in capabilities {
            let Some((text, bucket)) = self.rates.get(capability) else {
                continue;
            };
            match buckets.iter_mut().find(|(c, ..)| *c == capability) {
                Some((_, n, ..)) => *n = n.saturating_add(count),
                None => buckets.push((capability, count, text, bucket)),
            }
        }
        // One fixed order (the capabilities' own), so two checks of one plugin never wait on each other's locks.
        buckets.sort_by(|a, b| a.0.cmp(b.0));
        let mut guards: Vec<_> = buckets.iter().map(|(c, n, t, b)| (*c, *n, *t, b.lock())).collect();
        for (capability, count, text, bucket) in guards.iter_mut() {
            if *count > bucket.burst() {
                return Err(PolicyError::Denied {
                    capability: (*capability).clone(),
                    reason: format!("{count} at once is more than `{capability}` allows ({text})"),
                });
            }
            if let Err(retry_after) = bucket.check_n(*count) {
                return Err(PolicyError::RateLimited {
                    capability: (*capability).clone(),
                    rate: (*text).clone(),
                    retry_after,
                });
            }
        }
        for (_, count, _, bucket) in guards.iter_mut() {
            bucket.take_n(*count);
        }
        Ok(())
    }

    /// Decide whether `action` may go to the platform now, on every path (typed call, raw call, quick operation,
    /// broadcast, timer). A raw call's CQ-string messages are first replaced in place by the arrays Coral parsed
    /// (what is judged is what is sent). On success every capability it used has been charged once: the typed
    /// capability, the `call-api:<name>` grant of a raw call, and each content capability (`at-all`,
    /// `local-file`, `media-url`), so an action whose outcome is later unknown still counts.
    pub fn check(&self, action: &mut Action, context: &Context<'_>) -> Result<Decision, PolicyError> {
        // Sizes first: before a CQ string is parsed or a segment turned into JSON.
        self.sizes.check(action)?;
        let (requests, call_api) = match action {
            Action::Raw { action: name, params } => {
                let normalised = request::normalise_name(name)?;
                coral_model::wire::segment::normalise_message_params(params, 0);
                let requests = request::raw(&normalised, params, context.messages)?;
                (requests, Some(Capability::CallApi(normalised)))
            }
            typed => (vec![request::typed(typed, context.messages)?], None),
        };
        // A typed send to the bot's own account is almost always a reply to one of its own messages (go-cqhttp and
        // NapCat report those): answering would loop. A plugin that means it says so with `call-api`.
        if call_api.is_none()
            && let (Some(bot), Some(Chat::Private(user))) = (context.bot, &requests[0].chat)
            && user == bot
        {
            return Err(PolicyError::Invalid(format!(
                "user {} is this bot itself (a reply to its own message would loop); to message the bot's own \
                 account on purpose, use call-api",
                escape(user)
            )));
        }
        let mut content = BTreeSet::new();
        for request in &requests {
            let is_reply = request.reply
                && request.capability == Capability::Send
                && same_chat(request.chat.as_ref(), context.reply_chat);
            if !is_reply && Some(&request.capability) != call_api.as_ref() {
                for target in &request.targets {
                    self.permit(&request.capability, target)?;
                }
            }
            for needed in &request.content.needs {
                for target in &request.targets {
                    self.permit(needed, target)?;
                }
                content.insert(needed.clone());
            }
            for id in &request.content.refs {
                let seen = context.messages.chat_of(id);
                if !same_chat(seen.as_ref(), request.chat.as_ref()) {
                    let place = request
                        .chat
                        .as_ref()
                        .map_or("-".to_string(), |c| Target::of_chat(c).to_string());
                    return Err(PolicyError::Denied {
                        capability: request.capability.clone(),
                        reason: format!(
                            "message {} was not seen in {place}: a reply or forward may only point at a message \
                             from the chat it is sent to",
                            escape(id)
                        ),
                    });
                }
            }
        }
        if let Some(call_api) = &call_api {
            // The operator's `call-api:<name>` grant, scoped like any grant. It adds to the typed capability.
            for request in &requests {
                for target in &request.targets {
                    self.permit(call_api, target)?;
                }
            }
        }
        // Every capability used: the typed ones once per target (a batch kick of ten is ten kicks), the raw grant
        // and the content ones once.
        if !self.rates.is_empty() {
            let used = requests
                .iter()
                .filter(|r| Some(&r.capability) != call_api.as_ref())
                .map(|r| (&r.capability, u32::try_from(r.targets.len().max(1)).unwrap_or(u32::MAX)))
                .chain(call_api.iter().map(|c| (c, 1)))
                .chain(content.iter().map(|c| (c, 1)));
            self.charge_all(used)?;
        }
        let first = requests.into_iter().next().expect("at least one request");
        let is_send = first.capability == Capability::Send;
        Ok(Decision {
            target: first.targets.into_iter().next().unwrap_or_default(),
            capability: first.capability,
            content,
            call_api,
            sent_to: first.chat.filter(|_| is_send),
        })
    }
}

/// Whether two chats are known and the same.
fn same_chat(a: Option<&Chat>, b: Option<&Chat>) -> bool {
    match (a, b) {
        (Some(Chat::Group(a)), Some(Chat::Group(b))) | (Some(Chat::Private(a)), Some(Chat::Private(b))) => a == b,
        _ => false,
    }
}

/// What the policy knows about the call besides the action: where a free reply may go, and where messages are.
pub struct Context<'a> {
    /// The bot the call goes to (its self id), when known.
    pub bot: Option<&'a str>,
    /// The chat of the event being handled, when the call goes to the bot that delivered it.
    pub reply_chat: Option<&'a Chat>,
    /// The messages the plugin saw or sent on that bot.
    pub messages: &'a dyn MessageLookup,
}

impl<'a> Context<'a> {
    /// No event, no known messages (a timer, a test).
    pub fn none() -> Context<'static> {
        Context {
            bot: None,
            reply_chat: None,
            messages: &NoMessages,
        }
    }

    /// A reply context with no known messages.
    pub fn reply(chat: &'a Chat) -> Context<'a> {
        Context {
            bot: None,
            reply_chat: Some(chat),
            messages: &NoMessages,
        }
    }
}

/// An admitted call: what it was charged and audited as.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The typed capability (or `call-api:<name>` for an action with no typed twin).
    pub capability: Capability,
    /// Its (first) target.
    pub target: Target,
    /// The content capabilities it used.
    pub content: BTreeSet<Capability>,
    /// The `call-api:<name>` grant it used, for a raw call.
    pub call_api: Option<Capability>,
    /// Where the message goes, for a send.
    pub sent_to: Option<Chat>,
}

impl Decision {
    /// Whether the call is recorded in the audit log: a privileged capability, a raw call, or content that needs
    /// its own grant.
    pub fn is_audited(&self) -> bool {
        self.capability.is_privileged() || self.call_api.is_some() || !self.content.is_empty()
    }

    /// Every capability it used, for the audit log (`send+at-all`, `call-api:x+kick`).
    pub fn capabilities(&self) -> String {
        let mut names: Vec<String> = self.call_api.iter().map(ToString::to_string).collect();
        if self.call_api.as_ref() != Some(&self.capability) {
            names.push(self.capability.to_string());
        }
        names.extend(self.content.iter().map(ToString::to_string));
        names.join("+")
    }
}

#[cfg(test)]
mod tests;
