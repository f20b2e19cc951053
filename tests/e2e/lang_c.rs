//! The C plugin (`example-plugins/calc-c`, wit-bindgen 0.63 + clang 19) and `coral new --lang c`, loaded by the
//! real `coral`: on the console, and over the fake OneBot implementation.

use crate::onebot::{forward_setup_with, private_message};
use crate::support::coral::Setup;
use crate::support::onebot_peer::{Peer, fixture, message_text};
use crate::support::plugins::repo_root;
use serde_json::Value;

#[test]
fn the_c_plugin_calculates_on_the_console_and_shows_a_denial_from_the_error_value() {
    let setup = Setup::new(&["calc"], "[console]\n");
    let mut coral = setup.start();
    coral.send("ping hi");
    coral.expect("[private 10000] [reply #1] pong hi (c)");
    coral.send("calc 2*(3+4)^2");
    coral.expect("[private 10000] [reply #3] 2*(3+4)^2 = 98");
    coral.send("calc -2^2 + 7 % 4 / 2");
    coral.expect("[private 10000] [reply #5] -2^2 + 7 % 4 / 2 = -2.5");
    // Mistakes come back behind a face, with the reason.
    coral.send("calc 1/(3-3)");
    coral.expect("[private 10000] [reply #7] [face:32]cannot calculate 1/(3-3): division by zero");
    coral.send("calc 2*(3+");
    coral.expect("[private 10000] [reply #9] [face:32]cannot calculate 2*(3+: the expression ends too early");
    coral.send(&format!("calc {}1", "(".repeat(100)));
    coral.expect_line("the nesting limit", |l| {
        l.starts_with("[private 10000] [reply #11] [face:32]cannot calculate ((")
            && l.ends_with(": too deeply nested (more than 64 levels)")
    });
    // A non-ASCII character is quoted whole (a cut UTF-8 sequence would make the host refuse the string).
    coral.send("calc 1+中");
    coral.expect("[private 10000] [reply #13] [face:32]cannot calculate 1+中: unexpected '中' at position 3");
    // In a group the answer quotes the asker and @-mentions them.
    coral.send(":group 1000001");
    coral.send("calc 2^10");
    coral.expect("[group 1000001] [reply #15] @10000 2^10 = 1024");
    // No `at-all` grant: the host refuses the @all with an error value, which the plugin shows.
    coral.send("shout hello everyone");
    coral.expect("[group 1000001] [reply #17] @10000 cannot shout: permission-denied (102)");
    // The plugin is still there after all of that.
    coral.send("ping still here");
    coral.expect("[group 1000001] [reply #19] @10000 pong still here (c)");
}

/// A group message from user 1000002 in group 100100, message id 7.
fn group_message(text: &str) -> Value {
    let mut event = private_message(text, 7);
    event["message_type"] = "group".into();
    event["sub_type"] = "normal".into();
    event["group_id"] = 100100.into();
    event["user_id"] = 1000002.into();
    event["sender"]["user_id"] = 1000002.into();
    event
}

#[test]
fn the_c_plugin_over_onebot_introduces_itself_when_poked_and_quotes_the_asker_in_groups() {
    let mut peer = Peer::new();
    let (_setup, _coral) = forward_setup_with(&peer, &["calc"], "self_id = \"10001\"\n", "");
    peer.expect_handshake();
    // A poke aimed at the bot (the fixture's target is its self_id): the introduction goes into that group.
    let poke = fixture("events/notice.notify.poke.json");
    assert_eq!(poke["target_id"], poke["self_id"], "the fixture pokes the bot");
    peer.send_event(&poke);
    let intro = peer.expect_action("the introduction", |r| r.action == "send_group_msg");
    assert_eq!(intro.params["group_id"], poke["group_id"]);
    assert_eq!(intro.params["message"][0]["type"], "at");
    assert_eq!(intro.params["message"][0]["data"]["qq"], poke["user_id"].to_string());
    assert!(message_text(&intro.params["message"]).contains("I am calc, a Coral plugin written in C"));
    // A calculation in a group: quoted and @-mentioned.
    peer.send_event(&group_message("calc 2*(3+4)^2"));
    let answer = peer.expect_action("the answer", |r| r.action == "send_msg");
    assert_eq!(answer.params["message_type"], "group");
    assert_eq!(answer.params["group_id"], 100100);
    let message = &answer.params["message"];
    assert_eq!(message[0]["type"], "reply");
    assert_eq!(message[0]["data"]["id"], "7");
    assert_eq!(message[1]["type"], "at");
    assert_eq!(message[1]["data"]["qq"], "1000002");
    assert!(message_text(message).ends_with("2*(3+4)^2 = 98"), "{message}");
    // A mistake: the face segment comes first, then the reason.
    peer.send_event(&group_message("calc 5 % 0"));
    let mistake = peer.expect_action("the mistake", |r| r.action == "send_msg");
    let segments = mistake.params["message"].as_array().unwrap();
    let face = segments.iter().find(|s| s["type"] == "face").expect("a face segment");
    assert_eq!(face["data"]["id"], "32");
    assert!(message_text(&mistake.params["message"]).contains("division by zero"));
    // No `at-all` grant here either: nothing with @all reaches the implementation.
    peer.send_event(&group_message("shout hi"));
    assert_eq!(
        peer.expect_reply("cannot shout"),
        " cannot shout: permission-denied (102)"
    );
    assert!(
        !peer
            .actions()
            .iter()
            .any(|r| r.action == "send_group_msg" && r.params["message"][0]["data"]["qq"] == "all"),
        "an @all went out without the grant"
    );
}

