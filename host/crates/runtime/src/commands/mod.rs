//! Commands and conversations, done once by the host for every plugin: each plugin's checked [`CommandTable`],
//! the operator's [`Settings`] (prefixes, superusers, answer texts), and the [`Hub`] that holds what outlives
//! one plugin version: cooldowns, pending prompts, and the rate of the host's own answers.

pub mod parse;
pub mod prompts;
pub mod route;

use coral_model::Bots;
use coral_model::bindings::{ArgKind, Chat, CommandScope, CommandSpec, Permission, Role, Segment, SendOptions};
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest command name or alias, bytes.
pub const MAX_NAME: usize = 32;
/// Most commands one plugin may declare.
pub const MAX_COMMANDS: usize = 64;
/// Most aliases per command.
pub const MAX_ALIASES: usize = 8;
/// Most arguments per command.
pub const MAX_ARGS: usize = 16;
/// Longest description, bytes (longer ones are cut).
pub const MAX_DESCRIPTION: usize = 200;
/// Longest cooldown, seconds.
pub const MAX_COOLDOWN: u32 = 86_400;
/// Host answers one user may get in one chat at once ...
pub const ANSWER_BURST: u32 = 3;
/// ... and then one per this long.
pub const ANSWER_EVERY: Duration = Duration::from_secs(5);
/// Cooldown and answer entries kept before old ones are swept.
const SWEEP_AT: usize = 10_000;
/// How long a group role the host looked up is trusted.
pub const ROLE_TTL: Duration = Duration::from_secs(600);
/// Role lookups (`get_group_member_info`) the host has in flight at most.
pub const MAX_ROLE_LOOKUPS: usize = 8;

/// The texts the host answers with (`[host.texts]`). `{usage}`, `{command}`, `{secs}`, `{who}` and `{problem}`
/// are replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    /// A command with wrong arguments.
    pub usage: String,
    /// A command run again within its cooldown.
    pub cooldown: String,
    /// A command the sender may not run.
    pub denied: String,
    /// The first line of `help`.
    pub help_header: String,
}

impl Default for Texts {
    fn default() -> Self {
        Texts {
            usage: "{problem}. Usage: {usage}".into(),
            cooldown: "Please wait {secs} s before using {command} again.".into(),
            denied: "{command} is for {who} only.".into(),
            help_header: "Commands:".into(),
        }
    }
}

/// The operator's command settings (`[host]` in `coral.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Prefixes a command may start with, longest first (`/` and none by default).
    pub prefixes: Vec<String>,
    /// The operator's superusers (user ids).
    pub superusers: HashSet<String>,
    /// Whether two plugins may declare the same command word.
    pub allow_duplicates: bool,
    /// The built-in help command's word (none: no built-in help).
    pub help: Option<String>,
    /// The host's answer texts.
    pub texts: Texts,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            prefixes: vec!["/".into(), String::new()],
            superusers: HashSet::new(),
            allow_duplicates: false,
            help: Some("help".into()),
            texts: Texts::default(),
        }
    }
}

impl Settings {
    /// Whether `word` may be taken by a plugin: not the built-in help's, and (unless duplicates are allowed) not
    /// another plugin's (`taken_by` names it). The one rule of loading and of `coral check`.
    pub fn clash(&self, word: &str, taken_by: impl FnOnce() -> Option<String>) -> Option<CommandError> {
        if self.help.as_deref() == Some(word) {
            return Some(CommandError::Help(word.to_string()));
        }
        if self.allow_duplicates {
            return None;
        }
        taken_by().map(|owner| CommandError::Clash {
            word: word.to_string(),
            owner,
        })
    }

    /// The prefix `help` and usage lines show: the first non-empty one (none if only the bare word is on).
    pub fn shown_prefix(&self) -> &str {
        self.prefixes.iter().find(|p| !p.is_empty()).map_or("", String::as_str)
    }

    /// Order prefixes longest first (so `//` is tried before `/`) and drop repeats.
    pub fn normalise(mut self) -> Self {
        self.prefixes.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        self.prefixes.dedup();
        self.help = self.help.map(|h| h.to_lowercase()).filter(|h| !h.is_empty());
        self
    }
}

