//! Configuration errors are clear and loading problems never stop the host.

use crate::support::coral::Setup;

#[test]
fn an_unknown_config_key_is_rejected_naming_key_and_line() {
    let setup = Setup::new(&[], "[host]\nplugin_dir = \"plugins\"\nplguin_dir = \"oops\"\n");
    let (status, _, stderr) = setup.start().finish();
    assert!(!status.success(), "a bad config must stop coral");
    assert!(stderr.contains("plguin_dir"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
}

#[test]
fn a_broken_plugin_file_is_skipped_and_the_rest_load() {
    let setup = Setup::new(&["ping"], "[console]\n");
    std::fs::write(
        setup.path().join("plugins/garbage.wasm"),
        b"\0asm not really a component",
    )
    .unwrap();
    std::fs::write(setup.path().join("plugins/empty.wasm"), b"").unwrap();
    let mut coral = setup.start();
    coral.send("ping still here");
    coral.expect("[private 10000] pong still here");
    let log = coral.expect_log("plugin=garbage");
    assert!(log.contains("plugin not loaded"), "{log}");
    coral.expect_log("plugin=empty");
}

#[test]
fn a_core_module_or_a_component_of_another_world_is_rejected() {
    let setup = Setup::new(&["ping", "wrong-world"], "[console]\n");
    // The smallest valid core wasm module: valid wasm, but not a component.
    std::fs::write(
        setup.path().join("plugins/core.wasm"),
        [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    )
    .unwrap();
    let mut coral = setup.start();
    coral.send("ping x");
    coral.expect("[private 10000] pong x");
    let log = coral.expect_log("plugin=core");
    assert!(log.contains("not a valid WebAssembly component"), "{log}");
    let log = coral.expect_log("plugin=wrong-world");
    assert!(
        log.contains("does not match a coral:bot plugin world this host serves"),
        "{log}"
    );
}
