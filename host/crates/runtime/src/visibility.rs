//! What each plugin may *see*: the operator's `[plugins.<name>] enabled_in` (which groups, which private chats),
//! the host-wide `blocked_users` / `blocked_groups`, and the per-group on/off switches changed at run time
//! (`coral plugin off NAME --group G`) and kept in `<data_dir>/switches.json`. The dispatcher asks
//! [`Visibility::sees`] before anything of an event reaches a plugin's wasm: its events, its commands, its
//! prompts' answers and the built-in help's list of its commands. Grants (what a plugin may *do*) are the
//! policy's business; this is only about which events arrive.

use cap_fs::Dir;
use cap_std::fs as cap_fs;
use coral_model::bindings::Place;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Most per-group switches kept (plugins × groups); more are refused.
pub const MAX_SWITCHES: usize = 100_000;
/// Longest plugin name or group id a switch may name, bytes.
pub const MAX_SWITCH_ID: usize = 128;

/// Where one plugin sees events (`enabled_in = { groups = [...], users = [...], private = true }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sight {
    /// Group events only from these groups; none: every group (an empty set: no group).
    pub groups: Option<BTreeSet<String>>,
    /// Private events (private messages, friend requests and notices) only from these users; none: every user.
    pub users: Option<BTreeSet<String>>,
    /// Private events at all.
    pub private: bool,
}

impl Default for Sight {
    fn default() -> Self {
        Sight {
            groups: None,
            users: None,
            private: true,
        }
    }
}

impl Sight {
    fn admits(&self, place: &Place<'_>) -> bool {
        match (&place.group, &place.user) {
            (Some(group), _) => self.groups.as_ref().is_none_or(|g| g.contains(group.as_ref())),
            (None, user) => {
                self.private
                    && self
                        .users
                        .as_ref()
                        .is_none_or(|u| user.as_ref().is_some_and(|user| u.contains(user.as_ref())))
            }
        }
    }
}

/// The operator's visibility rules from the config (everything except the run-time switches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    /// Users whose events no plugin sees, in any chat.
    pub blocked_users: HashSet<String>,
    /// Groups whose events no plugin sees.
    pub blocked_groups: HashSet<String>,
    /// Per plugin (by name); a plugin without an entry sees everything not blocked.
    pub sights: HashMap<String, Sight>,
}

/// Why a switch could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// A name or id that is empty, too long or has control characters or spaces.
    #[error("{0}")]
    Invalid(String),
    /// [`MAX_SWITCHES`] reached.
    #[error("at most {MAX_SWITCHES} per-group switches")]
    Full,
    /// The file could not be written (the switch is not changed).
    #[error("cannot save {file} in the data folder: {source}")]
    Save {
        /// The file's name.
        file: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The operator's run-time switches (`switches.json`: `{"off": {"<plugin>": ["<group>", ...]}, "disabled":
/// ["<plugin>", ...]}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switches {
    /// Plugin → groups it is off in.
    #[serde(default)]
    pub off: BTreeMap<String, BTreeSet<String>>,
    /// Plugins the operator disabled (`coral plugin disable`): not loaded until enabled.
    #[serde(default)]
    pub disabled: BTreeSet<String>,
}

impl Switches {
    /// Read the switches file `name` in the folder `dir`; a missing file is no switches, an unreadable one (or a
    /// symbolic link, never followed) an error naming it.
    pub fn load(dir: &Dir, name: &str) -> Result<Switches, String> {
        let shown = coral_model::text::escape(name);
        match crate::folder::read_text(dir, name) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{shown}: {e}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Switches::default()),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(format!(
                "`{shown}` in the data folder is a symbolic link; Coral does not follow links in its folders"
            )),
            Err(e) => Err(format!("{shown}: {e}")),
        }
    }

    /// Write the switches file (atomically: a temporary file renamed into place).
    pub fn save(&self, dir: &Dir, name: &str) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::folder::write_atomic(dir, name, &format!("{name}.tmp"), (text + "\n").as_bytes())
    }

    fn count(&self) -> usize {
        self.off.values().map(BTreeSet::len).sum::<usize>() + self.disabled.len()
    }
}

fn check_id(what: &str, id: &str) -> Result<(), SwitchError> {
    if id.is_empty() || id.len() > MAX_SWITCH_ID || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(SwitchError::Invalid(format!(
            "a {what} is 1 to {MAX_SWITCH_ID} bytes without spaces or control characters"
        )));
    }
    Ok(())
}

