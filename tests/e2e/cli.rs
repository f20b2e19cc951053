//! The operator's commands: `coral plugin inspect`, `coral check`, `coral audit`.

use crate::support::coral::Setup;

const MODERATION: &str = "[console]\n[plugins.moderation]\ngrants = [\"send\", \"recall\", \"ban\"]\n\
    scopes.recall = { groups = [1000001] }\nscopes.ban = { groups = [1000001] }\nrate = { ban = \"5/min\" }\n\
    [plugins.moderation.config]\nwords = [\"spam\"]\n";

fn output(setup: &Setup, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(args)
        .current_dir(setup.path())
        .env("CORAL_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn inspect_shows_requested_granted_effective_and_limits() {
    let setup = Setup::new(&["moderation", "ping"], MODERATION);
    let (ok, text) = output(
        &setup,
        &["plugin", "inspect", "plugins/moderation.wasm", "--config", "coral.toml"],
    );
    assert!(ok, "{text}");
    for line in [
        "name:         moderation",
        "WIT:          coral:bot@0.4.0",
        "events:       message",
        "requested:    send, recall, ban",
        "effective:    send, recall, ban",
        "scope ban: groups 1000001",
        "rate ban:  5/min",
        "limits:       memory 64 MiB, CPU 1000 ms/event, wall 5000 ms/event, queue 256, host calls 1000/event",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let (ok, text) = output(&setup, &["plugin", "inspect", "plugins/ping.wasm"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("requested:    send") && text.contains("granted:      (none)"),
        "{text}"
    );
}

#[test]
fn check_rejects_unknown_capabilities_and_grants_never_requested() {
    let setup = Setup::new(&["moderation"], MODERATION);
    let (ok, text) = output(&setup, &["check", "--config", "coral.toml"]);
    assert!(ok, "{text}");
    assert!(text.contains("ok: moderation"), "{text}");
    std::fs::write(setup.config_path(), "[plugins.moderation]\ngrants = [\"kick\"]\n").unwrap();
    let (ok, text) = output(&setup, &["check", "--config", "coral.toml"]);
    assert!(!ok);
    assert!(
        text.contains("granted but never requested") && text.contains("kick"),
        "{text}"
    );
    std::fs::write(setup.config_path(), "[plugins.moderation]\ngrants = [\"kik\"]\n").unwrap();
    let (ok, text) = output(&setup, &["check", "--config", "coral.toml"]);
    assert!(!ok);
    assert!(
        text.contains("unknown capability \"kik\"") && text.contains("plugins.moderation.grants[0]"),
        "{text}"
    );
}

#[test]
fn audit_lists_privileged_actions_and_denials() {
    let setup = Setup::new(&["moderation"], MODERATION);
    let mut coral = setup.start();
    coral.send(":group 1000001");
    coral.send("spam here");
    coral.expect_line("warning in group 1000001", |l| l.starts_with("[group 1000001]"));
    coral.send(":group 5");
    coral.send("more spam");
    coral.expect_line("warning in group 5", |l| l.starts_with("[group 5]"));
    let (status, _, _) = coral.finish();
    assert!(status.success());
    let (ok, text) = output(&setup, &["audit", "--config", "coral.toml"]);
    assert!(ok, "{text}");
    // In group 1000001 recall and ban are granted (the console cannot do them: 1404); in group 5 they are denied.
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("moderation")).collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(
        rows[0].contains("delete_msg") && rows[0].contains("group 1000001") && rows[0].contains("1404"),
        "{text}"
    );
    assert!(
        rows[1].contains("set_group_ban") && rows[1].contains("failed") && rows[1].contains("1404"),
        "{text}"
    );
    assert!(
        rows[2].contains("delete_msg") && rows[2].contains("denied") && rows[2].contains("102"),
        "{text}"
    );
    assert!(
        rows[3].contains("set_group_ban") && rows[3].contains("group 5") && rows[3].contains("denied"),
        "{text}"
    );
    let (_, text) = output(
        &setup,
        &["audit", "--config", "coral.toml", "--action", "denied", "--limit", "1"],
    );
    assert!(
        text.contains("1 of 4 entries") && text.contains("set_group_ban"),
        "{text}"
    );
}
