//! A small JSON Schema subset for plugin config tables (`plugin-metadata.config-schema`): `type`, `properties`,
//! `required`, `additionalProperties` (bool or schema), `items`, `minItems`, `maxItems`, `enum`, `const`,
//! `minimum`, `maximum`, `minLength`, `maxLength`; `title`, `description`, `default`, `$schema`, `$comment`
//! and `examples` are accepted and ignored. Any other keyword (`pattern`, `oneOf`, `$ref`, …) makes the schema
//! invalid rather than silently unchecked. Validation reports every violation, each with its path
//! (`config.words[2]`).

use serde_json::Value;

/// Keywords this validator understands.
const CHECKED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
];
/// Keywords that only annotate.
const IGNORED: &[&str] = &["title", "description", "default", "$schema", "$comment", "examples"];
const TYPES: &[&str] = &["null", "boolean", "object", "array", "number", "integer", "string"];

/// Why a schema itself was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config schema at {path}: {reason}")]
pub struct SchemaError {
    /// Where in the schema.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// A checked schema.
#[derive(Debug, Clone)]
pub struct Schema(Value);

impl Schema {
    /// Parse schema text and check it uses only supported keywords, with values of the right shape.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SchemaError {
            path: "(schema)".into(),
            reason: format!("not JSON: {e}"),
        })?;
        check_schema(&value, "(schema)")?;
        Ok(Schema(value))
    }

    /// Every violation of `value`, each as `path: message`; empty when it conforms. `root` names the value
    /// (e.g. `config`).
    pub fn validate(&self, value: &Value, root: &str) -> Vec<String> {
        let mut out = Vec::new();
        validate(&self.0, value, root, &mut out);
        out
    }
}

fn bad(path: &str, reason: impl Into<String>) -> Result<(), SchemaError> {
    Err(SchemaError {
        path: path.to_string(),
        reason: reason.into(),
    })
}

fn check_schema(schema: &Value, path: &str) -> Result<(), SchemaError> {
    let Value::Object(map) = schema else {
        return match schema {
            Value::Bool(_) => Ok(()),
            _ => bad(path, "a schema must be an object or a boolean"),
        };
    };
    for (key, v) in map {
        let at = format!("{path}.{key}");
        if IGNORED.contains(&key.as_str()) {
            continue;
        }
        if !CHECKED.contains(&key.as_str()) {
            return bad(path, format!("unsupported keyword `{key}`"));
        }
        match key.as_str() {
            "type" => {
                let names: Vec<&Value> = match v {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for name in names {
                    if !name.as_str().is_some_and(|n| TYPES.contains(&n)) {
                        return bad(&at, format!("unknown type {name}"));
                    }
                }
            }
            "properties" => {
                let Value::Object(props) = v else {
                    return bad(&at, "must be an object");
                };
                for (name, sub) in props {
                    check_schema(sub, &format!("{at}.{name}"))?;
                }
            }
            "required" if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                return bad(&at, "must be an array of strings");
            }
            "additionalProperties" | "items" => check_schema(v, &at)?,
            "minItems" | "maxItems" | "minLength" | "maxLength" if v.as_u64().is_none() => {
                return bad(&at, "must be a non-negative integer");
            }
            "minimum" | "maximum" if !v.is_number() => return bad(&at, "must be a number"),
            "enum" if !v.is_array() => return bad(&at, "must be an array"),
            _ => {}
        }
    }
    Ok(())
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "number" => value.is_number(),
        "integer" => match value {
            Value::Number(n) => n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0),
            _ => false,
        },
        other => type_name(value) == other,
    }
}

