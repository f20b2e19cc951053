//! Strings on their way to an operator (status table, audit listing, logs): control characters, newlines, ANSI
//! escapes and bidirectional overrides shown as visible escapes; long fields cut on a character boundary. The same
//! rules as `coral_model::text` (this crate depends on no Coral crate; `coral-host` tests that both agree).

use std::borrow::Cow;

/// `text` with every control character written as an escape (`\n`, `\r`, `\t`, `\u{1b}`, …) and backslashes
/// doubled. Text without control characters or backslashes is returned as is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() || c == '\\' || is_invisible_format(c))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_invisible_format(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Characters that reorder or hide text on a terminal (bidirectional overrides and isolates).
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Cut `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn cut(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// The civil date (year, month 1-12, day 1-31) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}