#[test]
fn the_c_plugin_sends_an_at_all_when_granted() {
    let mut peer = Peer::new();
    let config = "[plugins.calc]\ngrants = [\"at-all\"]\n";
    let (_setup, _coral) = forward_setup_with(&peer, &["calc"], "self_id = \"10001\"\n", config);
    peer.expect_handshake();
    peer.send_event(&group_message("shout meeting at five"));
    let shout = peer.expect_action("the @all", |r| r.action == "send_group_msg");
    assert_eq!(shout.params["group_id"], 100100);
    assert_eq!(shout.params["message"][0]["type"], "at");
    assert_eq!(shout.params["message"][0]["data"]["qq"], "all");
    assert_eq!(message_text(&shout.params["message"]), " meeting at five");
}

#[test]
fn coral_new_c_builds_and_answers_as_generated() {
    let work = tempfile::tempdir().unwrap();
    let name = "fresh-c";
    let created = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["new", name, "--lang", "c", "--dir"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let project = work.path().join(name);
    for file in [
        "plugin.c",
        "logic.c",
        "logic.h",
        "logic_test.c",
        "test.sh",
        "build.sh",
        "wit/world.wit",
    ] {
        assert!(project.join(file).is_file(), "{file} was not created");
    }
    let run = |script: &str, args: &[&std::path::Path]| {
        let output = std::process::Command::new("bash")
            .arg(project.join(script))
            .args(args)
            .env("WIT_BINDGEN", repo_root().join(".tools/cargo/bin/wit-bindgen"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "{script} failed:\n{text}");
        text
    };
    // The native unit test of the pure logic, then the component build.
    assert!(run("test.sh", &[]).contains("logic tests passed"));
    let out = work.path().join(format!("{name}.wasm"));
    run("build.sh", &[&out]);
    let setup = Setup::new(&[], "[console]\n");
    std::fs::copy(&out, setup.path().join(format!("plugins/{name}.wasm"))).unwrap();
    let mut coral = setup.start();
    coral.send(&format!("{name} it works"));
    coral.expect(&format!("[private 10000] {name}: it works"));
    coral.send(":group 1000001");
    coral.send(&format!("{name} in a group"));
    coral.expect(&format!("[group 1000001] {name}: in a group"));
}

/// The fenced blocks of a markdown text whose info string is `lang`, in order.
fn fenced_blocks(markdown: &str, lang: &str) -> Vec<String> {
    let (mut blocks, mut current) = (Vec::new(), None::<String>);
    for line in markdown.lines() {
        let fence = line.trim_end();
        current = match current {
            None if fence == format!("```{lang}") => Some(String::new()),
            None => None,
            Some(block) if fence == "```" => {
                blocks.push(block);
                None
            }
            Some(mut block) => {
                block.push_str(line);
                block.push('\n');
                Some(block)
            }
        };
    }
    blocks
}

#[test]
fn the_c_guide_example_builds_and_answers_as_documented() {
    let guide = std::fs::read_to_string(repo_root().join("docs/plugins/c.md")).unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("wit")).unwrap();
    for entry in std::fs::read_dir(repo_root().join("wit")).unwrap() {
        let entry = entry.unwrap();
        // The current contract's files (not the frozen older versions in subfolders).
        if entry.path().is_file() {
            std::fs::copy(entry.path(), work.path().join("wit").join(entry.file_name())).unwrap();
        }
    }
    // Every C block of the page, in order, is the example's source; the page's own build block builds it.
    let source = fenced_blocks(&guide, "c").join("\n");
    assert!(
        source.contains("exports_plugin_on_event"),
        "the C blocks are a whole plugin"
    );
    std::fs::write(work.path().join("guard.c"), source).unwrap();
    let build = fenced_blocks(&guide, "sh")
        .into_iter()
        .find(|b| b.contains("wit-bindgen c"))
        .expect("a build block");
    let path = format!(
        "{}:{}",
        repo_root().join(".tools/cargo/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let built = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &build])
        .current_dir(work.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "the guide's build block failed:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    // The page's config and console transcript: typed lines, then the lines the bot prints (they start with `[`).
    let config = fenced_blocks(&guide, "toml").remove(0);
    let setup = Setup::new(&[], &config);
    std::fs::copy(work.path().join("guard.wasm"), setup.path().join("plugins/guard.wasm")).unwrap();
    let mut coral = setup.start();
    let transcript = fenced_blocks(&guide, "console").remove(0);
    assert!(
        transcript.lines().any(|l| l.starts_with('[')),
        "the transcript shows answers"
    );
    for line in transcript.lines() {
        if line.starts_with('[') {
            coral.expect(line);
        } else {
            coral.send(line);
        }
    }
    coral.expect_log("guard ready (2 bytes of config)");
}
