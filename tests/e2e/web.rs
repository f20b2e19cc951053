//! The web console in a real browser (headless Chromium through ChromeDriver): log in, chat on the console page,
//! grant a capability and see the plugin's refused command succeed, edit a plugin's settings through the form
//! its schema makes, upload and approve a plugin, watch the live log, find every change in the audit search.
//! Screenshots of each page go to `target/web-screenshots/`. And, without a browser: what the console refuses
//! (wrong token, no session, a stale form, a foreign `Host`).

use crate::support::browser::Browser;
use crate::support::coral::{Coral, Setup};
use crate::support::plugins;
use std::io::{Read, Write};

const TOKEN: &str = "web-test-token-0123456789";

fn config() -> String {
    format!(
        "# the operator's own notes stay\n[console]\n\n[web]\nenabled = true\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\n\
[plugins.warnings]\ngrants = [\"send\"] # just send\n[plugins.warnings.config]\nlimit = 3\n"
    )
}

/// Start the host and return it with the console's base address (`http://127.0.0.1:<port>`).
fn start(setup: &Setup) -> (Coral, String) {
    let coral = setup.start();
    let url = coral.log_value("web console on ");
    let log = coral.expect_log("coral ready");
    // `coral ready` comes last: after the plugins and every listener, the console's included.
    assert!(log.find("web console on") < log.find("coral ready"), "{log}");
    let base = url.trim_end_matches('/').to_string();
    (coral, base)
}

#[test]
fn an_operator_runs_the_bot_from_the_web_console() {
    let setup = Setup::new(&["calc", "warnings"], &config());
    let (coral, base) = start(&setup);
    let ping2 = plugins::wasm("ping2");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let b = Browser::start().await;
        let c = &b.client;

        // Logging in: a wrong token is refused, the right one opens the status page.
        c.goto(&format!("{base}/plugins")).await.unwrap();
        b.find("#token")
            .await
            .send_keys("wrong-token-wrong-token")
            .await
            .unwrap();
        b.find("#login").await.click().await.unwrap();
        b.wait_text(".notice", "Wrong token").await;
        b.screenshot("login").await;
        b.find("#token").await.send_keys(TOKEN).await.unwrap();
        b.find("#login").await.click().await.unwrap();
        b.wait_text("h1", "Status").await;
        b.wait_text("#plugin-figures", "calc").await;

        // The console platform as a chat page: `shout` in a group is refused while `at-all` is not granted.
        c.goto(&format!("{base}/chat")).await.unwrap();
        b.find("#chat-group").await.send_keys("5").await.unwrap();
        b.find("#chat-text").await.send_keys("shout hello").await.unwrap();
        b.find("#chat-send").await.click().await.unwrap();
        b.wait_text("#chat-log", "cannot shout: permission-denied").await;

        // Grant it on the plugin's page (checkboxes), saved to coral.toml and applied at once.
        c.goto(&format!("{base}/plugins/calc")).await.unwrap();
        b.find("#cap-at-all").await.click().await.unwrap();
        b.screenshot("plugin").await;
        b.find("#save-permissions").await.click().await.unwrap();
        b.wait_text("#notice", "saved to coral.toml").await;
        let toml = std::fs::read_to_string(setup.config_path()).unwrap();
        assert!(toml.contains("grants = [\"at-all\"]"), "{toml}");
        assert!(
            toml.contains("# the operator's own notes stay") && toml.contains("# just send"),
            "{toml}"
        );

        // The same command now works: the @all reaches the group.
        c.goto(&format!("{base}/chat")).await.unwrap();
        b.find("#chat-group").await.send_keys("5").await.unwrap();
        b.find("#chat-text").await.send_keys("shout hello again").await.unwrap();
        b.find("#chat-send").await.click().await.unwrap();
        b.wait_text("#chat-log", "@all").await;
        b.screenshot("chat").await;

        // A settings form made from the plugin's JSON Schema; a value the schema refuses is not saved.
        c.goto(&format!("{base}/plugins/warnings")).await.unwrap();
        let limit = b.find("input[name='cfg.limit']").await;
        assert_eq!(limit.prop("value").await.unwrap().as_deref(), Some("3"));
        limit.clear().await.unwrap();
        limit.send_keys("500").await.unwrap();
        b.find("#save-config").await.click().await.unwrap();
        b.wait_text("#notice", "more than the maximum 100").await;
        let limit = b.find("input[name='cfg.limit']").await;
        limit.clear().await.unwrap();
        limit.send_keys("5").await.unwrap();
        b.find("#save-config").await.click().await.unwrap();
        b.wait_text("#notice", "saved to coral.toml").await;
        let toml = std::fs::read_to_string(setup.config_path()).unwrap();
        assert!(toml.contains("limit = 5"), "{toml}");
        b.screenshot("settings").await;

        // Upload a plugin: its facts and requests are shown; it is installed only on approval, with the grants
        // ticked.
        c.goto(&format!("{base}/upload")).await.unwrap();
        b.find("#wasm").await.send_keys(ping2.to_str().unwrap()).await.unwrap();
        b.wait_text("#upload-facts", "0.2.0").await;
        b.screenshot("upload").await;
        let name = b.find("#install-name").await;
        name.clear().await.unwrap();
        name.send_keys("pinger").await.unwrap();
        b.find("#grant-send").await.click().await.unwrap();
        b.find("#approve").await.click().await.unwrap();
        b.wait_text("#notice", "pinger 0.2.0 installed and running").await;
        assert!(setup.path().join("plugins/pinger.wasm").exists());
        let toml = std::fs::read_to_string(setup.config_path()).unwrap();
        assert!(toml.contains("[plugins.pinger]\ngrants = [\"send\"]"), "{toml}");
        c.goto(&format!("{base}/chat")).await.unwrap();
        b.find("#chat-text").await.send_keys("ping there").await.unwrap();
        b.find("#chat-send").await.click().await.unwrap();
        b.wait_text("#chat-log", "[private 10000] pong2 there").await;

        // The plugin list, disabling from it.
        c.goto(&format!("{base}/plugins")).await.unwrap();
        b.wait_text("#plugins", "pinger").await;
        b.screenshot("plugins").await;
        b.find("#disable-pinger").await.click().await.unwrap();
        b.wait_text("#notice", "pinger: disabled").await;
        b.wait_text("#plugins", "disabled by operator").await;

        // The live log shows the host's lines as they come.
        c.goto(&format!("{base}/logs")).await.unwrap();
        b.wait_text("#log", "plugin unloaded (disabled by the operator)").await;
        b.screenshot("logs").await;

        // Every change is in the audit search.
        c.goto(&format!("{base}/audit?action=operator")).await.unwrap();
        let audit = b.wait_text("#audit", "operator:web-install").await;
        for op in ["operator:web-permissions", "operator:web-config", "operator:disable"] {
            assert!(audit.contains(op), "no {op} in the audit page:\n{audit}");
        }
        b.screenshot("audit").await;
        c.goto(&format!("{base}/")).await.unwrap();
        b.wait_text("h1", "Status").await;
        b.screenshot("status").await;
        b.close().await;
    });
    // (With the web console on, the host keeps serving after the console's input ends: it is stopped here.)
    drop(coral);
}

