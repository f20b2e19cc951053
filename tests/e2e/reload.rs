//! Hot reload: new, changed and removed plugin files and config changes apply without a restart; broken files
//! never replace a working plugin; no event is lost or answered twice across swaps.

use crate::support::coral::Setup;
use crate::support::plugins::wasm;
use std::path::Path;

const CONFIG: &str = "[host]\nreload_debounce_ms = 50\n[console]\n";

/// Put `bytes` into the plugin folder as `name.wasm` the way a careful operator would (write, then rename).
fn install_bytes(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!("plugins/.{name}.partial"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, dir.join(format!("plugins/{name}.wasm"))).unwrap();
}

fn install(dir: &Path, fixture: &str, name: &str) {
    install_bytes(dir, name, &std::fs::read(wasm(fixture)).unwrap());
}

#[test]
fn a_changed_file_is_swapped_in_and_a_removed_file_unloads() {
    let setup = Setup::new(&["ping"], CONFIG);
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    coral.send("ping a");
    coral.expect("[private 10000] pong a");
    // Copied in place (not renamed): the debounce waits for the copy to finish.
    std::fs::copy(wasm("ping2"), setup.path().join("plugins/ping.wasm")).unwrap();
    coral.expect_log_count("plugin reloaded", 1);
    coral.send("ping b");
    coral.expect("[private 10000] pong2 b");
    std::fs::remove_file(setup.path().join("plugins/ping.wasm")).unwrap();
    coral.expect_log("plugin unloaded (file removed)");
    coral.send("ping c");
    // A new file loads.
    let loads = coral.stderr().matches("plugin loaded").count();
    install(setup.path(), "ping", "ping");
    coral.expect_log_count("plugin loaded", loads + 1);
    coral.send("ping d");
    coral.expect("[private 10000] pong d");
    let (status, rest, _) = coral.finish();
    assert!(status.success());
    assert!(
        !coral_saw(&rest, "pong c") && !coral_saw(&rest, "pong2 c"),
        "nobody answers while unloaded: {rest:?}"
    );
}

fn coral_saw(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[test]
fn a_hundred_reloads_under_load_lose_and_duplicate_nothing() {
    let setup = Setup::new(&["ping"], CONFIG);
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    let versions = [
        std::fs::read(wasm("ping")).unwrap(),
        std::fs::read(wasm("ping2")).unwrap(),
    ];
    // expected[i] = Some(version) when ping i must be answered by that version, None when either may answer.
    let mut expected: Vec<Option<usize>> = Vec::new();
    let mut n = 0;
    let mut send =
        |coral: &mut crate::support::coral::Coral, version: Option<usize>, expected: &mut Vec<Option<usize>>| {
            coral.send(&format!("ping {n}"));
            expected.push(version);
            n += 1;
        };
    for round in 0..100 {
        let (old, new) = (round % 2, (round + 1) % 2);
        for _ in 0..3 {
            send(&mut coral, Some(old), &mut expected);
        }
        // These three were dispatched to the old version before the swap: wait for its answers (under load on a
        // busy machine the console could otherwise read them only after the new version is in).
        let last = expected.len() - 1;
        let tag = if old == 1 { "pong2" } else { "pong" };
        coral.expect_line("the old version's answers", |l| {
            l == format!("[private 10000] {tag} {last}")
        });
        install_bytes(setup.path(), "ping", &versions[new]);
        // In flight while the new version compiles and starts: either version may answer, but exactly once.
        for _ in 0..3 {
            send(&mut coral, None, &mut expected);
        }
        coral.expect_log_count("plugin reloaded", round + 1);
    }
    for _ in 0..3 {
        send(&mut coral, Some(0), &mut expected);
    }
    let seen = coral.seen.clone();
    let (status, mut lines, log) = coral.finish();
    assert!(status.success(), "{log}");
    lines.extend(seen);
    let mut answers: Vec<Vec<usize>> = vec![Vec::new(); expected.len()];
    for line in &lines {
        let (version, k) = if let Some(k) = line.strip_prefix("[private 10000] pong2 ") {
            (1, k)
        } else if let Some(k) = line.strip_prefix("[private 10000] pong ") {
            (0, k)
        } else {
            continue;
        };
        answers[k.parse::<usize>().unwrap()].push(version);
    }
    let mut lost = 0;
    let mut duplicated = 0;
    for (i, (got, want)) in answers.iter().zip(&expected).enumerate() {
        match got.len() {
            0 => lost += 1,
            1 => {
                if let Some(v) = want {
                    assert_eq!(got[0], *v, "ping {i} was answered by the wrong version");
                }
            }
            _ => duplicated += 1,
        }
    }
    assert_eq!(
        (lost, duplicated),
        (0, 0),
        "over {} events and 100 reloads",
        expected.len()
    );
    assert_eq!(log.matches("reload rejected").count(), 0, "{log}");
}

#[test]
fn broken_files_never_replace_a_working_plugin() {
    let setup = Setup::new(&["ping"], CONFIG);
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    let good = std::fs::read(wasm("ping2")).unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        ("a truncated file", good[..good.len() / 2].to_vec()),
        (
            "random bytes",
            (0..50_000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        (
            "a component of another world",
            std::fs::read(wasm("wrong-world")).unwrap(),
        ),
        ("a plugin whose init traps", std::fs::read(wasm("init-trap")).unwrap()),
    ];
    for (i, (what, bytes)) in cases.iter().enumerate() {
        install_bytes(setup.path(), "ping", bytes);
        coral.expect_log_count("reload rejected", i + 1);
        coral.send(&format!("ping {i}"));
        // Still version 1 answering.
        coral.expect_line(what, |l| l == format!("[private 10000] pong {i}"));
    }
    let (status, _, log) = coral.finish();
    assert!(status.success());
    assert!(log.contains("not a valid WebAssembly component"), "{log}");
    assert!(
        log.contains("does not match a coral:bot plugin world this host serves"),
        "{log}"
    );
    assert!(log.contains("setup: trapped"), "{log}");
    assert!(!log.contains("plugin reloaded"), "{log}");
}

#[test]
fn a_config_change_revoking_a_grant_applies_to_the_next_event() {
    let granted = format!("{CONFIG}[plugins.api-probe]\ngrants = [\"kick\"]\n");
    let setup = Setup::new(&["api-probe"], &granted);
    let mut coral = setup.start();
    coral.expect_log("coral ready");
    coral.send("kick 100100 42");
    // Granted: the console itself cannot kick.
    coral.expect_line("unsupported kick", |l| {
        l.contains("kick err ErrorCode::Unsupported 1404")
    });
    std::fs::write(
        setup.config_path(),
        format!("{CONFIG}[plugins.api-probe]\ngrants = []\n"),
    )
    .unwrap();
    coral.expect_log("config reloaded");
    coral.send("kick 100100 42");
    coral.expect_line("denied kick", |l| {
        l.contains("kick err ErrorCode::PermissionDenied 102")
    });
    // A broken config is refused and the last good one stays.
    std::fs::write(
        setup.config_path(),
        format!("{CONFIG}[plugins.api-probe]\ngrants = [\"kik\"]\n"),
    )
    .unwrap();
    coral.expect_log("config change rejected");
    coral.send("kick 100100 42");
    coral.expect_line("still denied", |l| {
        l.contains("kick err ErrorCode::PermissionDenied 102")
    });
}
