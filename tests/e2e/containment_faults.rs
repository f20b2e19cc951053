//! Fault attribution and recovery: a silent platform is not the plugin's fault, a quarantine ends by itself (or
//! at once by `coral plugin enable` or when the plugin's file is touched), and a healthy link that drops is reconnected at once, again and again.

use crate::onebot::{forward_setup_with, private_message};
use crate::support::coral::Setup;
use crate::support::onebot_peer::{Peer, Reply};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long a condition may take to appear (a hang guard, not a timing assertion).
const DEADLINE: Duration = Duration::from_secs(90);

/// Run `coral <args…> --config <setup's config>`.
fn coral_command(setup: &Setup, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(args)
        .arg("--config")
        .arg(setup.config_path())
        .output()
        .expect("running coral")
}

/// Run `coral status [extra…]` against the host of `setup`; returns stdout.
fn status(setup: &Setup, extra: &[&str]) -> String {
    let output = coral_command(setup, &[&["status"], extra].concat());
    assert!(
        output.status.success(),
        "coral status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The status of plugin `name` from `coral status --json`, polled until `ready` holds for it.
fn plugin_when(setup: &Setup, name: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let json: Value = serde_json::from_str(&status(setup, &["--json"])).expect("status JSON");
        if let Some(p) = json["plugins"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            && ready(p)
        {
            return p.clone();
        }
        assert!(Instant::now() < deadline, "status never showed {what}: {json:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reply to every kind of message send this way.
fn answer_sends(peer: &Peer, reply: Reply) {
    for action in ["send_msg", "send_private_msg", "send_group_msg"] {
        peer.set_reply(action, reply.clone());
    }
}

#[test]
fn a_platform_that_never_answers_is_not_the_plugin_s_fault() {
    let mut peer = Peer::new();
    // The platform call times out after 2 s, twice the plugin's wall-clock limit: the wait must not count. The
    // plugin waits for its sends (`ping-v03`, built against 0.3.0, has no `post-msg`, and fails its event when a
    // send fails).
    let (setup, coral) = forward_setup_with(
        &peer,
        &["ping-v03"],
        "timeout_ms = 2000\n",
        "[plugins.ping-v03]\ncall_timeout_ms = 1000\n",
    );
    peer.expect_action("get_login_info", |r| r.action == "get_login_info");
    answer_sends(&peer, Reply::Never);
    for i in 1..=3 {
        peer.send_event(&private_message("ping", i));
        assert_eq!(peer.expect_reply("pong"), "pong from 0.3.0");
    }
    // Each send failed with 202 (a returned error), never a wall-clock fault.
    coral.expect_log_count("handler returned an error", 3);
    let log = coral.expect_log("handler returned an error");
    assert!(
        log.contains("202") || log.to_lowercase().contains("timed out") || log.contains("timeout"),
        "{log}"
    );
    let ping = plugin_when(&setup, "ping-v03", "three failed events", |p| p["failed"] == 3);
    assert_eq!(
        (&ping["traps"], &ping["timeouts"], &ping["restarts"]),
        (&json!(0), &json!(0), &json!(0)),
        "{ping:#}"
    );
    assert_eq!(ping["quarantined"], false, "{ping:#}");
    assert!(!coral.stderr().contains("wall-clock"), "{}", coral.stderr());
    // The platform answers again: so does the plugin, with the same instance.
    answer_sends(&peer, Reply::Ok(json!({"message_id": 77})));
    peer.send_event(&private_message("ping", 9));
    assert_eq!(peer.expect_reply("pong"), "pong from 0.3.0");
    let ping = plugin_when(&setup, "ping-v03", "one handled event", |p| p["handled"] == 1);
    assert_eq!(
        (&ping["traps"], &ping["timeouts"], &ping["quarantined"]),
        (&json!(0), &json!(0), &json!(false))
    );
}

/// Send `ping` lines until the trap fixture has been quarantined; returns its status.
fn quarantine_trap(setup: &Setup, coral: &mut crate::support::coral::Coral) -> Value {
    for i in 0..5 {
        coral.send(&format!("ping {i}"));
        coral.expect(&format!("[private 10000] pong {i}"));
    }
    plugin_when(setup, "trap", "the trap fixture quarantined", |p| {
        p["quarantined"] == true
    })
}

#[test]
fn a_quarantine_expires_and_the_plugin_is_tried_again() {
    let setup = Setup::new(&["ping", "trap"], "[host]\nquarantine_secs = 4\n[console]\n");
    let mut coral = setup.start();
    let trap = quarantine_trap(&setup, &mut coral);
    assert_eq!(trap["traps"], 5, "{trap:#}");
    let reason = trap["quarantine_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("trapped"), "why it is quarantined: {trap:#}");
    assert!(trap["quarantined_until_ms"].as_u64().is_some(), "until when: {trap:#}");
    let text = status(&setup, &[]);
    let line = text
        .lines()
        .find(|l| l.starts_with("quarantined: trap until "))
        .unwrap_or_else(|| panic!("no quarantine line in:\n{text}"));
    assert!(line.contains(" UTC: trapped"), "{line}");
    // After 4 s the quarantine is over; the next event reaches a fresh instance (which traps again).
    plugin_when(&setup, "trap", "the quarantine over", |p| p["quarantined"] == false);
    coral.send("ping again");
    coral.expect("[private 10000] pong again");
    coral.expect_log("quarantine over; trying a fresh instance");
    let trap = plugin_when(&setup, "trap", "a sixth trap", |p| p["traps"] == 6);
    assert_eq!(trap["restarts"], 5, "{trap:#}");
    let (status, _, _) = coral.finish();
    assert!(status.success());
}

/// Once its quarantine is lifted, the trap fixture gets the next event (a sixth trap) and the canary still answers;
/// the host then exits cleanly.
fn comes_back(setup: &Setup, mut coral: crate::support::coral::Coral) {
    plugin_when(setup, "trap", "the quarantine lifted", |p| p["quarantined"] == false);
    coral.send("ping again");
    coral.expect("[private 10000] pong again");
    plugin_when(setup, "trap", "a sixth trap", |p| p["traps"] == 6);
    let (status, _, _) = coral.finish();
    assert!(status.success());
}

/// Run `coral plugin enable <name>` against the host of `setup`; returns (success, stdout).
fn enable(setup: &Setup, name: &str) -> (bool, String) {
    let output = coral_command(setup, &["plugin", "enable", name]);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn coral_plugin_enable_lifts_a_quarantine_at_once() {
    let setup = Setup::new(
        &["ping", "trap"],
        "[console]
",
    );
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    // Not quarantined yet: nothing to lift, and saying so is not an error.
    assert_eq!(enable(&setup, "trap"), (true, "trap: running, unchanged\n".into()));
    quarantine_trap(&setup, &mut coral);
    assert_eq!(
        enable(&setup, "trap"),
        (
            true,
            "trap: running, unchanged; quarantine lifted: its next event gets a fresh instance\n".into()
        )
    );
    coral.expect_log("quarantine lifted by the operator");
    comes_back(&setup, coral);
    // With the host gone, the command says so and fails.
    let (ok, _) = enable(&setup, "trap");
    assert!(!ok);
}

#[test]
fn touching_a_quarantined_plugin_s_file_lifts_the_quarantine() {
    let setup = Setup::new(&["ping", "trap"], "[host]\nreload_debounce_ms = 50\n[console]\n");
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    let trap = quarantine_trap(&setup, &mut coral);
    assert_eq!(trap["traps"], 5, "{trap:#}");
    // The same bytes again: not a new version, but the operator's "try it now".
    let file = setup.path().join("plugins/trap.wasm");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, bytes).unwrap();
    coral.expect_log("unchanged; quarantine lifted");
    comes_back(&setup, coral);
}

#[test]
fn a_healthy_link_that_drops_is_reconnected_every_time() {
    let mut peer = Peer::new();
    let (setup, _coral) = forward_setup_with(&peer, &["ping"], "", "");
    peer.expect_handshake();
    let online = |n: u64| {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let json: Value = serde_json::from_str(&status(&setup, &["--json"])).expect("status JSON");
            let bot = &json["bots"][0];
            if bot["online"] == true && bot["reconnects"] == n && peer.connections() == 1 {
                return;
            }
            assert!(Instant::now() < deadline, "never reconnected ({n}): {json:#}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    online(0);
    for n in 1..=5 {
        peer.drop_connections();
        online(n);
    }
    peer.send_event(&private_message("ping still", 1));
    assert_eq!(peer.expect_reply("pong"), "pong still");
}
