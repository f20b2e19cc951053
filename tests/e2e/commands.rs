//! Commands, conversations, permissions and priorities done by the host (issue 18), end to end: the sign-in
//! example and the `cmd-probe` fixture on the console, and a command from a OneBot group whose sender's role
//! comes from the event.

use crate::support::coral::Setup;
use crate::support::onebot_peer::{Peer, SELF_ID, message_text};
use serde_json::json;

#[test]
fn the_sign_in_example_signs_in_counts_cools_down_refuses_members_and_asks_a_question() {
    let setup = Setup::new(
        &["signin"],
        "[console]\n[plugins.signin]\ngrants = [\"storage\", \"prompt\"]\n[plugins.signin.config]\nquiz_secs = 1\n",
    );
    let mut coral = setup.start();
    coral.send(":group 1000001");
    coral.send("/sign");
    coral.expect("[group 1000001] @10000 signed in: streak 1 day(s), 10 points");
    // The alias, typed without a prefix, within the 3 s cooldown: the host answers, the plugin is not called.
    coral.send("签到");
    let wait = coral.expect_line("the cooldown answer", |l| l.contains("Please wait"));
    assert!(
        wait.starts_with("[group 1000001] Please wait ") && wait.ends_with(" s before using sign again."),
        "{wait}"
    );
    coral.send("/points");
    coral.expect("[group 1000001] 10000 has 10 points");
    // Admin-only: a member is refused by the host; a superuser is not.
    coral.send("/reset 10000");
    coral.expect("[group 1000001] /reset is for group admins only.");
    coral.send(":superuser on");
    coral.send("/reset [CQ:at,qq=10000]");
    coral.expect("[group 1000001] points of 10000 cleared");
    coral.send(":superuser off");
    // A wrong argument: the usage line.
    coral.send(":role admin");
    coral.send("/reset bob");
    coral.expect("[group 1000001] <who> must be a mention or a user id. Usage: /reset <who>");
    // The quiz: the user's next message is the answer, for the plugin alone.
    coral.send("/quiz");
    coral.expect("[group 1000001] @10000 what is 6 × 7? (1 s)");
    coral.send("42");
    coral.expect("[group 1000001] right, 10000: 5 points (5 in all)");
    // Another user lets it time out.
    coral.send(":user 20000 bob");
    coral.send("/quiz");
    coral.expect("[group 1000001] @20000 what is 6 × 7? (1 s)");
    coral.expect("[group 1000001] time's up, 20000: it was 42");
    // help lists what this user may run here (not /reset: bob is a member... of the console's role, admin).
    coral.send(":role member");
    coral.send("/help");
    let help = coral.expect_line("help", |l| l.contains("Commands:"));
    for _ in 0..3 {
        coral.expect_line("a help line", |l| l.starts_with("  /"));
    }
    let shown = coral.seen.join("\n");
    assert!(help.starts_with("[group 1000001] Commands:"), "{help}");
    for line in [
        "  /sign — sign in for today",
        "  /points [who] — show points",
        "  /quiz — answer a question",
    ] {
        assert!(shown.contains(line), "{line} missing from {shown}");
    }
    assert!(!shown.contains("  /reset"), "a member is not shown /reset: {shown}");
    // Outside a group /sign is not a command (group only): nothing answers it.
    coral.send(":private");
    coral.send("/sign");
    coral.send("/points");
    coral.expect("[private 20000] 20000 has 0 points");
    assert!(
        !coral
            .seen
            .iter()
            .any(|l| l.starts_with("[private 20000] @20000 signed in"))
    );
}

#[test]
fn the_probe_sees_parsed_arguments_superusers_priority_stops_prompts_and_errors_that_are_not_faults() {
    let setup = Setup::new(
        &["cmd-probe", "ping"],
        "[console]\n[plugins.cmd-probe]\npriority = -1\ngrants = [\"prompt\"]\n",
    );
    let mut coral = setup.start();
    coral.send("/echo 5 [CQ:at,qq=42] hello  world");
    coral.expect(
        "[private 10000] echo [5 user:42 \"hello  world\"] alias=echo prefix=\"/\" superuser=false role=None time_ok=true",
    );
    coral.send("/E -3");
    coral.expect("[private 10000] echo [-3 - -] alias=e prefix=\"/\" superuser=false role=None time_ok=true");
    coral.send("/echo x");
    coral.expect("[private 10000] <n> must be a whole number. Usage: /echo <n> [who] [rest...]");
    coral.send("/boss");
    coral.expect("[private 10000] /boss is for superusers only.");
    coral.send(":superuser on");
    coral.send("/boss");
    coral.expect("[private 10000] boss ok");
    // Priority: the probe (priority -1) stops `block` messages; ping (0) never sees them, but sees the rest.
    coral.send("ping block");
    coral.expect("[private 10000] blocked");
    coral.send("ping go");
    coral.expect("[private 10000] pong go");
    assert!(!coral.seen.iter().any(|l| l.contains("pong block")), "{:?}", coral.seen);
    // A prompt: the answer goes to the probe alone (ping does not answer it), once.
    coral.send("/askme 30");
    coral.expect("[private 10000] asked: what is your answer?");
    coral.send("ping during prompt");
    coral.expect("[private 10000] answer to k1: ping during prompt");
    coral.send("ping after");
    coral.expect("[private 10000] pong after");
    assert!(
        !coral.seen.iter().any(|l| l.contains("pong during prompt")),
        "{:?}",
        coral.seen
    );
    coral.send("/askme 1");
    coral.expect("[private 10000] asked: what is your answer?");
    coral.expect("[private 10000] k1 timed out");
    // An error returned by a handler is a failed event, not a fault: six in a row do not quarantine the plugin.
    for _ in 0..6 {
        coral.send("/fail");
    }
    coral.send("/echo 1");
    coral.expect("[private 10000] echo [1 - -] alias=echo prefix=\"/\" superuser=true role=None time_ok=true");
    coral.expect_log_count("handler returned an error: deliberate failure", 6);
    assert!(!coral.stderr().contains("quarantined"), "{}", coral.stderr());
}

