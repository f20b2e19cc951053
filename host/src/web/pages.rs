//! The web console's pages and the changes they make: status, plugins (list, one plugin with its permissions,
//! config form and per-group switches), chat, logs, audit, and the upload-and-approve flow.

use super::page::{esc, frame, table};
use super::{Login, Shared, csrf_header_ok, csrf_ok, edit, forbidden, form, html};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use coral_ops::Manage;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// Tags for a list of names (`-` for none), each with `class`.
fn tags(items: &[String], class: impl Fn(&str) -> &'static str) -> String {
    if items.is_empty() {
        return "<span class=\"muted\">-</span>".into();
    }
    items
        .iter()
        .map(|i| format!("<span class=\"tag {}\">{}</span>", class(i), esc(i)))
        .collect()
}

fn hidden_csrf(login: &Login) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&login.csrf))
}

/// A posted form, once its CSRF token is checked (none: answer [`forbidden`], and change nothing).
fn posted(login: &Login, body: &str) -> Option<form::Form> {
    let form = form::Form::parse(body);
    csrf_ok(login, &form).then_some(form)
}

/// A plugin name from the address: as the plugin folder knows names (letters, digits, `-`, `_`, `.`).
fn plugin_name(name: &str) -> Option<&str> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then_some(name)
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("no {what}")).into_response()
}

pub(super) async fn status(State(web): State<Shared>, Extension(login): Extension<Login>) -> Response {
    let s = web.parts.sources.snapshot();
    let online = s.bots.iter().filter(|b| b.online).count();
    let quarantined = s.plugins.iter().filter(|p| p.quarantined).count();
    let mut body = format!(
        "<div class=\"cards\">\
<div class=\"card\" id=\"uptime\"><b>{}s</b>up (coral {})</div>\
<div class=\"card\"><b>{}</b>plugins running ({quarantined} quarantined)</div>\
<div class=\"card\"><b>{online}/{}</b>bots online</div>\
<div class=\"card\"><b>{}</b>events handled</div></div>\
<h2>Activity (per 2 s, last 5 min)</h2><div class=\"cards\">",
        s.uptime_seconds.round(),
        esc(&s.version),
        s.plugins.len(),
        s.bots.len(),
        s.plugins.iter().map(|p| p.handled).sum::<u64>()
    );
    for (series, title) in [
        ("events", "events handled"),
        ("calls", "platform calls"),
        ("refused", "calls refused"),
        ("failures", "handler failures"),
    ] {
        let _ = write!(
            body,
            "<div class=\"chart\" data-series=\"{series}\"><small>{title}: <span class=\"now\">-</span></small>\
<svg viewBox=\"0 0 300 100\" preserveAspectRatio=\"none\"><polyline points=\"\"/></svg></div>"
        );
    }
    body.push_str("</div><h2>Bots</h2>");
    let rows: Vec<Vec<String>> = s
        .bots
        .iter()
        .map(|b| {
            vec![
                esc(&b.self_id),
                esc(&b.platform),
                if b.online { "online" } else { "offline" }.into(),
                b.api_calls.to_string(),
                b.api_failures.to_string(),
                b.reconnects.to_string(),
            ]
        })
        .collect();
    body.push_str(&table(
        "bots",
        &["bot", "platform", "state", "calls", "failed", "reconnects"],
        &rows,
    ));
    body.push_str("<h2>Plugins</h2>");
    let rows: Vec<Vec<String>> = s
        .plugins
        .iter()
        .map(|p| {
            vec![
                format!("<a href=\"/plugins/{0}\">{0}</a>", esc(&p.name)),
                esc(&p.version),
                p.received.to_string(),
                p.handled.to_string(),
                p.failed.to_string(),
                (p.denied + p.rate_limited).to_string(),
                format!("{:.1} MiB", p.memory_peak_bytes as f64 / f64::from(1 << 20)),
            ]
        })
        .collect();
    body.push_str(&table(
        "plugin-figures",
        &[
            "plugin",
            "version",
            "events",
            "handled",
            "failed",
            "refused",
            "memory peak",
        ],
        &rows,
    ));
    html(frame(
        "Status",
        "/",
        web.take_flash(&login).as_ref(),
        &login.csrf,
        &body,
    ))
}

