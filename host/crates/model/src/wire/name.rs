//! OneBot action names as implementations read them: [`normalise_name`] strips what they ignore (case, leading
//! dots, `_async` / `_rate_limited` suffixes), so a check on the result holds for every spelling.

/// Longest action name accepted (bytes).
pub const MAX_ACTION_NAME: usize = 128;

/// Why a name is not an action name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Empty or over [`MAX_ACTION_NAME`].
    #[error("an action name has 1 to {MAX_ACTION_NAME} characters")]
    Length,
    /// A character other than ASCII letters, digits, `_` and `.`.
    #[error("an action name has only ASCII letters, digits, `_` and `.`")]
    Characters,
    /// Nothing left once dots and suffixes are gone.
    #[error("`{0}` names no action")]
    Empty(String),
}

/// The name a raw action is checked under: lower case, without leading dots, without every `_async` and
/// `_rate_limited` suffix (in any order and number). Names are ASCII letters, digits, `_` and `.`.
pub fn normalise_name(name: &str) -> Result<String, NameError> {
    if name.is_empty() || name.len() > MAX_ACTION_NAME {
        return Err(NameError::Length);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(NameError::Characters);
    }
    let mut base = name.trim_start_matches('.').to_ascii_lowercase();
    loop {
        if let Some(stripped) = base.strip_suffix("_async") {
            base.truncate(stripped.len());
        } else if let Some(stripped) = base.strip_suffix("_rate_limited") {
            base.truncate(stripped.len());
        } else {
            break;
        }
    }
    if base.is_empty() {
        return Err(NameError::Empty(name.to_string()));
    }
    Ok(base)
}

/// Whether `name`, in any spelling, is one of OneBot V11's three message sends.
pub fn is_send(name: &str) -> bool {
    use crate::ActionKind as K;
    let kind = normalise_name(name).ok().and_then(|n| K::from_name(&n));
    matches!(kind, Some(K::SendPrivateMsg | K::SendGroupMsg | K::SendMsg))
}