#[test]
fn a_clashing_command_keeps_the_second_plugin_out_and_coral_check_says_so() {
    let setup = Setup::new(
        &["cmd-probe", "signin"],
        "[console]\n[host]\nhelp_command = \"points\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["check", "--config", setup.config_path().to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("error: signin: command word \"points\" is the built-in help's"),
        "{stdout}"
    );
    let mut coral = setup.start();
    coral.expect_log("plugin not loaded: commands refused: command word \"points\" is the built-in help's");
    coral.send("/echo 2");
    coral.expect("[private 10000] echo [2 - -] alias=echo prefix=\"/\" superuser=false role=None time_ok=true");
}

#[test]
fn a_onebot_group_command_is_checked_against_the_sender_s_role_from_the_event() {
    let mut peer = Peer::new();
    let url = peer.serve_ws();
    let config = format!("[plugins.signin]\ngrants = [\"storage\"]\n[[onebot]]\ntransport = \"ws\"\nurl = \"{url}\"\n");
    let setup = Setup::new(&["signin"], &config);
    let _coral = setup.start();
    peer.expect_action("get_login_info", |r| r.action == "get_login_info");
    let event = |role: &str, text: &str, id: i64| {
        json!({
            "time": 1718000000, "self_id": SELF_ID.parse::<i64>().unwrap(), "post_type": "message",
            "message_type": "group", "sub_type": "normal", "message_id": id, "group_id": 777, "user_id": 1000002,
            "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
            "sender": {"user_id": 1000002, "nickname": "群友", "card": "", "role": role}
        })
    };
    peer.send_event(&event("member", "/reset 1000003", 1));
    let refused = peer.expect_action("the host's refusal", |r| r.action.starts_with("send_"));
    assert_eq!(
        message_text(&refused.params["message"]),
        "/reset is for group admins only."
    );
    assert_eq!(refused.params["group_id"].to_string().trim_matches('"'), "777");
    peer.send_event(&event("admin", "/reset 1000003", 2));
    let done = peer.expect_action("the plugin's answer", |r| {
        r.action.starts_with("send_") && message_text(&r.params["message"]).contains("cleared")
    });
    assert_eq!(message_text(&done.params["message"]), "points of 1000003 cleared");
}

#[test]
fn the_python_check_in_example_does_the_same_with_coral_sdk() {
    let setup = Setup::new(
        &["checkin"],
        "[console]\n[plugins.checkin]\ngrants = [\"storage\", \"prompt\"]\n[plugins.checkin.config]\nriddle_secs = 1\n",
    );
    let mut coral = setup.start();
    coral.send(":group 1000001");
    coral.send("/checkin");
    coral.expect("[group 1000001] @10000 checked in: streak 1 day(s), 10 points");
    coral.send("打卡");
    let wait = coral.expect_line("the cooldown answer", |l| l.contains("Please wait"));
    assert!(wait.ends_with(" s before using checkin again."), "{wait}");
    coral.send("/score [CQ:at,qq=10000]");
    coral.expect("[group 1000001] 10000 has 10 points");
    coral.send("/wipe 10000");
    coral.expect("[group 1000001] /wipe is for group admins only.");
    coral.send(":role owner");
    coral.send("/wipe 10000");
    coral.expect("[group 1000001] points of 10000 cleared");
    coral.send("/riddle");
    coral.expect("[group 1000001] @10000 what has keys but opens no locks? (1 s)");
    coral.send("A PIANO");
    coral.expect("[group 1000001] right, 10000: 5 points (5 in all)");
    coral.send(":user 30000 carol");
    coral.send("/riddle");
    coral.expect("[group 1000001] @30000 what has keys but opens no locks? (1 s)");
    coral.expect("[group 1000001] time's up, 30000: a piano");
}

