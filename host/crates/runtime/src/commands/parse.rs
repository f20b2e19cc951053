//! Reading a message as a command: the text the host parses (mentions kept apart from typed text), the command
//! word after one of the operator's prefixes, the declared arguments, and the usage line a wrong call is shown.

use coral_model::bindings::{ArgKind, ArgValue, CommandSpec, Segment};

/// A message as the command parser reads it: its text, with each `@` mention written `@<id>` and its byte range
/// remembered (so a typed `@123` and a real mention are told apart).
#[derive(Debug, Default)]
pub struct Input {
    /// The text.
    pub text: String,
    mentions: Vec<(usize, usize, String)>,
}

impl Input {
    /// Render `message` for parsing. Leading quotes (`reply`) and a leading mention of the bot itself are skipped,
    /// so `@bot /sign` is `/sign`; segments that are neither text nor mentions separate words.
    pub fn new(message: &[Segment], self_id: &str) -> Input {
        let mut input = Input::default();
        let mut leading = true;
        for segment in message {
            match segment {
                Segment::Reply(_) if leading => continue,
                Segment::At(id) if leading && id == self_id => continue,
                Segment::Text(text) => {
                    let text = if leading { text.trim_start() } else { text.as_str() };
                    if leading && text.is_empty() {
                        continue;
                    }
                    input.text.push_str(text);
                }
                Segment::At(id) => {
                    input.text.push(' ');
                    let start = input.text.len();
                    input.text.push('@');
                    input.text.push_str(id);
                    input.mentions.push((start, input.text.len(), id.clone()));
                    input.text.push(' ');
                }
                _ => input.text.push(' '),
            }
            leading = false;
        }
        input
    }

    fn mention(&self, start: usize, end: usize) -> Option<&str> {
        self.mentions
            .iter()
            .find(|(s, e, _)| *s == start && *e == end)
            .map(|(_, _, id)| id.as_str())
    }
}

/// A possible command word: the prefix it followed and where its arguments start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'p> {
    /// The prefix (`/`, or empty).
    pub prefix: &'p str,
    /// The word, lower-cased.
    pub word: String,
    /// Byte offset in [`Input::text`] just after the word.
    pub after: usize,
}

/// Every reading of the input's first word under `prefixes` (longest prefix first, as given).
pub fn heads<'p>(input: &Input, prefixes: &'p [String]) -> Vec<Head<'p>> {
    let start = input.text.len() - input.text.trim_start().len();
    let text = &input.text[start..];
    let mut heads = Vec::new();
    for prefix in prefixes {
        let Some(rest) = text.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if len == 0 || len > super::MAX_NAME {
            continue;
        }
        heads.push(Head {
            prefix,
            word: rest[..len].to_lowercase(),
            after: start + prefix.len() + len,
        });
    }
    heads
}

/// Why a command's arguments did not parse (the host answers with the usage line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadArgs(pub String);

/// Parse the text after the command word against the declared arguments.
pub fn args(spec: &CommandSpec, input: &Input, from: usize) -> Result<Vec<Option<ArgValue>>, BadArgs> {
    let mut tokens = tokens(&input.text, from).into_iter().peekable();
    let mut values = Vec::with_capacity(spec.args.len());
    for arg in &spec.args {
        if arg.kind == ArgKind::Rest {
            let value = tokens
                .peek()
                .map(|&(start, _)| input.text[start..].trim_end().to_string());
            tokens.by_ref().for_each(drop);
            match value {
                Some(text) => values.push(Some(ArgValue::Text(text))),
                None if arg.optional => values.push(None),
                None => return Err(BadArgs(format!("missing <{}>", arg.name))),
            }
            continue;
        }
        let Some((start, end)) = tokens.next() else {
            if arg.optional {
                values.push(None);
                continue;
            }
            return Err(BadArgs(format!("missing <{}>", arg.name)));
        };
        let word = &input.text[start..end];
        let value = match arg.kind {
            ArgKind::Text | ArgKind::Rest => ArgValue::Text(word.to_string()),
            ArgKind::Int => ArgValue::Int(
                word.parse::<i64>()
                    .map_err(|_| BadArgs(format!("<{}> must be a whole number", arg.name)))?,
            ),
            ArgKind::User => match input.mention(start, end) {
                Some(id) => ArgValue::User(id.to_string()),
                None => {
                    let digits = word.strip_prefix('@').unwrap_or(word);
                    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(BadArgs(format!("<{}> must be a mention or a user id", arg.name)));
                    }
                    ArgValue::User(digits.to_string())
                }
            },
        };
        values.push(Some(value));
    }
    if tokens.next().is_some() {
        return Err(BadArgs("too many arguments".into()));
    }
    Ok(values)
}

