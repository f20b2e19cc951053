//! The operator controls what each plugin sees and manages plugins live: `enabled_in`, blocked users and groups,
//! per-group switches that survive a restart (`coral plugin off|on`), `coral plugin list|disable|enable|reload|
//! inspect NAME`, `coral config reload` (which also connects, changes and disconnects `[[onebot]]` entries), and
//! start-up's one line per plugin compiled, `coral ready` last.

use crate::onebot::private_message;
use crate::support::coral::{Coral, Setup};
use crate::support::onebot_peer::{Peer, SELF_ID};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// Run `coral <args> --config <setup>`; returns (success, stdout, stderr).
fn run(setup: &Setup, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(args)
        .arg("--config")
        .arg(setup.config_path())
        .env("CORAL_LOG", "warn")
        .output()
        .expect("running coral");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Run a command that must succeed; its stdout.
fn ok(setup: &Setup, args: &[&str]) -> String {
    let (ok, out, err) = run(setup, args);
    assert!(ok, "coral {args:?} failed: {out}{err}");
    out
}

/// `coral plugin list --json`, as (name, row).
fn list(setup: &Setup) -> Vec<(String, serde_json::Value)> {
    let out = ok(setup, &["plugin", "list", "--json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("plugin list JSON");
    rows.into_iter()
        .map(|row| (row["name"].as_str().unwrap_or_default().to_string(), row))
        .collect()
}

fn row(setup: &Setup, name: &str) -> serde_json::Value {
    list(setup)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, row)| row)
        .unwrap_or_else(|| panic!("no {name} in the plugin list"))
}

/// Type `lines`, then `ping <marker>` (which `ping2` answers wherever it is typed), and check that exactly
/// `expected` came back for them (in any order: the plugins answer side by side). Waits for every expected line
/// and the marker's answer; a line that should not come would come before `ping2` answers the marker, or show up
/// in a later check.
#[track_caller]
fn answers(coral: &mut Coral, lines: &[&str], marker: &str, expected: &[&str]) {
    let before = coral.seen().len();
    for line in lines {
        coral.send(line);
    }
    coral.send(&format!("ping {marker}"));
    let is_marker = |l: &str| {
        l.rsplit(' ')
            .next()
            .is_some_and(|w| w.len() > 1 && w.starts_with('m') && w[1..].chars().all(|c| c.is_ascii_digit()))
    };
    let wanted = format!("pong2 {marker}");
    coral.expect_line(&wanted, |l| l.ends_with(&wanted));
    for line in expected {
        if !coral.seen()[before..].iter().any(|l| l == line) {
            coral.expect(line);
        }
    }
    let mut got: Vec<&str> = coral.seen()[before..]
        .iter()
        .map(String::as_str)
        .filter(|l| !is_marker(l))
        .collect();
    got.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(got, expected, "after {lines:?}");
}

#[test]
fn a_plugin_sees_only_where_it_is_enabled_and_switches_survive_a_restart() {
    let setup = Setup::new(
        &["ping", "ping2"],
        "[host]\nblocked_users = [666]\n[console]\n[plugins.ping]\nenabled_in = { groups = [100], private = false }\n",
    );
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    // Private chat: `ping` may not see it.
    answers(&mut coral, &["ping a"], "m1", &["[private 10000] pong2 a"]);
    answers(
        &mut coral,
        &[":group 100", "ping b"],
        "m2",
        &["[group 100] pong b", "[group 100] pong2 b"],
    );
    answers(&mut coral, &[":group 200", "ping c"], "m3", &["[group 200] pong2 c"]);
    // A blocked user reaches nobody, not even in a group `ping` sees.
    answers(
        &mut coral,
        &[":group 100", ":user 666", "ping d", ":user 10000", "ping e"],
        "m4",
        &["[group 100] pong e", "[group 100] pong2 e"],
    );

    // Switched off in group 100 at run time: from the next message, and after a restart.
    assert_eq!(
        ok(&setup, &["plugin", "off", "ping", "--group", "100"]),
        "ping: switched off in group 100\n"
    );
    assert_eq!(
        ok(&setup, &["plugin", "off", "ping", "--group", "100"]),
        "ping: already off in group 100\n"
    );
    answers(&mut coral, &["ping f"], "m5", &["[group 100] pong2 f"]);
    assert_eq!(row(&setup, "ping")["off_in"], serde_json::json!(["100"]));
    let (status, _, _) = coral.finish();
    assert!(status.success());
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    // Kept across a restart.
    answers(&mut coral, &[":group 100", "ping g"], "m6", &["[group 100] pong2 g"]);
    ok(&setup, &["plugin", "on", "ping", "--group", "100"]);
    answers(
        &mut coral,
        &["ping h"],
        "m7",
        &["[group 100] pong h", "[group 100] pong2 h"],
    );
    // A bad group id or plugin name is refused, and nothing changes.
    let (done, _, err) = run(&setup, &["plugin", "off", "ping", "--group", "1 2"]);
    assert!(!done && err.contains("group id"), "{err}");
    let (done, _, err) = run(&setup, &["plugin", "off", "nobody", "--group", "100"]);
    assert!(!done && err.contains("no plugin nobody"), "{err}");
    let (status, _, _) = coral.finish();
    assert!(status.success());
}

#[test]
fn plugins_are_listed_disabled_enabled_and_reloaded_by_name_and_each_change_is_audited() {
    let setup = Setup::new(&["ping", "ping2"], "[host]\nwatch = false\n[console]\n");
    std::fs::write(setup.path().join("plugins/broken.wasm"), b"not wasm").unwrap();
    let mut coral = setup.start();
    let log = coral.expect_log("coral ready");
    // One line per plugin as it is compiled; `coral ready` after every plugin's line.
    for name in ["broken", "ping", "ping2"] {
        assert!(
            log.contains(&format!("plugin={name} kib=")),
            "no compiling line for {name}:\n{log}"
        );
    }
    let ready = log.find("coral ready").unwrap();
    assert!(log[..ready].matches("plugin loaded").count() == 2, "{log}");

    let table = ok(&setup, &["plugin", "list"]);
    let header = table.lines().next().unwrap_or_default();
    for column in [
        "plugin",
        "state",
        "version",
        "hash",
        "requested",
        "granted",
        "faults",
        "off in groups",
    ] {
        assert!(header.contains(column), "{table}");
    }
    let ping = row(&setup, "ping");
    assert_eq!(ping["state"], "running");
    assert_eq!(ping["requested"], serde_json::json!(["send"]));
    assert_eq!(ping["hash"].as_str().map(str::len), Some(16), "{ping}");
    let broken = row(&setup, "broken");
    assert_eq!(broken["state"], "failed");
    assert!(
        broken["problem"].as_str().unwrap_or_default().contains("not a valid"),
        "{broken}"
    );

    // Disabled: unloaded now, and still after a restart, until enabled.
    assert_eq!(ok(&setup, &["plugin", "disable", "ping"]), "ping: disabled\n");
    answers(&mut coral, &["ping a"], "m1", &["[private 10000] pong2 a"]);
    assert_eq!(row(&setup, "ping")["state"], "disabled by operator");
    let (status, _, _) = coral.finish();
    assert!(status.success());
    let mut coral = setup.start();
    coral.expect_log("disabled by the operator; not loaded");
    coral.expect_log("coral ready");
    assert_eq!(ok(&setup, &["plugin", "enable", "ping"]), "ping: loaded 0.1.0\n");
    answers(
        &mut coral,
        &["ping b"],
        "m2",
        &["[private 10000] pong b", "[private 10000] pong2 b"],
    );
    // Reload by name: a fresh instance of the same file.
    assert_eq!(ok(&setup, &["plugin", "reload", "ping"]), "ping: reloaded 0.1.0\n");
    coral.expect_log("plugin reloaded");
    // Inspect by name (offline).
    let inspect = ok(&setup, &["plugin", "inspect", "ping"]);
    assert!(inspect.contains("name:         ping"), "{inspect}");
    // With the host's compilation cache there (`<data_dir>/cache`), inspecting uses it: compiled once, then
    // loaded from it.
    std::fs::create_dir_all(setup.path().join("data/cache")).unwrap();
    let inspect_log = || {
        let out = Command::new(env!("CARGO_BIN_EXE_coral"))
            .args(["plugin", "inspect", "ping", "--config"])
            .arg(setup.config_path())
            .env("CORAL_LOG", "info")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(inspect_log().contains("compiled in a child process"));
    let again = inspect_log();
    assert!(!again.contains("compiled in a child process"), "{again}");
    // Names are names, not paths.
    let (done, _, err) = run(&setup, &["plugin", "reload", "../ping"]);
    assert!(!done && err.contains("not a plugin name"), "{err}");

    // `coral config reload` applies an edited file at once (the watcher is off here).
    std::fs::write(
        setup.config_path(),
        "[host]\nwatch = false\n[console]\n[plugins.ping2]\nenabled_in = { private = false }\n",
    )
    .unwrap();
    // (It tries the plugin that failed to load again, and says how that went.)
    let reloaded = ok(&setup, &["config", "reload"]);
    assert!(
        reloaded.starts_with("config reloaded; broken: reload rejected: not a valid"),
        "{reloaded}"
    );
    // `ping2` no longer sees private chats; the marker goes to a group, where it does.
    answers(&mut coral, &["ping c", ":group 5"], "m3", &["[private 10000] pong c"]);
    std::fs::write(setup.config_path(), "[host]\nwatch = false\nnot toml").unwrap();
    // (The command itself cannot read that file: it is told where the socket is.)
    let socket = setup.path().join("data/coral.sock");
    let (done, _, err) = run(&setup, &["config", "reload", "--socket", socket.to_str().unwrap()]);
    assert!(!done && err.contains("previous config stays in force"), "{err}");
    let (status, _, _) = coral.finish();
    assert!(status.success());

    // Every change is an audit entry.
    let audit = std::fs::read_to_string(setup.path().join("data/audit.jsonl")).unwrap();
    for op in [
        "operator:disable",
        "operator:enable",
        "operator:reload",
        "operator:config-reload",
    ] {
        assert!(audit.contains(op), "no {op} in the audit log:\n{audit}");
    }
    assert!(
        audit.contains("\"outcome\":\"invalid\""),
        "the refused requests too:\n{audit}"
    );
}

/// A private message to the bot `self_id`.
fn private_message_to(self_id: &str, text: &str) -> Value {
    let mut event = private_message(text, 2);
    event["self_id"] = self_id.parse::<i64>().unwrap().into();
    event
}

/// Wait (with a hang guard) until `peer` has no live connection left.
fn until_disconnected(peer: &Peer) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while peer.connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "coral never closed its connection to the peer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_config_reload_connects_changes_and_disconnects_onebot_entries() {
    let head = "[host]\nwatch = false\n[console]\n";
    let setup = Setup::new(&["ping"], head);
    let mut coral = setup.start();
    coral.expect_log("coral ready");

    // Added: Coral connects to the implementation and serves its bot, without a restart.
    let mut forward = Peer::new();
    let url = forward.serve_ws();
    let config = format!("{head}[[onebot]]\ntransport = \"ws\"\nurl = \"{url}\"\n");
    std::fs::write(setup.config_path(), config).unwrap();
    let reloaded = ok(&setup, &["config", "reload"]);
    assert_eq!(reloaded, "config reloaded; started onebot[0]\n");
    forward.expect_handshake();
    forward.expect_action("get_login_info", |r| r.action == "get_login_info");
    forward.send_event(&private_message("ping live", 1));
    assert_eq!(forward.expect_reply("pong"), "pong live");
    // The console keeps working beside it.
    coral.send("ping console");
    coral.expect("[private 10000] pong console");

    // Reloading the same file changes nothing: the connection stays up.
    assert_eq!(ok(&setup, &["config", "reload"]), "config reloaded\n");
    assert_eq!(forward.connections(), 1);

    // Replaced by a reverse-WebSocket listener with a token: the old connection closes, its bot is gone, and the
    // new listener takes connections at once.
    let config =
        format!("{head}[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"127.0.0.1:0\"\naccess_token = \"n3w\"\n");
    std::fs::write(setup.config_path(), config).unwrap();
    let reloaded = ok(&setup, &["config", "reload"]);
    assert_eq!(
        reloaded,
        format!("config reloaded; started onebot[0]; stopped onebot[0] (as numbered before); bots gone: {SELF_ID}\n")
    );
    until_disconnected(&forward);
    let listen = coral.log_value("ws-reverse listening on ");
    let mut reverse = Peer::new();
    assert_eq!(
        reverse.connect_reverse(&listen, "10002", Some("old"), "Universal"),
        Err(403)
    );
    assert_eq!(
        reverse.connect_reverse(&listen, "10002", Some("n3w"), "Universal"),
        Ok(())
    );
    reverse.send_event(&private_message_to("10002", "ping reverse"));
    assert_eq!(reverse.expect_reply("pong"), "pong reverse");

    // Removed: the listener closes, the connection with it.
    std::fs::write(setup.config_path(), head).unwrap();
    let reloaded = ok(&setup, &["config", "reload"]);
    assert_eq!(
        reloaded,
        "config reloaded; stopped onebot[0] (as numbered before); bots gone: 10002\n"
    );
    until_disconnected(&reverse);
    assert!(
        std::net::TcpStream::connect(listen.trim_start_matches("ws://").split('/').next().unwrap()).is_err(),
        "the listener of a removed entry still accepts connections"
    );
    // An entry that cannot start is reported; the host goes on.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = format!(
        "{head}[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"{}\"\n",
        taken.local_addr().unwrap()
    );
    std::fs::write(setup.config_path(), config).unwrap();
    let reloaded = ok(&setup, &["config", "reload"]);
    assert!(
        reloaded.starts_with("config reloaded; not started: onebot[0]: cannot listen on"),
        "{reloaded}"
    );
    coral.send("ping still");
    coral.expect("[private 10000] pong still");
    let (status, _, _) = coral.finish();
    assert!(status.success());
}