/// The `py-errors` / `js-errors` fixtures: six uncaught errors and a refused storage call are failed events (each
/// logged with `boom`'s text), the plugin keeps answering and is never quarantined; a setup refused a service
/// names the refusal.
fn errors_are_failed_events_not_faults(plugin: &str, boom: &str) {
    let setup = Setup::new(&[plugin], "[console]\n");
    let mut coral = setup.start();
    for _ in 0..6 {
        coral.send("/boom");
    }
    coral.send("/deny");
    coral.send("/fine");
    coral.expect("[private 10000] fine");
    let n = coral.expect_log_count(boom, 6);
    assert_eq!(n, 6, "{}", coral.stderr());
    let log = coral.expect_log("/deny: permission-denied (102)");
    assert!(log.contains("`storage`"), "the refusal names the capability: {log}");
    assert!(!log.contains("quarantined") && !log.contains("trapped"), "{log}");
    drop(coral);
    let refused = Setup::new(
        &[plugin],
        &format!("[console]\n[plugins.{plugin}.config]\nstorage_in_setup = true\n"),
    );
    let coral = refused.start();
    let log = coral.expect_log("plugin not loaded");
    let line = log
        .lines()
        .find(|l| l.contains("plugin not loaded"))
        .unwrap_or_default();
    assert!(
        line.contains("setup: returned an error: setup: permission-denied (102)") && line.contains("`storage`"),
        "{line}"
    );
}

#[test]
fn an_uncaught_python_exception_is_a_failed_event_with_its_line_and_a_refused_setup_names_the_refusal() {
    errors_are_failed_events_not_faults("py-errors", "/boom: ZeroDivisionError: division by zero (at /0/app.py:");
}

#[test]
fn the_javascript_example_does_the_same_with_coral_sdk_js() {
    let setup = Setup::new(
        &["marks"],
        "[console]\n[plugins.marks]\ngrants = [\"storage\", \"prompt\"]\n[plugins.marks.config]\npuzzle_secs = 1\n",
    );
    let mut coral = setup.start();
    coral.send(":group 1000001");
    coral.send("/mark");
    coral.expect("[group 1000001] @10000 marked: streak 1 day(s), 10 points");
    coral.send("/mark");
    let wait = coral.expect_line("the cooldown answer", |l| l.contains("Please wait"));
    assert!(wait.ends_with(" s before using /mark again."), "{wait}");
    coral.send("/marks");
    coral.expect("[group 1000001] 10000 has 10 points");
    coral.send("/unmark [CQ:at,qq=10000]");
    coral.expect("[group 1000001] /unmark is for group admins only.");
    coral.send(":role admin");
    coral.send("/unmark [CQ:at,qq=10000]");
    coral.expect("[group 1000001] points of 10000 cleared");
    coral.send("/puzzle");
    coral.expect("[group 1000001] @10000 what gets wetter the more it dries? (1 s)");
    coral.send("a Towel");
    coral.expect("[group 1000001] right, 10000: 5 points (5 in all)");
    coral.send(":user 40000 大卫");
    coral.send("/puzzle");
    coral.expect("[group 1000001] @40000 what gets wetter the more it dries? (1 s)");
    coral.expect("[group 1000001] time's up, 40000: a towel");
}

#[test]
fn an_uncaught_javascript_error_is_a_failed_event_and_a_refused_setup_names_the_refusal() {
    errors_are_failed_events_not_faults("js-errors", "/boom: TypeError: cannot read property 'length' of null");
}

#[test]
fn the_js_sdk_s_own_utf8_matches_node_s_text_encoder() {
    // QuickJS under --stub-wasi has no TextEncoder: the SDK encodes storage text itself. Node checks it.
    let sdk = crate::support::plugins::repo_root().join("sdk/js/coral_sdk.js");
    let script = r#"
        const src = require("fs").readFileSync(process.argv[1], "utf8");
        const body = src.slice(src.indexOf("export function utf8Encode"), src.indexOf("// Storage (capability"));
        const { utf8Encode, utf8Decode } = new Function(body.replace(/export /g, "") + "; return { utf8Encode, utf8Decode };")();
        for (const s of ["hello", "大卫", "emoji 😀 and ü", "", "\u0000\u07ff\u0800\uffff"]) {
            const mine = utf8Encode(s), node = new TextEncoder().encode(s);
            if (mine.length !== node.length || mine.some((b, i) => b !== node[i])) throw new Error("encode " + s);
            if (utf8Decode(node) !== s) throw new Error("decode " + s);
        }
        console.log("utf8 ok");
    "#;
    let out = std::process::Command::new("node")
        .args(["-e", script])
        .arg(&sdk)
        .output()
        .expect("node");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "utf8 ok");
}
