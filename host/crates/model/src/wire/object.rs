//! A JSON object's fields behind one trait ([`Object`]), read from a parsed [`Value`] tree or in place from a frame
//! ([`Fields`]: each top-level field's text borrowed from the frame, a field parsed only when asked for), so the
//! decoders have one implementation and an incoming event needs no tree of allocations.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::fmt;

/// `null`, for an absent object.
pub static NULL: Value = Value::Null;

/// One field of an object, as far as the decoders need to look into it.
#[derive(Debug)]
pub enum Field<'a> {
    /// No such field.
    Missing,
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string (borrowed unless it had escapes).
    Str(Cow<'a, str>),
    /// An array.
    Array(Json<'a>),
    /// An object.
    Object(Obj<'a>),
}

impl<'a> Field<'a> {
    /// Present and not `null`.
    pub fn present(&self) -> bool {
        !matches!(self, Field::Missing | Field::Null)
    }

    /// The string, or `""` for anything else.
    pub fn into_str(self) -> Cow<'a, str> {
        match self {
            Field::Str(s) => s,
            _ => Cow::Borrowed(""),
        }
    }

    /// The field as a JSON value (`Missing` as `null`).
    pub fn to_value(&self) -> Value {
        match self {
            Field::Missing | Field::Null => Value::Null,
            Field::Bool(b) => Value::Bool(*b),
            Field::Number(n) => Value::Number(n.clone()),
            Field::Str(s) => Value::String(s.to_string()),
            Field::Array(json) => json.to_value().into_owned(),
            Field::Object(obj) => obj.to_value().into_owned(),
        }
    }

    fn of_tree(v: Option<&'a Value>) -> Field<'a> {
        match v {
            None => Field::Missing,
            Some(Value::Null) => Field::Null,
            Some(Value::Bool(b)) => Field::Bool(*b),
            Some(Value::Number(n)) => Field::Number(n.clone()),
            Some(Value::String(s)) => Field::Str(Cow::Borrowed(s)),
            Some(v @ Value::Array(_)) => Field::Array(Json::Tree(v)),
            Some(v @ Value::Object(_)) => Field::Object(Obj::Tree(v)),
        }
    }

    fn of_raw(raw: &'a RawValue) -> Field<'a> {
        let text = raw.get();
        match text.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<Text<'a>>(text).map_or(Field::Null, |t| Field::Str(t.0)),
            Some(b'{') => Fields::parse(text).map_or(Field::Null, |f| Field::Object(Obj::Fields(f))),
            Some(b'[') => Field::Array(Json::Raw(raw)),
            Some(b't') => Field::Bool(true),
            Some(b'f') => Field::Bool(false),
            Some(b'n') | None => Field::Null,
            Some(_) => serde_json::from_str::<Number>(text).map_or(Field::Null, Field::Number),
        }
    }
}

/// An array or other JSON kept as it came: a node of a tree, or a frame's text.
#[derive(Debug, Clone, Copy)]
pub enum Json<'a> {
    /// Part of a parsed tree.
    Tree(&'a Value),
    /// Text from a frame (valid JSON: the frame was parsed).
    Raw(&'a RawValue),
}

impl<'a> Json<'a> {
    /// The JSON as a value (parsed now if it is text).
    pub fn to_value(&self) -> Cow<'a, Value> {
        match self {
            Json::Tree(v) => Cow::Borrowed(v),
            Json::Raw(raw) => Cow::Owned(serde_json::from_str(raw.get()).unwrap_or(Value::Null)),
        }
    }
}

/// An object read from a tree or from a frame.
#[derive(Debug)]
pub enum Obj<'a> {
    /// Part of a parsed tree (`null` reads as an object without fields).
    Tree(&'a Value),
    /// Read in place.
    Fields(Fields<'a>),
}

/// A JSON object whose fields the decoders read.
pub trait Object {
    /// The field `key` (the last of that name, as a parser keeps it).
    fn field(&self, key: &str) -> Field<'_>;
    /// The keys in their order (a repeated key more than once).
    fn keys(&self) -> impl Iterator<Item = &str>;
    /// The object as a value (parsed now if it is read in place).
    fn to_value(&self) -> Cow<'_, Value>;
    /// The field `key` as a value of its own (`null` if absent): parsed straight from its text when read in place.
    fn value(&self, key: &str) -> Value {
        self.field(key).to_value()
    }
}

impl Object for Value {
    fn field(&self, key: &str) -> Field<'_> {
        Field::of_tree(self.get(key))
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.as_object().into_iter().flat_map(|m| m.keys().map(String::as_str))
    }

    fn to_value(&self) -> Cow<'_, Value> {
        Cow::Borrowed(self)
    }

    fn value(&self, key: &str) -> Value {
        self.get(key).cloned().unwrap_or(Value::Null)
    }
}

impl Object for Obj<'_> {
    fn field(&self, key: &str) -> Field<'_> {
        match self {
            Obj::Tree(v) => v.field(key),
            Obj::Fields(f) => f.field(key),
        }
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        let (tree, fields) = match self {
            Obj::Tree(v) => (Some(*v), None),
            Obj::Fields(f) => (None, Some(f)),
        };
        tree.into_iter()
            .flat_map(|v| v.keys())
            .chain(fields.into_iter().flat_map(|f| f.keys()))
    }

    fn to_value(&self) -> Cow<'_, Value> {
        match self {
            Obj::Tree(v) => Cow::Borrowed(v),
            Obj::Fields(f) => f.to_value(),
        }
    }
}

/// An object's fields read in place: each value's text borrowed from `text`, parsed when asked for.
#[derive(Debug, Default)]
pub struct Fields<'a> {
    text: &'a str,
    entries: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> Fields<'a> {
    /// Read `text` (a JSON object); an error for anything else.
    pub fn parse(text: &'a str) -> Result<Fields<'a>, serde_json::Error> {
        let mut fields: Fields<'a> = serde_json::from_str(text)?;
        fields.text = text;
        Ok(fields)
    }

    /// Whether the object has a field named `key` (`null` included).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// The text of field `key` (the last of that name, as a parser keeps it).
    fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.entries.iter().rev().find(|(k, _)| k == key).map(|(_, raw)| *raw)
    }
}

impl Object for Fields<'_> {
    fn field(&self, key: &str) -> Field<'_> {
        self.raw(key).map_or(Field::Missing, Field::of_raw)
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }

    fn to_value(&self) -> Cow<'_, Value> {
        Cow::Owned(serde_json::from_str(self.text).unwrap_or(Value::Null))
    }

    fn value(&self, key: &str) -> Value {
        self.raw(key)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null)
    }
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> Visitor<'de> for Entries {
            type Value = Fields<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut entries = Vec::with_capacity(16);
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(Fields { text: "", entries })
            }
        }
        // Its text is set by `parse`, which has it.
        deserializer.deserialize_map(Entries)
    }
}

/// A string, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Str;
        impl<'de> Visitor<'de> for Str {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }

            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(Str)
    }
}