/// The text after the command word, trimmed.
pub fn text_after(input: &Input, from: usize) -> String {
    input.text[from..].trim().to_string()
}

/// The whitespace-separated words of `text` from byte `from`, as byte ranges.
fn tokens(text: &str, from: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text[from..].char_indices() {
        let i = from + i;
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// The usage line: `/sign <user> [days] [note...]`.
pub fn usage(prefix: &str, spec: &CommandSpec) -> String {
    let mut line = format!("{prefix}{}", spec.name);
    for arg in &spec.args {
        let name = if arg.kind == ArgKind::Rest {
            format!("{}...", arg.name)
        } else {
            arg.name.clone()
        };
        if arg.optional {
            line.push_str(&format!(" [{name}]"));
        } else {
            line.push_str(&format!(" <{name}>"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[(&str, ArgKind, bool)]) -> CommandSpec {
        crate::test_support::command("sign", args)
    }

    /// Parsed values as text (the generated types have no `PartialEq`).
    fn shown<T: std::fmt::Debug>(value: T) -> String {
        format!("{value:?}")
    }

    fn text(s: &str) -> Segment {
        Segment::Text(s.into())
    }

    #[test]
    fn the_word_follows_the_longest_prefix_and_a_bare_word_needs_the_empty_prefix() {
        let prefixes = vec!["/".to_string(), String::new()];
        let input = Input::new(&[text("  /Sign   me")], "1");
        let heads = heads(&input, &prefixes);
        assert_eq!(heads[0].prefix, "/");
        assert_eq!(heads[0].word, "sign");
        assert_eq!(heads[1].word, "/sign");
        let only_slash = vec!["/".to_string()];
        assert!(super::heads(&Input::new(&[text("sign")], "1"), &only_slash).is_empty());
        assert!(super::heads(&Input::new(&[text("/ sign")], "1"), &only_slash).is_empty());
    }

    #[test]
    fn a_quote_and_a_mention_of_the_bot_before_the_command_are_skipped() {
        let input = Input::new(
            &[Segment::Reply("9".into()), Segment::At("1".into()), text(" /sign")],
            "1",
        );
        assert_eq!(input.text, "/sign");
    }

    #[test]
    fn arguments_are_typed_and_a_mention_is_a_user() {
        let s = spec(&[
            ("who", ArgKind::User, false),
            ("days", ArgKind::Int, true),
            ("note", ArgKind::Rest, true),
        ]);
        let input = Input::new(
            &[text("/sign "), Segment::At("42".into()), text(" -3 hello   world ")],
            "1",
        );
        let slash = ["/".to_string()];
        let head = &heads(&input, &slash)[0];
        let values = args(&s, &input, head.after).unwrap();
        assert_eq!(
            shown(values),
            shown(vec![
                Some(ArgValue::User("42".into())),
                Some(ArgValue::Int(-3)),
                Some(ArgValue::Text("hello   world".into()))
            ])
        );
        // A typed id is a user too; optional ones may be left out.
        let input = Input::new(&[text("/sign 12345")], "1");
        assert_eq!(
            shown(args(&s, &input, 5).unwrap()),
            shown(vec![Some(ArgValue::User("12345".into())), None, None])
        );
    }

    #[test]
    fn wrong_arguments_say_what_is_wrong() {
        let s = spec(&[("days", ArgKind::Int, false)]);
        let input = |t: &str| Input::new(&[text(t)], "1");
        assert_eq!(
            args(&s, &input("/sign"), 5).unwrap_err(),
            BadArgs("missing <days>".into())
        );
        assert_eq!(
            args(&s, &input("/sign two"), 5).unwrap_err(),
            BadArgs("<days> must be a whole number".into())
        );
        assert!(args(&s, &input("/sign 99999999999999999999"), 5).is_err());
        assert_eq!(
            args(&s, &input("/sign 1 2"), 5).unwrap_err(),
            BadArgs("too many arguments".into())
        );
        let u = spec(&[("who", ArgKind::User, false)]);
        assert!(args(&u, &input("/sign bob"), 5).is_err());
    }

    #[test]
    fn the_usage_line_marks_optional_and_rest_arguments() {
        let s = spec(&[
            ("who", ArgKind::User, false),
            ("days", ArgKind::Int, true),
            ("note", ArgKind::Rest, true),
        ]);
        assert_eq!(usage("/", &s), "/sign <who> [days] [note...]");
    }
}