/// Why a plugin's commands were refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A declaration breaks a rule (name, size, argument order).
    #[error("command {command:?}: {problem}")]
    Invalid {
        /// The command (as declared, escaped).
        command: String,
        /// What is wrong.
        problem: String,
    },
    /// More commands than allowed.
    #[error("{0} commands declared; at most {MAX_COMMANDS}")]
    TooMany(usize),
    /// The same word is taken by another plugin.
    #[error(
        "command word {word:?} is already taken by plugin {owner} (set [host] allow_duplicate_commands = true to allow it)"
    )]
    Clash {
        /// The word.
        word: String,
        /// The plugin that has it.
        owner: String,
    },
    /// The word is the built-in help's.
    #[error("command word {0:?} is the built-in help's (rename the help with [host] help_command, or \"\" for none)")]
    Help(String),
}

/// One plugin's commands, checked, with a lookup by word (name or alias, lower-cased).
#[derive(Debug, Default)]
pub struct CommandTable {
    specs: Vec<CommandSpec>,
    words: HashMap<String, usize>,
}

fn check_word(command: &str, word: &str) -> Result<String, CommandError> {
    let invalid = |problem: String| CommandError::Invalid {
        command: coral_model::text::bounded(command, 64),
        problem,
    };
    if word.is_empty() || word.len() > MAX_NAME {
        return Err(invalid(format!("a name or alias must be 1 to {MAX_NAME} bytes")));
    }
    if word.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "a name or alias may not contain spaces or control characters".into(),
        ));
    }
    Ok(word.to_lowercase())
}

impl CommandTable {
    /// Check a plugin's declarations: sizes, words, argument order. Descriptions are bounded and made safe to
    /// print.
    pub fn new(specs: Vec<CommandSpec>) -> Result<CommandTable, CommandError> {
        if specs.len() > MAX_COMMANDS {
            return Err(CommandError::TooMany(specs.len()));
        }
        let mut table = CommandTable::default();
        for mut spec in specs {
            let shown = coral_model::text::bounded(&spec.name, 64);
            let invalid = |problem: String| CommandError::Invalid {
                command: shown.clone(),
                problem,
            };
            if spec.aliases.len() > MAX_ALIASES {
                return Err(invalid(format!("at most {MAX_ALIASES} aliases")));
            }
            if spec.args.len() > MAX_ARGS {
                return Err(invalid(format!("at most {MAX_ARGS} arguments")));
            }
            if spec.user_cooldown_secs > MAX_COOLDOWN || spec.group_cooldown_secs > MAX_COOLDOWN {
                return Err(invalid(format!("a cooldown is at most {MAX_COOLDOWN} s")));
            }
            let mut optional = false;
            for (i, arg) in spec.args.iter().enumerate() {
                if arg.name.is_empty() || arg.name.len() > MAX_NAME || arg.name.chars().any(|c| c.is_control()) {
                    return Err(invalid(format!("argument names are 1 to {MAX_NAME} printable bytes")));
                }
                if arg.kind == ArgKind::Rest && i + 1 != spec.args.len() {
                    return Err(invalid("a `rest` argument must be the last".into()));
                }
                if optional && !arg.optional {
                    return Err(invalid("a required argument cannot follow an optional one".into()));
                }
                optional |= arg.optional;
            }
            spec.name = check_word(&spec.name, &spec.name)?;
            for alias in &mut spec.aliases {
                *alias = check_word(&spec.name, alias)?;
            }
            spec.description = coral_model::text::bounded(&spec.description, MAX_DESCRIPTION);
            let index = table.specs.len();
            for word in std::iter::once(&spec.name).chain(&spec.aliases) {
                if table.words.insert(word.clone(), index).is_some() {
                    return Err(invalid(format!("the word {word:?} is declared twice")));
                }
            }
            table.specs.push(spec);
        }
        Ok(table)
    }

    /// The command a word names.
    pub fn find(&self, word: &str) -> Option<&CommandSpec> {
        self.words.get(word).map(|&i| &self.specs[i])
    }