/// The rules and switches in force.
#[derive(Debug, Default)]
pub struct Visibility {
    rules: parking_lot::RwLock<std::sync::Arc<Rules>>,
    switches: parking_lot::RwLock<std::sync::Arc<Switches>>,
    /// Where switches are saved: a folder and a file name in it (none: kept in memory only).
    file: parking_lot::Mutex<Option<(Arc<Dir>, String)>>,
}

/// One event's verdicts, read once per event.
pub struct View {
    rules: std::sync::Arc<Rules>,
    switches: std::sync::Arc<Switches>,
}

impl View {
    /// Whether nothing is restricted (then no event needs placing).
    pub fn is_open(&self) -> bool {
        self.rules.blocked_users.is_empty()
            && self.rules.blocked_groups.is_empty()
            && self.rules.sights.is_empty()
            && self.switches.off.is_empty()
    }

    /// Whether the event is from a blocked user or group (no plugin sees it, the host does not answer it).
    pub fn blocked(&self, place: &Place<'_>) -> bool {
        place
            .user
            .as_ref()
            .is_some_and(|u| self.rules.blocked_users.contains(u.as_ref()))
            || place
                .group
                .as_ref()
                .is_some_and(|g| self.rules.blocked_groups.contains(g.as_ref()))
    }

    /// Whether `plugin` sees an event at `place` (blocked places aside).
    pub fn sees(&self, plugin: &str, place: &Place<'_>) -> bool {
        if let Some(sight) = self.rules.sights.get(plugin)
            && !sight.admits(place)
        {
            return false;
        }
        match &place.group {
            Some(group) => !self
                .switches
                .off
                .get(plugin)
                .is_some_and(|off| off.contains(group.as_ref())),
            None => true,
        }
    }
}

impl Visibility {
    /// The rules and switches now.
    pub fn view(&self) -> View {
        View {
            rules: self.rules.read().clone(),
            switches: self.switches.read().clone(),
        }
    }

    /// Replace the config's rules (start and config reload).
    pub fn set_rules(&self, rules: Rules) {
        *self.rules.write() = std::sync::Arc::new(rules);
    }

    /// Keep switches in the file `name` of the folder `dir`, starting from what it holds.
    pub fn open_switches(&self, dir: Arc<Dir>, name: &str) -> Result<(), String> {
        let switches = Switches::load(&dir, name)?;
        *self.switches.write() = std::sync::Arc::new(switches);
        *self.file.lock() = Some((dir, name.to_string()));
        Ok(())
    }

    /// The switches now.
    pub fn switches(&self) -> std::sync::Arc<Switches> {
        self.switches.read().clone()
    }

    /// Switch `plugin` on or off in `group` (saved before it takes effect); whether anything changed.
    pub fn switch(&self, plugin: &str, group: &str, on: bool) -> Result<bool, SwitchError> {
        check_id("plugin name", plugin)?;
        check_id("group id", group)?;
        self.change(!on, |next| {
            if on {
                let changed = next.off.get_mut(plugin).is_some_and(|off| off.remove(group));
                next.off.retain(|_, off| !off.is_empty());
                changed
            } else {
                next.off
                    .entry(plugin.to_string())
                    .or_default()
                    .insert(group.to_string())
            }
        })
    }

    /// Whether the operator disabled `plugin`.
    pub fn is_disabled(&self, plugin: &str) -> bool {
        self.switches.read().disabled.contains(plugin)
    }

    /// Disable `plugin` (or enable it again), saved before it takes effect; whether anything changed.
    pub fn set_disabled(&self, plugin: &str, disabled: bool) -> Result<bool, SwitchError> {
        check_id("plugin name", plugin)?;
        self.change(disabled, |next| {
            if disabled {
                next.disabled.insert(plugin.to_string())
            } else {
                next.disabled.remove(plugin)
            }
        })
    }

    /// Apply `edit` to a copy of the switches (`grows`: it may add one), save it, then put it in force.
    fn change(&self, grows: bool, edit: impl FnOnce(&mut Switches) -> bool) -> Result<bool, SwitchError> {
        let file = self.file.lock();
        let mut next = (**self.switches.read()).clone();
        if grows && next.count() >= MAX_SWITCHES {
            return Err(SwitchError::Full);
        }
        if !edit(&mut next) {
            return Ok(false);
        }
        if let Some((dir, name)) = file.as_ref() {
            next.save(dir, name).map_err(|source| SwitchError::Save {
                file: coral_model::text::escape(name).into_owned(),
                source,
            })?;
        }
        *self.switches.write() = std::sync::Arc::new(next);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow::Borrowed;

    fn group(g: &'static str, u: &'static str) -> Place<'static> {
        Place {
            group: Some(Borrowed(g)),
            user: Some(Borrowed(u)),
        }
    }