pub(super) async fn plugins(State(web): State<Shared>, Extension(login): Extension<Login>) -> Response {
    let rows = web.parts.reloader.list().await;
    let csrf = hidden_csrf(&login);
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            let effective: BTreeSet<&str> = p.effective.iter().map(String::as_str).collect();
            let name = esc(&p.name);
            let ops: &[&str] = match p.state.as_str() {
                "running" => &["reload", "disable"],
                "quarantined" => &["unquarantine", "reload", "disable"],
                "no file" => &[],
                _ => &["enable"],
            };
            let buttons: String = ops
                .iter()
                .map(|op| {
                    format!(
                        "<form method=\"post\" action=\"/plugins/{name}/op\" class=\"inline\">{csrf}\
<input type=\"hidden\" name=\"op\" value=\"{op}\"><button class=\"plain\" id=\"{op}-{name}\">{op}</button></form> "
                    )
                })
                .collect();
            vec![
                format!("<a href=\"/plugins/{name}\" id=\"plugin-{name}\">{name}</a>"),
                format!(
                    "<span class=\"state-{}\">{}</span>",
                    esc(&p.state.replace(' ', "-")),
                    esc(&p.state)
                ),
                esc(&p.version),
                format!("<code>{}</code>", esc(&p.hash)),
                tags(&p.requested, |c| {
                    if effective.contains(c) { "effective" } else { "missing" }
                }),
                tags(&p.granted, |_| ""),
                p.faults.to_string(),
                tags(&p.off_in, |_| ""),
                buttons,
            ]
        })
        .collect();
    let mut body = table(
        "plugins",
        &[
            "plugin",
            "state",
            "version",
            "hash",
            "requested",
            "granted",
            "faults",
            "off in",
            "",
        ],
        &cells,
    );
    for p in &rows {
        if let Some(problem) = &p.problem {
            let _ = write!(body, "<p class=\"muted\"><b>{}</b>: {}</p>", esc(&p.name), esc(problem));
        }
    }
    body.push_str(
        "<p><small>Requested capabilities in green are in force; orange ones are not granted. \
Open a plugin to change its grants.</small></p>",
    );
    html(frame(
        "Plugins",
        "/plugins",
        web.take_flash(&login).as_ref(),
        &login.csrf,
        &body,
    ))
}