/// Numbers compare by value (1 equals 1.0), everything else structurally.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn validate(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let map = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => {
            out.push(format!("{path}: not allowed"));
            return;
        }
        Value::Object(map) => map,
        _ => return,
    };
    if let Some(t) = map.get("type") {
        let names: Vec<&str> = match t {
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        };
        if !names.iter().any(|n| has_type(value, n)) {
            out.push(format!(
                "{path}: expected {}, found {}",
                names.join(" or "),
                type_name(value)
            ));
            // Further checks would only repeat the mismatch.
            return;
        }
    }
    if let Some(c) = map.get("const")
        && !same(c, value)
    {
        out.push(format!("{path}: must be {c}"));
    }
    if let Some(Value::Array(options)) = map.get("enum")
        && !options.iter().any(|o| same(o, value))
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        out.push(format!("{path}: {value} is not one of {}", list.join(", ")));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = map.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            out.push(format!("{path}: {value} is less than the minimum {min}"));
        }
        if let Some(max) = map.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            out.push(format!("{path}: {value} is more than the maximum {max}"));
        }
    }
    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if let Some(min) = map.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            out.push(format!("{path}: {len} characters; at least {min}"));
        }
        if let Some(max) = map.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            out.push(format!("{path}: {len} characters; at most {max}"));
        }
    }
    if let Value::Array(items) = value {
        let len = items.len() as u64;
        if let Some(min) = map.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            out.push(format!("{path}: {len} items; at least {min}"));
        }
        if let Some(max) = map.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            out.push(format!("{path}: {len} items; at most {max}"));
        }
        if let Some(item) = map.get("items") {
            for (i, v) in items.iter().enumerate() {
                validate(item, v, &format!("{path}[{i}]"), out);
            }
        }
    }
    if let Value::Object(fields) = value {
        if let Some(Value::Array(required)) = map.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !fields.contains_key(name) {
                    out.push(format!("{path}.{name}: required but missing"));
                }
            }
        }
        let props = map.get("properties").and_then(Value::as_object);
        for (name, v) in fields {
            let at = format!("{path}.{name}");
            match props.and_then(|p| p.get(name)) {
                Some(sub) => validate(sub, v, &at, out),
                None => match map.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(format!("{at}: unknown key (not in the schema)")),
                    Some(sub) => validate(sub, v, &at, out),
                    None => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(schema: Value, value: Value) -> Vec<String> {
        Schema::parse(&schema.to_string()).unwrap().validate(&value, "config")
    }

    #[test]
    fn a_conforming_config_has_no_errors() {
        let schema = json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 10},
                "words": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 3},
                "mode": {"enum": ["warn", "mute"]},
                "ratio": {"type": "number"}
            },
            "required": ["limit"],
            "additionalProperties": false
        });
        let ok = json!({"limit": 3, "words": ["a", "b"], "mode": "mute", "ratio": 2});
        assert_eq!(errors(schema, ok), Vec::<String>::new());
    }

    #[test]
    fn every_violation_is_reported_with_its_path() {
        let schema = json!({
            "type": "object",
            "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": 10},
                "words": {"type": "array", "items": {"type": "string", "minLength": 2}, "maxItems": 2},
                "mode": {"enum": ["warn", "mute"]},
                "version": {"const": 1},
                "name": {"type": "string", "maxLength": 3}
            },
            "required": ["limit", "mode"],
            "additionalProperties": false
        });
        let bad = json!({"limit": 11, "words": ["ok", "x", 5], "extra": true, "version": 2, "name": "long"});
        let errs = errors(schema, bad);
        let expected = [
            "config.mode: required but missing",
            "config.limit: 11 is more than the maximum 10",
            "config.words: 3 items; at most 2",
            "config.words[1]: 1 characters; at least 2",
            "config.words[2]: expected string, found integer",
            "config.extra: unknown key (not in the schema)",
            "config.version: must be 1",
            "config.name: 4 characters; at most 3",
        ];
        for e in expected {
            assert!(errs.iter().any(|x| x == e), "missing {e:?} in {errs:#?}");
        }
        assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    }

    #[test]
    fn types_integers_and_union_types() {
        assert!(
            errors(json!({"type": "integer"}), json!(3.0)).is_empty(),
            "3.0 is an integer"
        );
        assert_eq!(
            errors(json!({"type": "integer"}), json!(3.5)),
            ["config: expected integer, found number"]
        );
        assert!(errors(json!({"type": "number"}), json!(3)).is_empty());
        assert!(errors(json!({"type": ["string", "null"]}), json!(null)).is_empty());
        assert_eq!(
            errors(json!({"type": "object"}), json!([])),
            ["config: expected object, found array"]
        );
        assert!(errors(json!({"enum": [1]}), json!(1.0)).is_empty());
        assert_eq!(
            errors(
                json!({"additionalProperties": {"type": "boolean"}}),
                json!({"a": true, "b": 1})
            ),
            ["config.b: expected boolean, found integer"]
        );
    }

    #[test]
    fn unsupported_or_malformed_schemas_are_refused() {
        for (schema, why) in [
            (
                json!({"type": "string", "pattern": "^a"}),
                "unsupported keyword `pattern`",
            ),
            (
                json!({"properties": {"a": {"oneOf": []}}}),
                "unsupported keyword `oneOf`",
            ),
            (json!({"$ref": "#/x"}), "unsupported keyword `$ref`"),
            (json!({"type": "text"}), "unknown type"),
            (json!({"required": "a"}), "array of strings"),
            (json!({"minItems": -1}), "non-negative integer"),
            (json!(5), "object or a boolean"),
        ] {
            let err = Schema::parse(&schema.to_string()).unwrap_err().to_string();
            assert!(err.contains(why), "{schema}: {err}");
        }
        let err = Schema::parse("{not json").unwrap_err().to_string();
        assert!(err.contains("not JSON"), "{err}");
        let err = Schema::parse(r#"{"properties": {"a": {"pattern": "x"}}}"#).unwrap_err();
        assert_eq!(err.path, "(schema).properties.a");
        assert!(Schema::parse(r#"{"title": "t", "description": "d", "default": {}, "$schema": "x"}"#).is_ok());
    }
}
