//! HTML forms for the web console: reading an `application/x-www-form-urlencoded` body (repeated keys kept, as
//! checkboxes send them), and a plugin's config form generated from its JSON Schema and read back into JSON.

use super::page::esc;
use serde_json::{Map, Value};

/// Longest form body read, bytes.
pub const MAX_FORM: usize = 256 << 10;

/// A submitted form: its fields in order.
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Form {
    /// Parse a urlencoded body.
    pub fn parse(body: &str) -> Form {
        Form(
            body.split('&')
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Ids typed into a text field, separated by commas, spaces or new lines; empty: none.
pub fn id_list(text: &str) -> Option<Vec<String>> {
    let ids: Vec<String> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// The kind of input a property gets.
enum Kind<'a> {
    Bool,
    Choice(&'a [Value]),
    Number { integer: bool },
    Text,
    Lines,
    Json,
}

fn kind(schema: &Value) -> Kind<'_> {
    if let Some(Value::Array(options)) = schema.get("enum") {
        return Kind::Choice(options);
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        ["boolean"] => Kind::Bool,
        ["integer"] => Kind::Number { integer: true },
        ["number"] => Kind::Number { integer: false },
        ["string"] => Kind::Text,
        ["array"]
            if schema
                .get("items")
                .and_then(|i| i.get("type"))
                .is_some_and(|t| t == "string" || t == "integer") =>
        {
            Kind::Lines
        }
        _ => Kind::Json,
    }
}

/// The fields of a config form for `schema` (an object schema's properties), filled from `current`. Field names
/// are `cfg.<property>`.
pub fn config_fields(schema: &Value, current: &Map<String, Value>) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::new();
    for (name, prop) in props {
        let field = format!("cfg.{name}");
        let value = current.get(name).or_else(|| prop.get("default"));
        let label = format!(
            "{}{}",
            esc(prop.get("title").and_then(Value::as_str).unwrap_or(name)),
            if required.contains(&name.as_str()) { " *" } else { "" }
        );
        let help = prop
            .get("description")
            .and_then(Value::as_str)
            .map(|d| format!("<small>{}</small>", esc(d)))
            .unwrap_or_default();
        let input = match kind(prop) {
            Kind::Bool => format!(
                "<input type=\"hidden\" name=\"{f}.present\" value=\"1\"><input type=\"checkbox\" name=\"{f}\" value=\"true\"{c}>",
                f = esc(&field),
                c = if value == Some(&Value::Bool(true)) {
                    " checked"
                } else {
                    ""
                }
            ),
            Kind::Choice(options) => {
                let mut s = format!("<select name=\"{}\">", esc(&field));
                if !required.contains(&name.as_str()) {
                    s.push_str("<option value=\"\">(unset)</option>");
                }
                for o in options {
                    let text = o.as_str().map(str::to_string).unwrap_or_else(|| o.to_string());
                    let selected = if value == Some(o) { " selected" } else { "" };
                    s.push_str(&format!("<option value=\"{0}\"{selected}>{0}</option>", esc(&text)));
                }
                s.push_str("</select>");
                s
            }
            Kind::Number { integer } => format!(
                "<input type=\"number\" name=\"{}\" step=\"{}\" value=\"{}\">",
                esc(&field),
                if integer { "1" } else { "any" },
                value.map(|v| esc(&v.to_string())).unwrap_or_default()
            ),
            Kind::Text => format!(
                "<input type=\"text\" name=\"{}\" value=\"{}\">",
                esc(&field),
                esc(value.and_then(Value::as_str).unwrap_or(""))
            ),
            Kind::Lines => {
                let lines: Vec<String> = value
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "<textarea name=\"{}\" rows=\"4\" placeholder=\"one per line\">{}</textarea>",
                    esc(&field),
                    esc(&lines.join("\n"))
                )
            }
            Kind::Json => format!(
                "<textarea name=\"{}\" rows=\"4\" placeholder=\"JSON\">{}</textarea>",
                esc(&field),
                esc(&value.map(Value::to_string).unwrap_or_default())
            ),
        };
        out.push_str(&format!(
            "<label class=\"field\"><span>{label}</span>{input}{help}</label>\n"
        ));
    }
    out
}

/// The config a submitted form describes: `current` with every property of `schema` set from its field (an empty
/// field removes the key). Errors name the field.
pub fn config_from_form(
    schema: &Value,
    current: &Map<String, Value>,
    form: &Form,
) -> Result<Map<String, Value>, String> {
    let mut out = current.clone();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (name, prop) in props {
        let field = format!("cfg.{name}");
        let text = form.get(&field).unwrap_or("").trim().to_string();
        let value = match kind(prop) {
            Kind::Bool => {
                if form.get(&format!("{field}.present")).is_none() {
                    continue;
                }
                Some(Value::Bool(text == "true"))
            }
            _ if text.is_empty() => None,
            Kind::Choice(options) => Some(
                options
                    .iter()
                    .find(|o| o.as_str().map(str::to_string).unwrap_or_else(|| o.to_string()) == text)
                    .cloned()
                    .ok_or_else(|| format!("{name}: not one of the choices"))?,
            ),
            Kind::Number { integer: true } => Some(Value::from(
                text.parse::<i64>().map_err(|_| format!("{name}: not a whole number"))?,
            )),
            Kind::Number { integer: false } => Some(
                serde_json::Number::from_f64(text.parse::<f64>().map_err(|_| format!("{name}: not a number"))?)
                    .map(Value::Number)
                    .ok_or_else(|| format!("{name}: not a number"))?,
            ),
            Kind::Text => Some(Value::String(text)),
            Kind::Lines => {
                let integer = prop
                    .get("items")
                    .and_then(|i| i.get("type"))
                    .is_some_and(|t| t == "integer");
                let mut items = Vec::new();
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    items.push(if integer {
                        Value::from(
                            line.parse::<i64>()
                                .map_err(|_| format!("{name}: `{line}` is not a whole number"))?,
                        )
                    } else {
                        Value::String(line.to_string())
                    });
                }
                Some(Value::Array(items))
            }
            Kind::Json => Some(serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON: {e}"))?),
        };
        match value {
            Some(v) => {
                out.insert(name.clone(), v);
            }
            None => {
                out.remove(name);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urlencoded_bodies_keep_repeated_keys_and_decode() {
        let form = Form::parse("cap=send&cap=recall&groups=1%2C+2&name=a%20b%zz&empty=");
        assert_eq!(form.all("cap"), ["send", "recall"]);
        assert_eq!(form.get("groups"), Some("1, 2"));
        assert_eq!(form.get("name"), Some("a b%zz"));
        assert_eq!(form.get("empty"), Some(""));
        assert_eq!(id_list("1, 2\n3"), Some(vec!["1".into(), "2".into(), "3".into()]));
        assert_eq!(id_list("  "), None);
        assert_eq!(Form::parse("x=%E4%BD%A0").get("x"), Some("你"));
        assert_eq!(Form::parse("x=%4").get("x"), Some("%4"));
    }

    #[test]
    fn a_schema_makes_a_form_and_the_form_makes_the_config() {
        let schema = json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "description": "most <b>"},
                "words": {"type": "array", "items": {"type": "string"}},
                "mode": {"enum": ["warn", "mute"]},
                "loud": {"type": "boolean"},
                "ratio": {"type": "number"},
                "extra": {"type": "object"}
            },
            "required": ["limit"]
        });
        let current = json!({"limit": 3, "words": ["spam", "<x>"], "kept": 1});
        let html = config_fields(&schema, current.as_object().unwrap());
        assert!(
            html.contains("name=\"cfg.limit\"") && html.contains("value=\"3\""),
            "{html}"
        );
        assert!(html.contains("spam\n&lt;x&gt;"), "escaped: {html}");
        assert!(html.contains("most &lt;b&gt;"), "{html}");
        let form = Form::parse(
            "cfg.limit=5&cfg.words=a%0D%0Ab%0A&cfg.mode=mute&cfg.loud.present=1&cfg.loud=true&cfg.ratio=0.5&cfg.extra=%7B%22k%22%3A1%7D",
        );
        let config = config_from_form(&schema, current.as_object().unwrap(), &form).unwrap();
        assert_eq!(
            Value::Object(config),
            json!({"limit": 5, "words": ["a", "b"], "kept": 1, "mode": "mute", "loud": true, "ratio": 0.5, "extra": {"k": 1}})
        );
        let bad = Form::parse("cfg.limit=many");
        assert_eq!(
            config_from_form(&schema, current.as_object().unwrap(), &bad).unwrap_err(),
            "limit: not a whole number"
        );
        let cleared = config_from_form(
            &schema,
            current.as_object().unwrap(),
            &Form::parse("cfg.limit=1&cfg.loud.present=1"),
        )
        .unwrap();
        assert_eq!(Value::Object(cleared), json!({"limit": 1, "kept": 1, "loud": false}));
    }
}