/// A plugin's page: what it is, its permissions as a form, its config form, its per-group switches.
pub(super) async fn plugin(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    let Some(name) = plugin_name(&name) else {
        return not_found("such plugin");
    };
    let rows = web.parts.reloader.list().await;
    let Some(row) = rows.into_iter().find(|r| r.name == name) else {
        return not_found("such plugin");
    };
    let config = web.parts.reloader.config().await;
    let settings = config.plugin(name);
    let running = web.parts.reloader.dispatcher().metadata(name);
    let csrf = hidden_csrf(&login);
    let n = esc(name);
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>State: <b id=\"state\">{}</b>{}</p>",
        esc(&row.state),
        row.problem
            .as_ref()
            .map(|p| format!(" — {}", esc(p)))
            .unwrap_or_default()
    );
    if let Some((metadata, commands, _)) = &running {
        let _ = write!(
            body,
            "<p>{} <b>{}</b> · WIT {} · hash <code>{}</code></p>",
            esc(&metadata.description),
            esc(&metadata.version),
            esc(&row.wit),
            esc(&row.hash)
        );
        let words: Vec<String> = commands.specs().iter().map(|c| c.name.clone()).collect();
        if !words.is_empty() {
            let _ = write!(body, "<p>Commands: {}</p>", tags(&words, |_| ""));
        }
    }

    // Permissions.
    let requested: BTreeSet<String> = row.requested.iter().cloned().collect();
    let granted: BTreeSet<String> = settings.grants.iter().cloned().collect();
    let effective: BTreeSet<&str> = row.effective.iter().map(String::as_str).collect();
    let mut caps = String::new();
    for cap in requested.union(&granted) {
        let note = if !requested.contains(cap) {
            " <small>(not requested: no effect)</small>"
        } else if effective.contains(cap.as_str()) {
            " <span class=\"tag effective\">in force</span>"
        } else {
            " <span class=\"tag missing\">requested</span>"
        };
        let _ = write!(
            caps,
            "<label><input type=\"checkbox\" name=\"cap\" value=\"{0}\" id=\"cap-{0}\"{1}> {0}{note}</label>",
            esc(cap),
            if granted.contains(cap) { " checked" } else { "" }
        );
    }
    if caps.is_empty() {
        caps =
            "<p class=\"muted\">It requests no capabilities (it may still reply in the chat of each event).</p>".into();
    }
    let ids = |list: &Option<Vec<crate::config::Id>>| {
        list.as_ref()
            .map(|l| l.iter().map(|i| i.as_string()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    let (limit_sight, sight_groups, sight_users, sight_private) = match &settings.enabled_in {
        Some(e) => (true, ids(&e.groups), ids(&e.users), e.private),
        None => (false, String::new(), String::new(), true),
    };
    let _ = write!(
        body,
        "<h2>What it may do</h2><form method=\"post\" action=\"/plugins/{n}/permissions\" id=\"permissions\">{csrf}\
<div class=\"caps\">{caps}</div>\
<div class=\"row\"><label class=\"field\"><span>Only in groups</span><input type=\"text\" name=\"groups\" value=\"{}\" placeholder=\"any\"></label>\
<label class=\"field\"><span>Only for users</span><input type=\"text\" name=\"users\" value=\"{}\" placeholder=\"any\"></label></div>\
<h2>What it sees</h2>\
<label><input type=\"checkbox\" name=\"limit_sight\" value=\"1\"{}> Only these chats:</label>\
<div class=\"row\"><label class=\"field\"><span>Groups</span><input type=\"text\" name=\"sight_groups\" value=\"{}\" placeholder=\"every group\"></label>\
<label class=\"field\"><span>Private chats with</span><input type=\"text\" name=\"sight_users\" value=\"{}\" placeholder=\"every user\"></label>\
<label><input type=\"checkbox\" name=\"sight_private\" value=\"1\"{}> private chats at all</label></div>\
<p><button id=\"save-permissions\">Save to coral.toml and apply</button></p></form>",
        esc(&ids(&settings.groups)),
        esc(&ids(&settings.users)),
        if limit_sight { " checked" } else { "" },
        esc(&sight_groups),
        esc(&sight_users),
        if sight_private { " checked" } else { "" },
    );

    // Per-group switches.
    let _ = write!(body, "<h2>Switched off in groups</h2>");
    for group in &row.off_in {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/plugins/{n}/switch\" class=\"inline\">{csrf}\
<input type=\"hidden\" name=\"group\" value=\"{0}\"><input type=\"hidden\" name=\"on\" value=\"1\">\
<span class=\"tag\">{0}</span><button class=\"plain\">switch on</button></form> ",
            esc(group)
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/plugins/{n}/switch\" class=\"row\">{csrf}\
<label class=\"field\"><span>Group</span><input type=\"text\" name=\"group\" id=\"switch-group\"></label>\
<button class=\"plain\" id=\"switch-off\">switch off there</button></form>"
    );

    // Config.
    let current: serde_json::Map<String, serde_json::Value> = serde_json::to_value(&settings.config)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let schema = running
        .as_ref()
        .and_then(|(m, _, _)| m.config_schema.as_deref())
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    let _ = write!(
        body,
        "<h2>Settings</h2><form method=\"post\" action=\"/plugins/{n}/config\" id=\"config\">{csrf}"
    );
    match &schema {
        Some(schema) => body.push_str(&form::config_fields(schema, &current)),
        None => {
            let _ = write!(
                body,
                "<p class=\"muted\">The plugin declares no settings schema{}; its config table as JSON:</p>\
<label class=\"field\"><textarea name=\"json\" rows=\"6\">{}</textarea></label>",
                if running.is_none() {
                    " (or it is not running)"
                } else {
                    ""
                },
                esc(&serde_json::to_string_pretty(&current).unwrap_or_default())
            );
        }
    }
    body.push_str("<p><button id=\"save-config\">Save settings</button></p></form>");
    html(frame(
        name,
        "/plugins",
        web.take_flash(&login).as_ref(),
        &login.csrf,
        &body,
    ))
}

/// Read, change and write `coral.toml` (checked as a whole config first), then apply it as a reload does; the
/// audit entry says what changed. What happened, for the operator.
async fn change_config(
    web: &Shared,
    op: &str,
    plugin: &str,
    what: String,
    change: impl FnOnce(&str) -> Result<String, String>,
) -> Result<String, String> {
    let result = async {
        let path = web
            .parts
            .reloader
            .config_path()
            .ok_or("this host runs without a config file: start it with --config to change settings here")?
            .to_path_buf();
        let _one_at_a_time = web.edit_lock.lock().await;
        let text = crate::config::Config::read_text(&path)?;
        let new = change(&text)?;
        crate::config::Config::parse(&new, &path).map_err(|e| format!("not saved: {e}"))?;
        crate::config::Config::write_text(&path, &new)?;
        let applied = web.parts.reloader.reload_config().await?;
        Ok(format!("saved to coral.toml; {applied}"))
    }
    .await;
    web.parts.reloader.audit_operator(
        &format!("web-{op}"),
        plugin,
        "-",
        result.clone().map(|done| format!("{what}; {done}")),
    );
    result
}

pub(super) async fn permissions(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    UrlPath(name): UrlPath<String>,
    body: String,
) -> Response {
    let Some(form) = posted(&login, &body) else {
        return forbidden();
    };
    let Some(name) = plugin_name(&name) else {
        return not_found("such plugin");
    };
    let permissions = edit::Permissions {
        grants: form.all("cap").into_iter().map(str::to_string).collect(),
        groups: form::id_list(form.get("groups").unwrap_or("")),
        users: form::id_list(form.get("users").unwrap_or("")),
        enabled_in: form.get("limit_sight").map(|_| edit::EnabledIn {
            groups: form::id_list(form.get("sight_groups").unwrap_or("")),
            users: form::id_list(form.get("sight_users").unwrap_or("")),
            private: form.get("sight_private").is_some(),
        }),
    };
    let what = format!(
        "grants [{}], groups {:?}, users {:?}, enabled_in {:?}",
        permissions.grants.join(", "),
        permissions.groups,
        permissions.users,
        permissions.enabled_in
    );
    let result = change_config(&web, "permissions", name, what, |text| {
        edit::set_permissions(text, name, &permissions)
    })
    .await;
    done(&web, &login, result, &format!("/plugins/{name}"))
}

pub(super) async fn config(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    UrlPath(name): UrlPath<String>,
    body: String,
) -> Response {
    let Some(form) = posted(&login, &body) else {
        return forbidden();
    };
    let Some(name) = plugin_name(&name) else {
        return not_found("such plugin");
    };
    let settings = web.parts.reloader.config().await.plugin(name);
    let current: serde_json::Map<String, serde_json::Value> = serde_json::to_value(&settings.config)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let schema_text = web
        .parts
        .reloader
        .dispatcher()
        .metadata(name)
        .and_then(|(m, _, _)| m.config_schema);
    let new = match &schema_text {
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(schema) => form::config_from_form(&schema, &current, &form),
            Err(e) => Err(format!("the plugin's schema is not JSON: {e}")),
        },
        None => serde_json::from_str::<serde_json::Value>(form.get("json").unwrap_or("{}"))
            .map_err(|e| format!("not JSON: {e}"))
            .and_then(|v| v.as_object().cloned().ok_or_else(|| "not a JSON object".to_string())),
    };
    let result = match new {
        Err(e) => Err(e),
        Ok(new) => {
            let json = serde_json::Value::Object(new.clone()).to_string();
            let violations = coral_runtime::config_violations(schema_text.as_deref(), &json);
            if violations.is_empty() {
                change_config(&web, "config", name, format!("config {json}"), |text| {
                    edit::set_config(text, name, &new)
                })
                .await
            } else {
                Err(format!("not saved: {}", violations.join("; ")))
            }
        }
    };
    done(&web, &login, result, &format!("/plugins/{name}"))
}

/// Flash what happened and go back to `to`.
fn done(web: &Shared, login: &Login, result: Result<String, String>, to: &str) -> Response {
    match result {
        Ok(text) => web.flash(login, true, text),
        Err(text) => web.flash(login, false, text),
    }
    Redirect::to(to).into_response()
}

pub(super) async fn switch(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    UrlPath(name): UrlPath<String>,
    body: String,
) -> Response {
    let Some(form) = posted(&login, &body) else {
        return forbidden();
    };
    let request = Manage::Switch {
        plugin: name.clone(),
        group: form.get("group").unwrap_or("").trim().to_string(),
        on: form.get("on").is_some(),
    };
    let result = web.parts.reloader.manage(request).await.map(|a| {
        format!(
            "{} in group {}: {}",
            name,
            a["group"].as_str().unwrap_or("?"),
            if a["on"] == true { "on" } else { "off" }
        )
    });
    let back = match plugin_name(&name) {
        Some(name) => format!("/plugins/{name}"),
        None => "/plugins".into(),
    };
    done(&web, &login, result, &back)
}

pub(super) async fn plugin_op(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    UrlPath(name): UrlPath<String>,
    body: String,
) -> Response {
    let Some(form) = posted(&login, &body) else {
        return forbidden();
    };
    let plugin = name.clone();
    let request = match form.get("op").unwrap_or("") {
        "enable" => Manage::Enable { plugin },
        "disable" => Manage::Disable { plugin },
        "reload" => Manage::Reload { plugin },
        "unquarantine" => Manage::Unquarantine { plugin },
        other => return (StatusCode::BAD_REQUEST, format!("unknown operation {}", esc(other))).into_response(),
    };
    let result = web.parts.reloader.manage(request).await.map(|a| {
        let done = a["done"].as_str().map(str::to_string).unwrap_or_else(|| {
            if a["lifted"] == true {
                "quarantine lifted".into()
            } else {
                "nothing to do".into()
            }
        });
        format!("{name}: {done}")
    });
    done(&web, &login, result, "/plugins")
}

pub(super) async fn chat(State(web): State<Shared>, Extension(login): Extension<Login>) -> Response {
    let Some(chat) = &web.parts.chat else {
        let body = "<p>The console platform is not running on this host.</p>".to_string();
        return html(frame("Chat", "/chat", None, &login.csrf, &body));
    };
    let lines = chat.transcript.after(0);
    let after = lines.last().and_then(|l| l["seq"].as_u64()).unwrap_or(0);
    let shown: String = lines
        .iter()
        .map(|l| format!("<div class=\"bot\">{}</div>", esc(l["text"].as_str().unwrap_or(""))))
        .collect();
    let body = format!(
        "<p class=\"muted\">Talk to the bot as any user, in a private chat or a group, with any role — as the \
console platform does. What plugins send appears below.</p>\
<div id=\"chat-log\" data-after=\"{after}\">{shown}</div>\
<form id=\"chat-form\" class=\"row\">\
<label class=\"field\"><span>User</span><input type=\"text\" name=\"user\" id=\"chat-user\" value=\"10000\"></label>\
<label class=\"field\"><span>Nickname</span><input type=\"text\" name=\"nickname\" value=\"web-user\"></label>\
<label class=\"field\"><span>Group (empty: private)</span><input type=\"text\" name=\"group\" id=\"chat-group\"></label>\
<label class=\"field\"><span>Role</span><select name=\"role\" id=\"chat-role\"><option>member</option><option>admin</option><option>owner</option></select></label>\
<label class=\"field\" style=\"flex:1;max-width:none\"><span>Message</span><input type=\"text\" name=\"text\" id=\"chat-text\" autocomplete=\"off\"></label>\
<button id=\"chat-send\">Send</button></form>"
    );
    html(frame("Chat", "/chat", None, &login.csrf, &body))
}

pub(super) async fn logs(Extension(login): Extension<Login>) -> Response {
    let body = "<p><input type=\"text\" id=\"log-filter\" placeholder=\"filter\"> <small>live: new lines appear \
as the host logs them</small></p><pre class=\"log\" id=\"log\"></pre>";
    html(frame("Logs", "/logs", None, &login.csrf, body))
}

#[derive(serde::Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    plugin: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    q: String,
}

