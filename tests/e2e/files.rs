//! The host's own files: every name it opens stays inside its folder. A plugin file named with `..`, a symbolic
//! link in the plugin folder (pointing outside it or not) and a symbolic-link `audit.jsonl` in the data folder are
//! each refused with a log line that says why, and the file outside is neither loaded nor changed.

use crate::support::coral::Setup;
use crate::support::plugins::wasm;

const CONFIG: &str = "[host]\nreload_debounce_ms = 50\n[console]\n";

#[test]
fn a_plugin_file_named_with_dot_dot_is_refused_at_start_and_when_it_appears() {
    let setup = Setup::new(&["ping"], CONFIG);
    // `..wasm` would be the plugin `.`; `x..y.wasm` is a name with `..` in it.
    std::fs::copy(wasm("ping2"), setup.path().join("plugins/..wasm")).unwrap();
    let mut coral = setup.start();
    let log = coral.expect_log("coral ready");
    assert!(
        log.contains("not loaded: `.` is not a plugin name"),
        "a clear line for `..wasm`: {log}"
    );
    assert!(log.contains("coral ready: 1 plugin(s) [ping"), "only ping loads: {log}");
    // The watcher sees a new file whose name has `..` in it: refused with a line, nothing loaded.
    std::fs::copy(wasm("ping2"), setup.path().join("plugins/x..y.wasm")).unwrap();
    let log = coral.expect_log("reload rejected: `x..y` is not a plugin name");
    assert!(!log.contains("plugin=x..y"), "never compiled or loaded: {log}");
    coral.send("ping a");
    coral.expect("[private 10000] pong a");
    let (status, _, stderr) = coral.finish();
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr.matches("plugin loaded").count(), 1, "{stderr}");
}

#[test]
fn a_symbolic_link_in_the_plugin_folder_is_refused_and_its_target_not_loaded() {
    let setup = Setup::new(&[], CONFIG);
    let outside = setup.path().join("outside.wasm");
    std::fs::copy(wasm("ping"), &outside).unwrap();
    let before = std::fs::read(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, setup.path().join("plugins/ping.wasm")).unwrap();
    let coral = setup.start();
    let log = coral.expect_log("coral ready: 0 plugin(s)");
    assert!(
        log.contains("not loaded: `ping.wasm` in the plugin folder is a symbolic link"),
        "a clear line at start: {log}"
    );
    // A link that appears while running (to the same file, or to one inside the folder) is refused too.
    std::fs::copy(wasm("ping"), setup.path().join("plugins/.real")).unwrap();
    std::os::unix::fs::symlink(".real", setup.path().join("plugins/inside.wasm")).unwrap();
    coral.expect_log("`inside.wasm` in the plugin folder is a symbolic link");
    std::os::unix::fs::symlink(&outside, setup.path().join("plugins/late.wasm")).unwrap();
    let log = coral.expect_log("`late.wasm` in the plugin folder is a symbolic link");
    assert!(log.contains("reload rejected"), "{log}");
    let (status, _, stderr) = coral.finish();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("plugin loaded"), "no link was loaded: {stderr}");
    assert!(!stderr.contains("compiling plugin"), "no link was read: {stderr}");
    assert_eq!(std::fs::read(&outside).unwrap(), before);
}

#[test]
fn a_data_folder_whose_audit_log_is_a_symbolic_link_is_refused_and_the_target_unchanged() {
    let setup = Setup::new(&["ping"], CONFIG);
    let outside = setup.path().join("outside.jsonl");
    std::fs::write(&outside, "precious\n").unwrap();
    std::fs::create_dir_all(setup.path().join("data")).unwrap();
    std::os::unix::fs::symlink(&outside, setup.path().join("data/audit.jsonl")).unwrap();
    let (status, _, stderr) = setup.start().finish();
    assert!(!status.success(), "the host does not start: {stderr}");
    assert!(
        stderr.contains("`audit.jsonl` in the data folder is a symbolic link; Coral does not follow links"),
        "a clear line: {stderr}"
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious\n");
    assert!(!stderr.contains("coral ready"), "{stderr}");
}
