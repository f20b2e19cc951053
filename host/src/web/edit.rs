//! Changes the web console makes to `coral.toml`, with `toml_edit` so the operator's comments, order and layout
//! survive: a plugin's grants and scope, where it sees events (`enabled_in`), and its own config table. Each edit
//! returns the new text; the caller checks it as a whole config before writing it (a bad edit never reaches the
//! file).

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value};

/// A plugin's permissions as the plugin page's form sets them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Capabilities granted (`grants`).
    pub grants: Vec<String>,
    /// `groups`: every grant limited to these groups (none: key removed, any group).
    pub groups: Option<Vec<String>>,
    /// `users`: every grant limited to these users (none: key removed).
    pub users: Option<Vec<String>>,
    /// `enabled_in` (none: key removed, it sees everything).
    pub enabled_in: Option<EnabledIn>,
}

/// `enabled_in = { groups, users, private }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnabledIn {
    /// Groups (none: every group).
    pub groups: Option<Vec<String>>,
    /// Users in private chats (none: every user).
    pub users: Option<Vec<String>>,
    /// Private chats at all.
    pub private: bool,
}

fn parse(text: &str) -> Result<DocumentMut, String> {
    text.parse::<DocumentMut>()
        .map_err(|e| format!("coral.toml is not valid TOML: {e}"))
}

/// An id as TOML: a number when it is one (as operators write them), else a string.
fn id(id: &str) -> Value {
    match id.parse::<i64>() {
        Ok(n) if n.to_string() == id => Value::from(n),
        _ => Value::from(id),
    }
}

fn ids(list: &[String]) -> Array {
    list.iter().map(|s| id(s)).collect()
}

/// The `[plugins.<name>]` table, made if missing (under an implicit `[plugins]`, as operators write it).
fn plugin_table<'a>(doc: &'a mut DocumentMut, name: &str) -> Result<&'a mut Table, String> {
    let plugins = doc
        .entry("plugins")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or("`plugins` in coral.toml is not a table")?;
    plugins
        .entry(name)
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or_else(|| format!("`plugins.{name}` in coral.toml is not a table"))
}

/// Set (or remove, with none) one key, keeping it where it was.
fn set(table: &mut Table, key: &str, value: Option<Value>) {
    match value {
        Some(value) => match table.get_mut(key) {
            Some(item) if item.is_value() => {
                // Keep the comment around the old value.
                let decor = item.as_value().map(|v| v.decor().clone());
                let mut value = value;
                if let Some(decor) = decor {
                    *value.decor_mut() = decor;
                }
                *item = Item::Value(value);
            }
            _ => {
                table.insert(key, Item::Value(value));
            }
        },
        None => {
            table.remove(key);
        }
    }
}

/// `text` with `[plugins.<name>]`'s grants, scope and `enabled_in` replaced by `p`.
pub fn set_permissions(text: &str, name: &str, p: &Permissions) -> Result<String, String> {
    let mut doc = parse(text)?;
    let table = plugin_table(&mut doc, name)?;
    let grants: Array = p.grants.iter().map(|g| Value::from(g.as_str())).collect();
    set(table, "grants", Some(Value::Array(grants)));
    set(table, "groups", p.groups.as_deref().map(|g| Value::Array(ids(g))));
    set(table, "users", p.users.as_deref().map(|u| Value::Array(ids(u))));
    let enabled_in = p.enabled_in.as_ref().map(|e| {
        let mut t = InlineTable::new();
        if let Some(groups) = &e.groups {
            t.insert("groups", Value::Array(ids(groups)));
        }
        if let Some(users) = &e.users {
            t.insert("users", Value::Array(ids(users)));
        }
        t.insert("private", Value::from(e.private));
        Value::InlineTable(t)
    });
    set(table, "enabled_in", enabled_in);
    Ok(doc.to_string())
}

/// JSON as a TOML value (null has no TOML form: none).
fn toml_value(json: &serde_json::Value) -> Option<Value> {
    Some(match json {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64()?),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::Array(items.iter().filter_map(toml_value).collect()),
        serde_json::Value::Object(map) => {
            let mut t = InlineTable::new();
            for (k, v) in map {
                if let Some(v) = toml_value(v) {
                    t.insert(k, v);
                }
            }
            Value::InlineTable(t)
        }
    })
}

