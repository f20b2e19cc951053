//! Plugins in other languages, loaded by the real `coral`: Python (componentize-py) so far.

use crate::onebot::forward_setup_with;
use crate::support::coral::Setup;
use crate::support::onebot_peer::{Peer, fixture, message_text};

#[test]
fn the_python_plugin_answers_on_the_console_and_sees_denials_as_exceptions() {
    let setup = Setup::new(&["dice"], "[console]\n");
    let mut coral = setup.start();
    coral.send("ping hi");
    coral.expect("[private 10000] [reply #1] pong hi (python)");
    coral.send("roll 3d1");
    coral.expect("[private 10000] [reply #3] [dice] 3d1: 1 + 1 + 1 = 3");
    coral.send(":group 1000001");
    coral.send("mute me");
    // No `ban` grant: the host's error value arrives in Python as `componentize_py_types.Err`.
    coral.expect("[group 1000001] [reply #5] cannot mute: permission_denied (102)");
}

#[test]
fn the_python_plugin_over_onebot_welcomes_members_and_mutes_with_its_grant() {
    let mut peer = Peer::new();
    let config = "[plugins.dice]\ngrants = [\"ban\"]\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["dice"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    // A notice: someone joined; the welcome goes into that group (a reply to the event, no grant needed).
    let notice = fixture("events/notice.group_increase.approve.json");
    peer.send_event(&notice);
    let welcome = peer.expect_action("welcome", |r| r.action == "send_group_msg");
    assert_eq!(welcome.params["group_id"], notice["group_id"]);
    assert_eq!(welcome.params["message"][0]["type"], "at");
    assert_eq!(
        welcome.params["message"][0]["data"]["qq"],
        notice["user_id"].to_string()
    );
    assert!(message_text(&welcome.params["message"]).contains("welcome"));
    // With `ban` granted, the mute reaches the implementation.
    let mut event = crate::onebot::private_message("mute me", 9);
    event["message_type"] = "group".into();
    event["sub_type"] = "normal".into();
    event["group_id"] = 100100.into();
    peer.send_event(&event);
    let ban = peer.expect_action("the mute", |r| r.action == "set_group_ban");
    assert_eq!(
        (ban.params["group_id"].clone(), ban.params["user_id"].clone()),
        (100100.into(), 1000001.into())
    );
    assert_eq!(peer.expect_reply("muted"), "muted for a minute");
}

/// `coral new` → the project's own build script → the real `coral` loads it and it answers.
fn scaffold_build_and_run(lang: &str, name: &str) {
    use crate::support::plugins::repo_root;
    let work = tempfile::tempdir().unwrap();
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["new", name, "--lang", lang, "--dir"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let project = work.path().join(name);
    assert!(project.join("wit/world.wit").is_file() && project.join("build.sh").is_file());
    let out = work.path().join(format!("{name}.wasm"));
    let built = std::process::Command::new("bash")
        .arg(project.join("build.sh"))
        .arg(&out)
        // Reuse the guests' target dir (Rust) and the installed tool (Python).
        .env("CARGO_TARGET_DIR", repo_root().join("target/wasm"))
        .env("COMPONENTIZE_PY", repo_root().join(".tools/py/bin/componentize-py"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    let setup = Setup::new(&[], "[console]\n");
    std::fs::copy(&out, setup.path().join(format!("plugins/{name}.wasm"))).unwrap();
    let mut coral = setup.start();
    coral.send(&format!("{name} it works"));
    coral.expect(&format!("[private 10000] {name}: it works"));
    if lang == "python" {
        // The Python scaffold ships the SDK and declares a command with it.
        assert!(project.join("coral_sdk.py").is_file());
        coral.send(&format!("/{name}-ping"));
        coral.expect("[private 10000] pong");
    }
}

#[test]
fn coral_new_rust_builds_and_answers_as_generated() {
    scaffold_build_and_run("rust", "fresh-rust");
}

#[test]
fn coral_new_python_builds_and_answers_as_generated() {
    scaffold_build_and_run("python", "fresh-py");
}