    /// Every word (names and aliases).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.words.keys().map(String::as_str)
    }

    /// The declarations, in order.
    pub fn specs(&self) -> &[CommandSpec] {
        &self.specs
    }

    /// Whether it declares nothing.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

/// Whether `spec` may be used in a chat of this kind.
pub fn in_scope(spec: &CommandSpec, chat: &Chat) -> bool {
    matches!(
        (spec.scope, chat),
        (CommandScope::Both, _) | (CommandScope::Group, Chat::Group(_)) | (CommandScope::Private, Chat::Private(_))
    )
}

/// Who a permission admits, in words (for the refusal text).
pub fn who(permission: Permission) -> &'static str {
    match permission {
        Permission::Everyone => "everyone",
        Permission::GroupAdmin => "group admins",
        Permission::GroupOwner => "the group owner",
        Permission::Superuser => "superusers",
    }
}

/// Whether a sender with `role` (in `chat`) and `superuser` may run a command needing `permission`.
pub fn permits(permission: Permission, chat: &Chat, role: Option<Role>, superuser: bool) -> bool {
    if superuser || permission == Permission::Everyone {
        return true;
    }
    matches!(
        (permission, chat, role),
        (Permission::GroupAdmin, Chat::Group(_), Some(Role::Admin | Role::Owner))
            | (Permission::GroupOwner, Chat::Group(_), Some(Role::Owner))
    )
}

/// What the host keeps across plugin versions: settings, cooldowns, pending prompts, and its answers' rate.
pub struct Hub {
    settings: RwLock<Arc<Settings>>,
    bots: Bots,
    cooldowns: Mutex<HashMap<String, Instant>>,
    answered: Mutex<HashMap<String, (u32, Instant)>>,
    /// Group roles looked up for messages that did not carry one, by bot, group and user.
    roles: Mutex<HashMap<String, (Role, Instant)>>,
    /// Role lookups in flight (by the same key).
    looking_up: Mutex<std::collections::HashSet<String>>,
    /// Pending prompts.
    pub prompts: prompts::Prompts,
    /// What each plugin may see (`enabled_in`, blocked users and groups, per-group switches).
    pub visibility: crate::visibility::Visibility,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(Bots::default())
    }
}

impl Hub {
    /// A hub answering through `bots`, with default settings.
    pub fn new(bots: Bots) -> Hub {
        Hub {
            settings: RwLock::new(Arc::new(Settings::default())),
            bots,
            cooldowns: Mutex::default(),
            answered: Mutex::default(),
            roles: Mutex::default(),
            looking_up: Mutex::default(),
            prompts: prompts::Prompts::default(),
            visibility: crate::visibility::Visibility::default(),
        }
    }

    /// The role the host last looked up for this member (within [`ROLE_TTL`]).
    pub fn cached_role(&self, self_id: &str, group: &str, user: &str) -> Option<Role> {
        let key = prompts::member_key(self_id, &Chat::Group(group.to_string()), user);
        let roles = self.roles.lock();
        roles
            .get(&key)
            .filter(|(_, at)| at.elapsed() < ROLE_TTL)
            .map(|(role, _)| *role)
    }

