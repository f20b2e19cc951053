//! HTML for the web console: escaping (every string that reaches a page goes through [`esc`]; plugin names,
//! versions, log lines and chat text are hostile) and the page frame with its navigation. No inline scripts or
//! styles: the Content-Security-Policy allows only the console's own `/static/` files.

/// `text` safe inside HTML text and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Bidi overrides and other controls would let a name disguise itself; show them as escapes.
            c if c.is_control() && c != '\n' && c != '\t' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The pages in the navigation bar: (path, title).
const NAV: &[(&str, &str)] = &[
    ("/", "Status"),
    ("/plugins", "Plugins"),
    ("/chat", "Chat"),
    ("/logs", "Logs"),
    ("/audit", "Audit"),
    ("/upload", "Install"),
];

/// A whole page: the frame, the navigation (`active` highlighted), an optional notice, and `body`.
pub fn frame(title: &str, active: &str, notice: Option<&Notice>, csrf: &str, body: &str) -> String {
    let nav: String = NAV
        .iter()
        .map(|(path, name)| {
            let class = if *path == active { " class=\"active\"" } else { "" };
            format!("<a href=\"{path}\"{class}>{name}</a>")
        })
        .collect();
    let notice = notice
        .map(|n| {
            format!(
                "<p class=\"notice {}\" id=\"notice\">{}</p>",
                if n.ok { "ok" } else { "error" },
                esc(&n.text)
            )
        })
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Coral</title>\
    <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
    <meta name=\"csrf\" content=\"{csrf}\">\
    <link rel=\"stylesheet\" href=\"/static/app.css\"><script src=\"/static/app.js\" defer></script></head>\
    <body><header><strong class=\"brand\">Coral</strong><nav>{nav}</nav>\
    <form method=\"post\" action=\"/logout\" class=\"logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
    <button>Log out</button></form></header><main><h1>{title}</h1>{notice}{body}</main></body></html>\n",
        title = esc(title),
        csrf = esc(csrf),
    )
}

/// A one-line message shown at the top of a page after an action.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Success (or a refusal).
    pub ok: bool,
    /// What happened.
    pub text: String,
}

/// A table: headers and rows of already-escaped HTML cells.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("<table id=\"{}\"><thead><tr>", esc(id));
    for h in headers {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{cell}</td>"));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The login page (no navigation).
pub fn login(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"notice error\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in · Coral</title>\
<link rel=\"stylesheet\" href=\"/static/app.css\"></head><body class=\"login\"><main><h1>Coral</h1>{error}\
<form method=\"post\" action=\"/login\"><label class=\"field\"><span>Token</span>\
<input type=\"password\" name=\"token\" id=\"token\" autofocus autocomplete=\"current-password\"></label>\
<button id=\"login\">Log in</button></form>\
<p><small>The token is <code>[web] token</code> in coral.toml, or the one the host logged at start.</small></p>\
</main></body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_text_cannot_become_markup_or_disguise_itself() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("a\u{202e}b\u{1b}[31m"), "a\\u{202e}b\\u{1b}[31m");
        let page = frame(
            "<t>",
            "/",
            Some(&Notice {
                ok: false,
                text: "<b>".into(),
            }),
            "c\"s",
            "",
        );
        assert!(page.contains("&lt;t&gt;") && page.contains("&lt;b&gt;") && page.contains("c&quot;s"));
        assert!(!page.contains("<t>") && !page.contains("<b>"));
    }
}