/// One raw HTTP/1.1 exchange; (status code, headers and body as text).
fn http(base: &str, request: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.replace("{host}", addr).as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let code = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, answer)
}

#[test]
fn the_web_console_refuses_what_it_must() {
    let setup = Setup::new(&["ping", "attacker"], &config());
    let (mut coral, base) = start(&setup);
    let get = |path: &str, extra: &str| {
        http(
            &base,
            &format!("GET {path} HTTP/1.1\r\nHost: {{host}}\r\n{extra}Connection: close\r\n\r\n"),
        )
    };
    // No session: pages go to the login page, the API answers 401.
    assert_eq!(get("/plugins", "").0, 303);
    assert_eq!(get("/api/status", "").0, 401);
    // A page on another site reaching 127.0.0.1 under its own name (DNS rebinding) gets nothing.
    let (code, _) = http(
        &base,
        "GET /login HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 421);
    // Wrong token: refused.
    let post = |path: &str, cookie: &str, body: &str| {
        http(
            &base,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {{host}}\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    assert_eq!(post("/login", "", "token=nope").0, 401);
    // The right one: a session cookie, HttpOnly and SameSite=Strict, and strict headers on every page.
    let (code, answer) = post("/login", "", &format!("token={TOKEN}"));
    assert_eq!(code, 303, "{answer}");
    let cookie_line = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a session cookie");
    assert!(
        cookie_line.contains("HttpOnly") && cookie_line.contains("SameSite=Strict"),
        "{cookie_line}"
    );
    let cookie = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let (code, page) = get("/plugins", &format!("Cookie: {cookie}\r\n"));
    assert_eq!(code, 200);
    let lower = page.to_ascii_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{page}"
    );
    assert!(lower.contains("x-frame-options: deny"), "{page}");
    // A change without the page's CSRF token is refused, and nothing changes.
    let (code, _) = post("/plugins/ping/op", &cookie, "op=disable");
    assert_eq!(code, 403);
    let (_, page) = get("/plugins", &format!("Cookie: {cookie}\r\n"));
    assert!(page.contains("state-running"), "still running:\n{page}");

    // What a plugin controls (its description, its config schema's names, titles and choices, what it says in
    // the chat and the log, what the audit log records of it) is text on every page, never markup.
    coral.send("raw <script>alert(7)</script> {}");
    coral.expect_line("the refusal", |l| l.contains("raw err"));
    coral.send("ping <script>alert(6)</script>");
    coral.expect("[private 10000] pong <script>alert(6)</script>");
    let (_, page) = get("/plugins/attacker", &format!("Cookie: {cookie}\r\n"));
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the description is shown:\n{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(3)"),
        "the schema's title is shown:\n{page}"
    );
    for (path, what) in [
        ("/plugins/attacker", "the plugin page"),
        ("/plugins", "the plugin list"),
        ("/", "the status page"),
        ("/audit?plugin=attacker", "the audit search"),
        ("/chat", "the chat page"),
        ("/logs", "the log page"),
    ] {
        let (code, page) = get(path, &format!("Cookie: {cookie}\r\n"));
        assert_eq!(code, 200, "{path}");
        let lower = page.to_ascii_lowercase();
        for markup in ["<img", "<script>alert", "<b onmouseover", "\u{1b}"] {
            assert!(!lower.contains(markup), "{what} carries {markup:?} as markup:\n{page}");
        }
    }
    let (_, page) = get("/audit?plugin=attacker", &format!("Cookie: {cookie}\r\n"));
    assert!(
        page.contains("&lt;script&gt;alert(7)"),
        "the refused call is in the audit search:\n{page}"
    );
    // The JSON the chat and log pages read carries the same text as data (the script inserts it as text).
    let (_, lines) = get("/api/chat", &format!("Cookie: {cookie}\r\n"));
    assert!(lines.contains("pong <script>alert(6)</script>"), "{lines}");
    drop(coral);
}

#[test]
fn a_console_beyond_loopback_needs_a_token() {
    let setup = Setup::new(&[], "[web]\nenabled = true\nlisten = \"0.0.0.0:0\"\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["run", "--config"])
        .arg(setup.config_path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("web.token") && err.contains("needs a token"), "{err}");
}