pub(super) async fn audit(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    Query(query): Query<AuditQuery>,
) -> Response {
    let records =
        coral_ops::audit::AuditLog::read_all(&web.parts.data_dir, crate::folders::AUDIT_LOG).unwrap_or_default();
    let q = query.q.to_lowercase();
    let matching: Vec<&coral_ops::audit::Record> = records
        .iter()
        .rev()
        .filter(|r| {
            let e = &r.entry;
            (query.plugin.is_empty() || e.plugin == query.plugin)
                && (query.action.is_empty() || e.action.contains(&query.action) || e.capability == query.action)
                && (query.outcome.is_empty() || e.outcome.as_str() == query.outcome)
                && (q.is_empty()
                    || e.detail.to_lowercase().contains(&q)
                    || e.target.to_lowercase().contains(&q)
                    || e.plugin.to_lowercase().contains(&q))
        })
        .take(500)
        .collect();
    let outcomes: String = std::iter::once("")
        .chain(coral_ops::audit::Outcome::ALL.iter().map(|o| o.as_str()))
        .map(|o| {
            format!(
                "<option value=\"{0}\"{1}>{2}</option>",
                esc(o),
                if o == query.outcome { " selected" } else { "" },
                if o.is_empty() { "any" } else { o }
            )
        })
        .collect();
    let mut body = format!(
        "<form method=\"get\" class=\"row\" id=\"audit-search\">\
<label class=\"field\"><span>Plugin</span><input type=\"text\" name=\"plugin\" value=\"{}\"></label>\
<label class=\"field\"><span>Action or capability</span><input type=\"text\" name=\"action\" value=\"{}\"></label>\
<label class=\"field\"><span>Outcome</span><select name=\"outcome\">{outcomes}</select></label>\
<label class=\"field\"><span>Text</span><input type=\"text\" name=\"q\" value=\"{}\"></label>\
<button>Search</button></form><p class=\"muted\">{} entries (newest first, at most 500 shown)</p>",
        esc(&query.plugin),
        esc(&query.action),
        esc(&query.q),
        matching.len()
    );
    let rows: Vec<Vec<String>> = matching
        .iter()
        .map(|r| {
            let e = &r.entry;
            vec![
                esc(&crate::cli::utc(e.time_ms)),
                esc(&e.plugin),
                esc(&e.action),
                esc(&e.target),
                esc(e.outcome.as_str()),
                esc(&e.detail)
                    + &if r.repeated > 1 {
                        format!(" <small>(×{})</small>", r.repeated)
                    } else {
                        String::new()
                    },
            ]
        })
        .collect();
    body.push_str(&table(
        "audit",
        &["time (UTC)", "plugin", "action", "target", "outcome", "detail"],
        &rows,
    ));
    html(frame("Audit", "/audit", None, &login.csrf, &body))
}

