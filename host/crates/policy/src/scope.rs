//! Where a grant applies: the [`Target`] an action touches and the [`Scope`] (groups / users) a grant is limited to,
//! and [`escape`] for plugin-controlled text in reasons and logs.

use coral_model::bindings::Chat;
use std::collections::BTreeSet;
use std::fmt;

/// Who or where an action is aimed at, for scope checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The group, if the action is about one.
    pub group: Option<String>,
    /// The user, if the action is about one.
    pub user: Option<String>,
}

impl Target {
    pub(crate) fn group(g: &str) -> Target {
        Target {
            group: Some(g.to_string()),
            user: None,
        }
    }
    pub(crate) fn member(g: &str, u: &str) -> Target {
        Target {
            group: Some(g.to_string()),
            user: Some(u.to_string()),
        }
    }
    pub(crate) fn user(u: &str) -> Target {
        Target {
            group: None,
            user: Some(u.to_string()),
        }
    }
    /// The target of a chat.
    pub fn of_chat(chat: &Chat) -> Target {
        Target::chat(chat)
    }

    pub(crate) fn chat(chat: &Chat) -> Target {
        match chat {
            Chat::Private(u) => Target::user(u),
            Chat::Group(g) => Target::group(g),
        }
    }
}

/// Plugin-controlled text as it may appear in a reason, a log line or the audit log.
pub fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    coral_model::text::escape(text)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.group, &self.user) {
            (Some(g), Some(u)) => write!(f, "group {} user {}", escape(g), escape(u)),
            (Some(g), None) => write!(f, "group {}", escape(g)),
            (None, Some(u)) => write!(f, "user {}", escape(u)),
            (None, None) => f.write_str("-"),
        }
    }
}

/// Where a grant applies. No lists: everywhere. With lists, each names what may be touched:
/// - a group target (a group chat, a whole-group action) needs its group listed;
/// - a user target (a private chat, a friend) needs its user listed;
/// - a member target (kick, ban, card of someone in a group) needs its group listed (when groups are listed) **and**
///   its user listed (when users are listed);
/// - a target that is neither is outside every scope with lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Allowed groups (`None`: any).
    pub groups: Option<BTreeSet<String>>,
    /// Allowed users (`None`: any).
    pub users: Option<BTreeSet<String>>,
}

impl Scope {
    fn is_open(&self) -> bool {
        self.groups.is_none() && self.users.is_none()
    }

    /// Whether `target` is inside this scope.
    pub fn allows(&self, target: &Target) -> bool {
        if self.is_open() {
            return true;
        }
        let listed = |list: &Option<BTreeSet<String>>, id: &String| list.as_ref().is_some_and(|l| l.contains(id));
        let within = |list: &Option<BTreeSet<String>>, id: &String| list.as_ref().is_none_or(|l| l.contains(id));
        match (&target.group, &target.user) {
            (Some(g), Some(u)) => within(&self.groups, g) && within(&self.users, u),
            (Some(g), None) => listed(&self.groups, g),
            (None, Some(u)) => listed(&self.users, u),
            (None, None) => false,
        }
    }
}