    /// Ask the platform for a member's role (`get_group_member_info`) and remember it. False when a lookup of it
    /// is already in flight or [`MAX_ROLE_LOOKUPS`] are (the caller then goes on without the role).
    pub async fn look_up_role(&self, self_id: &str, group: &str, user: &str) -> bool {
        let key = prompts::member_key(self_id, &Chat::Group(group.to_string()), user);
        {
            let mut in_flight = self.looking_up.lock();
            if in_flight.len() >= MAX_ROLE_LOOKUPS || !in_flight.insert(key.clone()) {
                return false;
            }
        }
        let action = coral_model::Action::GetGroupMemberInfo {
            group_id: group.to_string(),
            user_id: user.to_string(),
            no_cache: false,
        };
        let answer = self.bots.call(self_id, action).await;
        self.looking_up.lock().remove(&key);
        match answer {
            Ok(member) => {
                let role = coral_model::wire::json::role(member["role"].as_str().unwrap_or("member"));
                let mut roles = self.roles.lock();
                if roles.len() >= SWEEP_AT {
                    roles.retain(|_, (_, at)| at.elapsed() < ROLE_TTL);
                }
                roles.insert(key, (role, Instant::now()));
                true
            }
            Err(e) => {
                tracing::debug!(bot = self_id, group, user, error = %e, "role lookup failed; the command is judged without a role");
                false
            }
        }
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// Replace the settings (start and config reload).
    pub fn set_settings(&self, settings: Settings) {
        *self.settings.write() = Arc::new(settings.normalise());
    }

    /// Add (or remove) a superuser at run time (the console's `:superuser on|off`).
    pub fn set_superuser(&self, user_id: &str, on: bool) {
        let mut settings = (*self.settings()).clone();
        if on {
            settings.superusers.insert(user_id.to_string());
        } else {
            settings.superusers.remove(user_id);
        }
        self.set_settings(settings);
    }

    /// Whether `user_id` is a superuser.
    pub fn is_superuser(&self, user_id: &str) -> bool {
        self.settings.read().superusers.contains(user_id)
    }

    /// If the cooldown named `key` has not run out, how long is left; otherwise none (and nothing is recorded).
    pub fn cooling(&self, key: &str, length: u32) -> Option<Duration> {
        if length == 0 {
            return None;
        }
        let cooldowns = self.cooldowns.lock();
        let last = cooldowns.get(key)?;
        Duration::from_secs(length.into()).checked_sub(last.elapsed())
    }

    /// Start the cooldowns named by `keys` now.
    pub fn start_cooldowns(&self, keys: &[String]) {
        let now = Instant::now();
        let mut cooldowns = self.cooldowns.lock();
        if cooldowns.len() >= SWEEP_AT {
            cooldowns.retain(|_, at| now.duration_since(*at) < Duration::from_secs(MAX_COOLDOWN.into()));
        }
        for key in keys {
            cooldowns.insert(key.clone(), now);
        }
    }

    /// Answer in `chat` as the host (usage, cooldown, refusal, help): per user and chat at most
    /// [`ANSWER_BURST`] at once and then one per [`ANSWER_EVERY`], so the host is never a way to make the bot
    /// flood a chat.
    pub fn answer(&self, self_id: &str, chat: &Chat, user_id: &str, text: String) {
        let key = prompts::member_key(self_id, chat, user_id);
        {
            let now = Instant::now();
            let mut answered = self.answered.lock();
            if answered.len() >= SWEEP_AT {
                answered.retain(|_, (_, at)| now.duration_since(*at) < ANSWER_EVERY * ANSWER_BURST);
            }
            // (tokens left, when they were counted): one token comes back per ANSWER_EVERY.
            let (tokens, at) = answered.entry(key).or_insert((ANSWER_BURST, now));
            let back = (now.duration_since(*at).as_millis() / ANSWER_EVERY.as_millis()) as u32;
            if back > 0 {
                *tokens = (*tokens + back).min(ANSWER_BURST);
                *at += ANSWER_EVERY * back;
            }
            if *tokens == 0 {
                tracing::debug!(
                    user = user_id,
                    "host answer held back (a burst of {ANSWER_BURST}, then one per {} s)",
                    ANSWER_EVERY.as_secs()
                );
                return;
            }
            if *tokens == ANSWER_BURST {
                *at = now;
            }
            *tokens -= 1;
        }
        let bots = self.bots.clone();
        let self_id = self_id.to_string();
        let action = coral_model::Action::SendMsg {
            target: chat.clone(),
            message: vec![Segment::Text(text)],
            options: SendOptions {
                at_sender: None,
                reply_to: None,
            },
        };
        tokio::spawn(async move {
            if let Err(e) = bots.call(&self_id, action).await {
                tracing::warn!(bot = %self_id, error = %e, "the host's own answer could not be sent");
            }
        });
    }
}

/// Fill `{name}` placeholders of an answer text.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use coral_model::bindings::ArgSpec;