    fn private(u: &'static str) -> Place<'static> {
        Place {
            group: None,
            user: Some(Borrowed(u)),
        }
    }

    fn set(ids: &[&str]) -> Option<BTreeSet<String>> {
        Some(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn enabled_in_limits_groups_and_private_chats_separately() {
        let v = Visibility::default();
        let mut rules = Rules::default();
        rules.sights.insert(
            "g".into(),
            Sight {
                groups: set(&["100"]),
                users: None,
                private: false,
            },
        );
        rules.sights.insert(
            "u".into(),
            Sight {
                groups: set(&[]),
                users: set(&["7"]),
                private: true,
            },
        );
        v.set_rules(rules);
        let view = v.view();
        assert!(!view.is_open());
        assert!(view.sees("g", &group("100", "7")));
        assert!(!view.sees("g", &group("200", "7")));
        assert!(!view.sees("g", &private("7")), "private = false");
        assert!(!view.sees("u", &group("100", "7")), "groups = []: no group");
        assert!(view.sees("u", &private("7")));
        assert!(!view.sees("u", &private("8")));
        assert!(view.sees("other", &group("200", "8")), "no entry: sees everything");
    }

    #[test]
    fn blocked_users_are_blocked_in_every_chat_and_blocked_groups_for_everyone() {
        let v = Visibility::default();
        v.set_rules(Rules {
            blocked_users: ["9".to_string()].into(),
            blocked_groups: ["300".to_string()].into(),
            ..Rules::default()
        });
        let view = v.view();
        assert!(view.blocked(&group("100", "9")));
        assert!(view.blocked(&private("9")));
        assert!(view.blocked(&group("300", "1")));
        assert!(!view.blocked(&group("100", "1")));
    }

    #[test]
    fn switches_turn_a_plugin_off_in_one_group_persist_and_refuse_bad_ids() {
        let dir = tempfile::tempdir().unwrap();
        let folder = || Arc::new(Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap());
        let v = Visibility::default();
        v.open_switches(folder(), "switches.json").unwrap();
        assert!(v.view().is_open());
        assert!(v.switch("echo", "100", false).unwrap());
        assert!(!v.switch("echo", "100", false).unwrap(), "already off");
        let view = v.view();
        assert!(!view.sees("echo", &group("100", "1")));
        assert!(view.sees("echo", &group("200", "1")));
        assert!(
            view.sees("echo", &private("1")),
            "a group switch leaves private chats alone"
        );
        assert!(view.sees("other", &group("100", "1")));
        // A new host reads the same file.
        let again = Visibility::default();
        again.open_switches(folder(), "switches.json").unwrap();
        assert!(!again.view().sees("echo", &group("100", "1")));
        assert!(again.switch("echo", "100", true).unwrap());
        assert!(again.view().is_open(), "switched back on: nothing left");
        let third = Visibility::default();
        third.open_switches(folder(), "switches.json").unwrap();
        assert!(third.view().sees("echo", &group("100", "1")));
        for (plugin, group) in [("", "1"), ("a b", "1"), ("p", "1\n2"), ("p", &"9".repeat(200))] {
            assert!(
                matches!(v.switch(plugin, group, false), Err(SwitchError::Invalid(_))),
                "{plugin:?} {group:?}"
            );
        }
    }

    #[test]
    fn a_switch_that_cannot_be_saved_does_not_take_effect() {
        let dir = tempfile::tempdir().unwrap();
        let v = Visibility::default();
        let folder = Arc::new(Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap());
        v.open_switches(folder, "gone/switches.json").unwrap();
        assert!(matches!(v.switch("echo", "100", false), Err(SwitchError::Save { .. })));
        assert!(v.view().sees("echo", &group("100", "1")));
    }

    #[test]
    fn a_switches_file_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(root.path().join("outside.json"), "{}\n").unwrap();
        std::os::unix::fs::symlink(root.path().join("outside.json"), data.join("switches.json")).unwrap();
        let folder = Arc::new(Dir::open_ambient_dir(&data, cap_std::ambient_authority()).unwrap());
        let err = Visibility::default()
            .open_switches(folder, "switches.json")
            .unwrap_err();
        assert!(err.contains("is a symbolic link"), "{err}");
        assert_eq!(
            std::fs::read_to_string(root.path().join("outside.json")).unwrap(),
            "{}\n"
        );
    }
}