pub(super) async fn upload(State(web): State<Shared>, Extension(login): Extension<Login>) -> Response {
    let body = "<p>Choose a plugin file (<code>.wasm</code>). Coral checks it and shows what it is and what it asks \
for; nothing is installed until you approve its grants.</p>\
<p><input type=\"file\" id=\"wasm\" accept=\".wasm,application/wasm\"></p><p id=\"upload-status\" class=\"muted\"></p>";
    html(frame(
        "Install a plugin",
        "/upload",
        web.take_flash(&login).as_ref(),
        &login.csrf,
        body,
    ))
}

#[derive(serde::Deserialize)]
pub(super) struct UploadName {
    #[serde(default)]
    name: String,
}

/// Receive a `.wasm`, check it (compile, world, metadata, commands) and keep it for review.
pub(super) async fn api_upload(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
    Query(q): Query<UploadName>,
    body: Bytes,
) -> Response {
    if !csrf_header_ok(&login, &headers) {
        return forbidden();
    }
    let config = web.parts.reloader.config().await;
    let max = config.host.max_plugin_mb << 20;
    if body.len() as u64 > max || body.is_empty() {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a plugin file is 1 byte to {} MiB", config.host.max_plugin_mb),
        )
            .into_response();
    }
    // Kept in the data folder's `uploads/` until installed (or pushed out), reached through the folder's handle.
    let data_dir = &web.parts.data_dir;
    let id = super::random_token();
    let file = format!("{}/{id}.upload", crate::folders::UPLOADS);
    let kept = data_dir
        .create_dir_all(crate::folders::UPLOADS)
        .and_then(|()| coral_runtime::folder::write_atomic(data_dir, &file, &format!("{file}.tmp"), &body));
    if let Err(e) = kept {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot keep the upload: {e}"),
        )
            .into_response();
    }
    let runtime = web.parts.reloader.runtime();
    let checked = async {
        let compiled = runtime.compile(body.to_vec()).await.map_err(|e| e.to_string())?;
        let limits = config.limits("upload");
        let (hash, wit) = (compiled.hash.clone(), compiled.wit_version.clone());
        let (metadata, commands) = runtime.describe(&compiled, limits).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((metadata, commands, hash, wit))
    }
    .await;
    let (metadata, commands, hash, wit) = match checked {
        Ok(found) => found,
        Err(e) => {
            let _ = data_dir.remove_file(&file);
            tracing::warn!("web console: an uploaded plugin was refused: {e}");
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("not a plugin Coral can load: {e}"),
            )
                .into_response();
        }
    };
    let from_file = q.name.trim_end_matches(".wasm").to_string();
    let suggested = [from_file.as_str(), metadata.name.as_str()]
        .into_iter()
        .find_map(plugin_name)
        .unwrap_or("plugin")
        .to_string();
    let mut uploads = web.uploads.lock();
    if uploads.len() >= super::MAX_UPLOADS
        && let Some(oldest) = uploads.iter().min_by_key(|(_, u)| u.at).map(|(k, _)| k.clone())
        && let Some(gone) = uploads.remove(&oldest)
    {
        let _ = web.parts.data_dir.remove_file(gone.file);
    }
    uploads.insert(
        id.clone(),
        super::Upload {
            file,
            suggested_name: suggested,
            commands: commands.specs().iter().map(|c| c.name.clone()).collect(),
            metadata,
            hash,
            wit,
            bytes: body.len() as u64,
            at: std::time::Instant::now(),
        },
    );
    axum::Json(serde_json::json!({ "id": id })).into_response()
}