    fn spec(name: &str) -> CommandSpec {
        CommandSpec {
            name: name.into(),
            aliases: vec![],
            args: vec![],
            description: "d".into(),
            permission: Permission::Everyone,
            scope: CommandScope::Both,
            user_cooldown_secs: 0,
            group_cooldown_secs: 0,
        }
    }

    #[test]
    fn declarations_that_break_a_rule_are_refused_with_the_reason() {
        let with_space = CommandTable::new(vec![spec("sign in")]).unwrap_err();
        assert!(with_space.to_string().contains("spaces"), "{with_space}");
        assert!(CommandTable::new(vec![spec("")]).is_err());
        assert!(CommandTable::new(vec![spec(&"x".repeat(33))]).is_err());
        assert!(matches!(
            CommandTable::new((0..65).map(|i| spec(&format!("c{i}"))).collect()),
            Err(CommandError::TooMany(65))
        ));
        let mut twice = spec("a");
        twice.aliases = vec!["A".into()];
        assert!(
            CommandTable::new(vec![twice])
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let mut rest_first = spec("r");
        rest_first.args = vec![
            ArgSpec {
                name: "x".into(),
                kind: ArgKind::Rest,
                optional: false,
            },
            ArgSpec {
                name: "y".into(),
                kind: ArgKind::Text,
                optional: false,
            },
        ];
        assert!(
            CommandTable::new(vec![rest_first])
                .unwrap_err()
                .to_string()
                .contains("last")
        );
        let mut required_after_optional = spec("o");
        required_after_optional.args = vec![
            ArgSpec {
                name: "x".into(),
                kind: ArgKind::Int,
                optional: true,
            },
            ArgSpec {
                name: "y".into(),
                kind: ArgKind::Int,
                optional: false,
            },
        ];
        assert!(CommandTable::new(vec![required_after_optional]).is_err());
        let mut long_cooldown = spec("c");
        long_cooldown.user_cooldown_secs = MAX_COOLDOWN + 1;
        assert!(CommandTable::new(vec![long_cooldown]).is_err());
    }

    #[test]
    fn words_are_found_case_insensitively_by_name_and_alias() {
        let mut sign = spec("Sign");
        sign.aliases = vec!["签到".into()];
        sign.description = "line\u{1b}[2J".into();
        let table = CommandTable::new(vec![sign]).unwrap();
        assert_eq!(table.find("sign").unwrap().name, "sign");
        assert_eq!(table.find("签到").unwrap().name, "sign");
        assert!(!table.find("sign").unwrap().description.contains('\u{1b}'));
    }

    #[test]
    fn permissions_follow_role_and_superuser() {
        let group = Chat::Group("1".into());
        let private = Chat::Private("2".into());
        assert!(permits(Permission::Everyone, &private, None, false));
        assert!(permits(Permission::GroupAdmin, &group, Some(Role::Admin), false));
        assert!(permits(Permission::GroupAdmin, &group, Some(Role::Owner), false));
        assert!(!permits(Permission::GroupAdmin, &group, Some(Role::Member), false));
        assert!(!permits(Permission::GroupAdmin, &group, None, false));
        assert!(!permits(Permission::GroupOwner, &group, Some(Role::Admin), false));
        assert!(!permits(Permission::GroupAdmin, &private, None, false));
        assert!(!permits(Permission::Superuser, &group, Some(Role::Owner), false));
        assert!(permits(Permission::Superuser, &private, None, true));
    }

    #[test]
    fn a_cooldown_runs_from_its_start() {
        let hub = Hub::default();
        assert_eq!(hub.cooling("k", 60), None);
        hub.start_cooldowns(&["k".into()]);
        let left = hub.cooling("k", 60).unwrap();
        assert!(left > Duration::from_secs(58) && left <= Duration::from_secs(60));
        assert_eq!(hub.cooling("k", 0), None);
        assert_eq!(hub.cooling("other", 60), None);
    }

    #[test]
    fn prefixes_are_tried_longest_first() {
        let settings = Settings {
            prefixes: vec!["".into(), "/".into(), "//".into(), "/".into()],
            ..Settings::default()
        }
        .normalise();
        assert_eq!(settings.prefixes, vec!["//", "/", ""]);
    }
}
