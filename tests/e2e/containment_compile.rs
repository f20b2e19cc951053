//! Compiling out of process: plugin files are compiled by `coral compile-worker` (a child process with its own
//! memory and CPU limits), its code is cached and reused, and a compiler that breaks its limits costs only its own
//! process: the host reports it, skips the plugin, and runs on.

use crate::support::coral::Setup;

#[test]
fn a_compiler_over_its_memory_limit_is_stopped_and_the_host_runs_on() {
    let setup = Setup::new(&["ping"], "[host]\ncompile_memory_mb = 1\n\n[console]\n");
    let cache = tempfile::tempdir().unwrap();
    let coral = setup.start_with_cache(cache.path());
    let log = coral.expect_log("coral ready");
    assert!(
        log.contains("could not be compiled: the compiler stopped:") && log.contains("1 MiB memory"),
        "{log}"
    );
    assert!(log.contains("coral ready: 0 plugin(s)"), "{log}");
    // Nothing half-written was left in the cache.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}

#[test]
fn plugins_compile_in_a_child_process_once_and_load_from_the_cache_after() {
    let cache = tempfile::tempdir().unwrap();
    let setup = Setup::new(&["ping"], "[console]\n");
    let mut coral = setup.start_with_cache(cache.path());
    coral.send("ping one");
    coral.expect("[private 10000] pong one");
    let (status, _, log) = coral.finish();
    assert!(status.success());
    assert!(log.contains("compiled in a child process"), "{log}");
    let cached: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(cached.len() == 1 && cached[0].ends_with(".cwasm"), "{cached:?}");
    // Next time no compiler runs: even one that could not compile anything would not be asked.
    std::fs::write(setup.config_path(), "[host]\ncompile_memory_mb = 1\n\n[console]\n").unwrap();
    let mut coral = setup.start_with_cache(cache.path());
    coral.send("ping two");
    coral.expect("[private 10000] pong two");
    let (status, _, log) = coral.finish();
    assert!(status.success());
    assert!(!log.contains("compiled in a child process"), "{log}");
}