pub(super) async fn upload_review(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let running: BTreeSet<String> = web.parts.reloader.dispatcher().names().into_iter().collect();
    let uploads = web.uploads.lock();
    let Some(u) = uploads.get(&id) else {
        return not_found("such upload (uploads are kept until the host restarts, 8 at most)");
    };
    let m = &u.metadata;
    let caps: String = m
        .capabilities
        .iter()
        .map(|c| {
            format!(
                "<label><input type=\"checkbox\" name=\"cap\" value=\"{0}\" id=\"grant-{0}\"> {0}</label>",
                esc(c)
            )
        })
        .collect();
    let events: Vec<String> = m.events.iter().map(|e| format!("{e:?}").to_lowercase()).collect();
    let replaces = if running.contains(&u.suggested_name) {
        format!(
            "<p class=\"notice error\">A plugin named {} is running: installing replaces it.</p>",
            esc(&u.suggested_name)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<table id=\"upload-facts\"><tbody>\
<tr><th>name</th><td>{}</td></tr><tr><th>version</th><td>{}</td></tr><tr><th>description</th><td>{}</td></tr>\
<tr><th>contract</th><td>{}</td></tr><tr><th>hash</th><td><code>{}</code></td></tr><tr><th>size</th><td>{} KiB</td></tr>\
<tr><th>events</th><td>{}</td></tr><tr><th>commands</th><td>{}</td></tr>\
<tr><th>requests</th><td>{}</td></tr></tbody></table>{replaces}\
<form method=\"post\" action=\"/upload/{}/install\" id=\"install\">{}\
<h2>Approve grants</h2><p class=\"muted\">Tick what you grant; anything left unticked is refused when the plugin \
asks (it may still reply in the chat of each event).</p><div class=\"caps\">{}</div>\
<label class=\"field\"><span>Install as</span><input type=\"text\" name=\"name\" id=\"install-name\" value=\"{}\"></label>\
<p><button id=\"approve\">Approve and install</button></p></form>",
        esc(&m.name),
        esc(&m.version),
        esc(&m.description),
        esc(&u.wit),
        esc(&u.hash),
        u.bytes.div_ceil(1024),
        if events.is_empty() {
            "all".into()
        } else {
            esc(&events.join(", "))
        },
        tags(&u.commands, |_| ""),
        tags(&m.capabilities, |_| ""),
        esc(&id),
        hidden_csrf(&login),
        if caps.is_empty() {
            "<p class=\"muted\">It requests no capabilities.</p>".into()
        } else {
            caps
        },
        esc(&u.suggested_name),
    );
    html(frame("Review a plugin", "/upload", None, &login.csrf, &body))
}

/// The operator approved: grants into coral.toml (checked, applied), then the file into the plugin folder and
/// loaded.
pub(super) async fn install(
    State(web): State<Shared>,
    Extension(login): Extension<Login>,
    UrlPath(id): UrlPath<String>,
    body: String,
) -> Response {
    let Some(form) = posted(&login, &body) else {
        return forbidden();
    };
    let Some(name) = form.get("name").and_then(plugin_name).map(str::to_string) else {
        web.flash(&login, false, "a plugin name is letters, digits, `-`, `_` or `.`");
        return Redirect::to(&format!("/upload/{}", esc(&id))).into_response();
    };
    let Some(upload) = web.uploads.lock().remove(&id) else {
        return not_found("such upload");
    };
    let requested: BTreeSet<&str> = upload.metadata.capabilities.iter().map(String::as_str).collect();
    let grants: Vec<String> = form
        .all("cap")
        .into_iter()
        .filter(|c| requested.contains(c))
        .map(str::to_string)
        .collect();
    let config = web.parts.reloader.config().await;
    let keep = config.plugin(&name);
    let ids = |list: &Option<Vec<crate::config::Id>>| list.as_ref().map(|l| l.iter().map(|i| i.as_string()).collect());
    let permissions = edit::Permissions {
        grants: grants.clone(),
        groups: ids(&keep.groups),
        users: ids(&keep.users),
        enabled_in: keep.enabled_in.as_ref().map(|e| edit::EnabledIn {
            groups: ids(&e.groups),
            users: ids(&e.users),
            private: e.private,
        }),
    };
    let what = format!(
        "install {} {} (hash {}) with grants [{}]",
        name,
        upload.metadata.version,
        upload.hash,
        grants.join(", ")
    );
    let configured = change_config(&web, "install-grants", &name, what.clone(), |text| {
        edit::set_permissions(text, &name, &permissions)
    })
    .await;
    let result = match configured {
        Err(e) => Err(e),
        Ok(_) => {
            let plugins = web.parts.reloader.plugins();
            let copied = coral_runtime::folder::open_plain(&web.parts.data_dir, &upload.file)
                .and_then(|mut f| {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
                })
                .map_err(|e| format!("cannot read the upload: {e}"))
                .and_then(|bytes| plugins.install(&name, &bytes).map_err(|e| e.to_string()));
            match copied {
                Err(e) => Err(format!("cannot write {name}.wasm in {}: {e}", plugins.path().display())),
                Ok(()) => {
                    web.parts.reloader.reload_file(&name).await;
                    match web.parts.reloader.list().await.into_iter().find(|r| r.name == name) {
                        Some(row) if row.state == "running" => {
                            Ok(format!("{name} {} installed and running", row.version))
                        }
                        Some(row) => Err(format!(
                            "{name} installed but not running: {}",
                            row.problem.unwrap_or(row.state)
                        )),
                        None => Err(format!("{name} installed but not found")),
                    }
                }
            }
        }
    };
    let _ = web.parts.data_dir.remove_file(&upload.file);
    web.parts.reloader.audit_operator(
        "web-install",
        &name,
        "-",
        result.clone().map(|r| format!("{what}: {r}")),
    );
    let to = if result.is_ok() {
        format!("/plugins/{name}")
    } else {
        "/upload".into()
    };
    done(&web, &login, result, &to)
}