/// `text` with `[plugins.<name>.config]` holding exactly `config`'s keys (values of keys that stay keep their
/// comments).
pub fn set_config(
    text: &str,
    name: &str,
    config: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, String> {
    let mut doc = parse(text)?;
    let table = plugin_table(&mut doc, name)?;
    let config_table = table.entry("config").or_insert_with(|| Item::Table(Table::new()));
    if let Some(inline) = config_table.as_inline_table().cloned() {
        *config_table = Item::Table(inline.into_table());
    }
    let config_table = config_table
        .as_table_mut()
        .ok_or_else(|| format!("`plugins.{name}.config` in coral.toml is not a table"))?;
    let old: Vec<String> = config_table.iter().map(|(k, _)| k.to_string()).collect();
    for key in old {
        if !config.contains_key(&key) {
            config_table.remove(&key);
        }
    }
    for (key, value) in config {
        set(config_table, key, toml_value(value));
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# the operator's notes\n[host]\nsuperusers = [1] # me\n\n[plugins.ping]\n# answers ping\ngrants = [\"send\"] # just send\npriority = 1\n";

    #[test]
    fn permissions_change_and_comments_stay() {
        let out = set_permissions(
            TEXT,
            "ping",
            &Permissions {
                grants: vec!["send".into(), "recall".into()],
                groups: Some(vec!["100".into(), "abc".into()]),
                users: None,
                enabled_in: Some(EnabledIn {
                    groups: Some(vec!["100".into()]),
                    users: None,
                    private: false,
                }),
            },
        )
        .unwrap();
        for kept in [
            "# the operator's notes",
            "superusers = [1] # me",
            "# answers ping",
            "# just send",
            "priority = 1",
        ] {
            assert!(out.contains(kept), "lost {kept:?}:\n{out}");
        }
        assert!(out.contains(r#"grants = ["send", "recall"]"#), "{out}");
        assert!(out.contains(r#"groups = [100, "abc"]"#), "{out}");
        assert!(
            out.contains("enabled_in = { groups = [100], private = false }"),
            "{out}"
        );
        let config = crate::config::Config::parse(&out, std::path::Path::new("coral.toml")).unwrap();
        assert_eq!(config.plugin("ping").grants, ["send", "recall"]);
        // And back: keys removed, nothing else touched.
        let back = set_permissions(&out, "ping", &Permissions::default()).unwrap();
        assert!(!back.contains("groups") && !back.contains("enabled_in"), "{back}");
        assert!(
            back.contains("# answers ping") && back.contains("grants = []"),
            "{back}"
        );
    }

    #[test]
    fn a_new_plugin_table_goes_under_plugins_and_config_keys_are_replaced() {
        let out = set_permissions("[host]\n", "dice", &Permissions::default()).unwrap();
        assert!(out.contains("[plugins.dice]") && !out.contains("[plugins]\n"), "{out}");
        let with = "[plugins.dice.config]\nsides = 6 # classic\nold = true\n";
        let config = serde_json::json!({"sides": 20, "names": ["a", "b"], "nothing": null});
        let out = set_config(with, "dice", config.as_object().unwrap()).unwrap();
        assert!(out.contains("sides = 20 # classic"), "{out}");
        assert!(out.contains(r#"names = ["a", "b"]"#), "{out}");
        assert!(!out.contains("old") && !out.contains("nothing"), "{out}");
        let inline = set_config(
            "[plugins.dice]\nconfig = { sides = 6 }\n",
            "dice",
            config.as_object().unwrap(),
        )
        .unwrap();
        let parsed = crate::config::Config::parse(&inline, std::path::Path::new("coral.toml")).unwrap();
        assert_eq!(parsed.plugin("dice").config["sides"].as_integer(), Some(20));
    }

    #[test]
    fn a_file_that_is_not_toml_is_an_error_not_a_new_file() {
        assert!(set_permissions("not = [toml", "p", &Permissions::default()).is_err());
    }
}
