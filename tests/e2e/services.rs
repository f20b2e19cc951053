//! Plugin services through the real `coral` binary: storage isolation between two copies of the `kv` fixture,
//! quotas, persistence across restarts, denials without grants, a timer set before a stop firing after the
//! restart, and config-schema enforcement by `coral check` and at load.

use crate::support::coral::{Coral, Setup};
use crate::support::plugins;

/// A folder with the `kv` fixture under each of `names` (the same wasm, different files) and `config`.
fn kv_setup(names: &[&str], config: &str) -> Setup {
    let setup = Setup::new(&[], config);
    for name in names {
        std::fs::copy(
            plugins::wasm("kv"),
            setup.path().join("plugins").join(format!("{name}.wasm")),
        )
        .unwrap();
    }
    setup
}

/// Config for copies `kv-a` (tag `a`) and `kv-b` (tag `b`) with these grants and extra lines for `kv-a`.
fn two_copies(grants: &str, extra_a: &str) -> String {
    format!(
        "[console]\nenabled = true\n\
         [plugins.kv-a]\ngrants = [{grants}]\n{extra_a}\n[plugins.kv-a.config]\ntag = \"a\"\n\
         [plugins.kv-b]\ngrants = [{grants}]\n[plugins.kv-b.config]\ntag = \"b\"\n"
    )
}

/// Type a command and wait for that copy's answer (the text after `[private 10000] `).
fn ask(coral: &mut Coral, line: &str) -> String {
    let tag = line.split(' ').next().unwrap().to_string();
    coral.send(line);
    let prefix = format!("[private 10000] {tag}: ");
    let answer = coral.expect_line(&format!("answer to {line:?}"), |l| l.starts_with(&prefix));
    answer[prefix.len()..].to_string()
}

const TRICKY_KEYS: &[&str] = &[
    "x",
    "../kv-b/x",
    "kv-b:x",
    "kv-b",
    "%",
    "_",
    "x%",
    "'OR'1'='1",
    "\";DROP/**/TABLE/**/kv;--",
    "\\",
];

#[test]
fn two_copies_of_one_plugin_cannot_see_each_others_keys() {
    let setup = kv_setup(&["kv-a", "kv-b"], &two_copies("\"storage\"", ""));
    let mut coral = setup.start();
    for key in TRICKY_KEYS {
        assert_eq!(ask(&mut coral, &format!("a set {key} A")), "set ok stored", "{key}");
    }
    for key in TRICKY_KEYS {
        assert_eq!(
            ask(&mut coral, &format!("b get {key}")),
            "get ok none",
            "{key} leaked to b"
        );
        assert_eq!(ask(&mut coral, &format!("a get {key}")), "get ok A", "{key}");
    }
    assert_eq!(ask(&mut coral, "b list"), "list ok []");
    assert_eq!(ask(&mut coral, "b list %"), "list ok []");
    assert_eq!(ask(&mut coral, "a list x"), "list ok [x,x%]", "`%` is no wildcard");
    assert_eq!(ask(&mut coral, "b set x B"), "set ok stored");
    assert_eq!(ask(&mut coral, "b del %"), "del ok false");
    assert_eq!(
        ask(&mut coral, "a get x"),
        "get ok A",
        "b's write did not touch a's key"
    );
    assert_eq!(ask(&mut coral, "a get %"), "get ok A");
    assert_eq!(ask(&mut coral, "b get x"), "get ok B");
    assert_eq!(ask(&mut coral, "a incr n 5"), "incr ok 5");
    assert_eq!(ask(&mut coral, "b incr n 1"), "incr ok 1");
    assert_eq!(ask(&mut coral, "a cas n 5 6"), "cas ok true");
    assert_eq!(ask(&mut coral, "b cas n 5 7"), "cas ok false");
}

#[test]
fn a_full_quota_returns_quota_exceeded_and_loses_nothing() {
    let setup = kv_setup(&["kv-a"], &two_copies("\"storage\"", "storage = { max_keys = 5 }"));
    let mut coral = setup.start();
    let answer = ask(&mut coral, "a fill 10 10");
    assert!(
        answer.starts_with("fill stopped at 5: err quota-exceeded 1413 storage quota exceeded"),
        "{answer}"
    );
    assert_eq!(
        ask(&mut coral, "a list fill"),
        "list ok [fill0,fill1,fill2,fill3,fill4]"
    );
    assert_eq!(ask(&mut coral, "a get fill4"), "get ok xxxxxxxxxx");
    let answer = ask(&mut coral, "a incr counter 1");
    assert!(answer.starts_with("incr err quota-exceeded 1413"), "{answer}");
    assert_eq!(
        ask(&mut coral, "a set fill0 replaced"),
        "set ok stored",
        "rewriting a key needs no new slot"
    );
    assert_eq!(ask(&mut coral, "a del fill1"), "del ok true");
    assert_eq!(
        ask(&mut coral, "a set new 1"),
        "set ok stored",
        "freeing a key makes room"
    );
}

#[test]
fn data_survives_a_restart() {
    let setup = kv_setup(&["kv-a"], &two_copies("\"storage\"", ""));
    let mut coral = setup.start();
    assert_eq!(ask(&mut coral, "a set greeting hello"), "set ok stored");
    assert_eq!(ask(&mut coral, "a incr visits 1"), "incr ok 1");
    let (status, _, _) = coral.finish();
    assert!(status.success());
    let mut coral = setup.start();
    assert_eq!(ask(&mut coral, "a get greeting"), "get ok hello");
    assert_eq!(ask(&mut coral, "a incr visits 1"), "incr ok 2");
    assert!(setup.path().join("data/storage.db").is_file());
}

#[test]
fn without_grants_storage_and_schedule_are_denied_and_audited() {
    let setup = kv_setup(&["kv-a"], &two_copies("", ""));
    let mut coral = setup.start();
    let answer = ask(&mut coral, "a set k v");
    assert!(answer.starts_with("set err permission-denied 102"), "{answer}");
    assert!(answer.contains("`storage` is not granted"), "{answer}");
    let answer = ask(&mut coral, "a remind 60 tea");
    assert!(answer.starts_with("remind err permission-denied 102"), "{answer}");
    let answer = ask(&mut coral, "a jobs");
    assert!(answer.starts_with("jobs err permission-denied 102"), "{answer}");
    drop(coral);
    let log = std::fs::read_to_string(setup.path().join("data/audit.jsonl")).unwrap();
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let denied: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        denied,
        [
            ("storage.set", "denied"),
            ("schedule.add", "denied"),
            ("schedule.list-jobs", "denied")
        ]
    );
    assert!(entries.iter().all(|e| e["plugin"] == "kv-a" && e["retcode"] == 102));
}

#[test]
fn a_reminder_set_before_a_stop_fires_after_the_restart() {
    let setup = kv_setup(&["kv-a"], &two_copies("\"send\", \"storage\", \"schedule\"", ""));
    let mut coral = setup.start();
    let set_at = std::time::Instant::now();
    assert_eq!(ask(&mut coral, "a remind 15 tea"), "remind ok remind-15");
    assert_eq!(ask(&mut coral, "a jobs"), "jobs ok [remind-15]");
    let (status, rest, _) = coral.finish();
    assert!(status.success());
    assert!(
        !rest.iter().any(|l| l.contains("timer")),
        "the host stopped before the job was due: {rest:?}"
    );
    // Stay down past the due time, so the job is missed and must fire at start-up.
    let due = std::time::Duration::from_secs(16);
    if let Some(left) = due.checked_sub(set_at.elapsed()) {
        std::thread::sleep(left);
    }
    let mut coral = setup.start();
    coral.expect("[private 10000] a: timer remind-15 tea");
    assert_eq!(ask(&mut coral, "a jobs"), "jobs ok []", "a fired one-shot is gone");
}

#[test]
fn coral_job_run_makes_a_job_due_now_and_names_a_missing_one() {
    let setup = kv_setup(&["kv-a"], &two_copies("\"send\", \"storage\", \"schedule\"", ""));
    let mut coral = setup.start();
    assert_eq!(ask(&mut coral, "a remind 3600 tea"), "remind ok remind-3600");
    let run = |name: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
            .args(["job", "run", "kv-a", name, "--config"])
            .arg(setup.config_path())
            .output()
            .expect("running coral job run")
    };
    let out = run("remind-3600");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("kv-a: job `remind-3600` is due now"), "{stdout}");
    // An hour early: the timer event reaches the plugin now, and the one-shot job is done.
    coral.expect("[private 10000] a: timer remind-3600 tea");
    assert_eq!(ask(&mut coral, "a jobs"), "jobs ok []");
    let out = run("remind-3600");
    assert!(!out.status.success(), "a job that is gone is not run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no job `remind-3600`"));
}

#[test]
fn a_config_breaking_the_schema_is_refused_by_check_and_at_load() {
    let config = "[console]\nenabled = true\n\
                  [plugins.kv-a]\ngrants = [\"storage\"]\n[plugins.kv-a.config]\ntag = \"much-too-long\"\ncolour = 1\n\
                  [plugins.kv-b]\ngrants = [\"storage\"]\n[plugins.kv-b.config]\ntag = \"b\"\n";
    let setup = kv_setup(&["kv-a", "kv-b"], config);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["check", "--config", "coral.toml"])
        .current_dir(setup.path())
        .env("CORAL_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("config.tag: 13 characters; at most 8"), "{text}");
    assert!(
        text.contains("config.colour: unknown key (not in the schema)"),
        "{text}"
    );
    assert!(text.contains("ok: kv-b"), "{text}");
    let inspect = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["plugin", "inspect", "plugins/kv-b.wasm", "--config", "coral.toml"])
        .current_dir(setup.path())
        .env("CORAL_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        text.contains("storage:      granted (quota 10000 keys, 16 MiB"),
        "{text}"
    );
    assert!(
        text.contains("schedule:     requested, not granted (≤ 32 jobs"),
        "{text}"
    );
    assert!(text.contains("config:       schema-checked: matches"), "{text}");

    let mut coral = setup.start();
    let log = coral.expect_log("plugin not loaded: config does not match the plugin's schema");
    assert!(log.contains("config.tag: 13 characters; at most 8"), "{log}");
    assert_eq!(ask(&mut coral, "b set k v"), "set ok stored", "the other plugin runs");
    coral.send("a get k");
    coral.send("b get k");
    let line = coral.expect_line("b's answer", |l| l.contains(": get"));
    assert_eq!(
        line, "[private 10000] b: get ok v",
        "kv-a is not loaded, so it does not answer"
    );
}

#[test]
fn the_example_plugins_run_in_the_sample_config() {
    let sample = std::fs::read_to_string(plugins::repo_root().join("example-plugins/coral.toml")).unwrap();
    let config = sample
        .replace("plugin_dir = \"../plugins\"", "plugin_dir = \"plugins\"")
        .replace("data_dir = \"../data\"", "data_dir = \"data\"");
    let setup = Setup::new(&["ping", "moderation", "warnings", "reminder"], &config);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["check", "--config", "coral.toml"])
        .current_dir(setup.path())
        .env("CORAL_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok: warnings") && text.contains("ok: reminder"), "{text}");

    let mut coral = setup.start();
    coral.send(":group 1000001");
    for n in 1..=2 {
        coral.send("warn @42 flooding");
        coral.expect(&format!("[group 1000001] 42 warned (flooding): {n}/3"));
    }
    coral.send("warnings 42");
    coral.expect("[group 1000001] 42 has 2/3 warnings");
    coral.send("warn 42");
    let line = coral.expect_line("third warning", |l| l.contains("3/3"));
    assert!(
        line.contains("could not be muted") && line.contains("not supported on the console"),
        "{line}"
    );
    coral.send("warnings 42");
    coral.expect("[group 1000001] 42 has 0/3 warnings");

    coral.send("remind me in 1s tea");
    coral.expect("[group 1000001] ok, in 1s: tea");
    coral.expect("[group 1000001] reminder: tea");
    coral.send("reminders");
    coral.expect("[group 1000001] no reminders pending");
    coral.send("remind me in 1h stretch");
    coral.expect("[group 1000001] ok, in 1h: stretch");
    coral.send("warn 42");
    coral.expect("[group 1000001] 42 warned: 1/3");
    // The console user warns as one of the sample config's superusers; without that, as a member, the host
    // refuses (the plugin keeps no admin list of its own).
    coral.send(":superuser off");
    coral.send("warn 42");
    coral.expect("[group 1000001] warn is for group admins only.");
    let (status, _, _) = coral.finish();
    assert!(status.success());
    // Counts and pending reminders survive a restart.
    let mut coral = setup.start();
    coral.send(":group 1000001");
    coral.send("warnings 42");
    coral.expect("[group 1000001] 42 has 1/3 warnings");
    coral.send("reminders");
    coral.expect("[group 1000001] 1 pending: stretch");
}

#[test]
fn a_plugin_s_time_zone_applies_to_its_cron_lines_unless_a_line_names_its_own() {
    let setup = kv_setup(
        &["kv-a"],
        &two_copies("\"send\", \"storage\", \"schedule\"", "tz = \"Asia/Shanghai\""),
    );
    let mut coral = setup.start();
    assert_eq!(ask(&mut coral, "a cron daily 0 8 * * *"), "cron ok daily");
    // 08:00 in Shanghai is 00:00 UTC; the job keeps its zone (list-jobs shows it).
    assert_eq!(
        ask(&mut coral, "a when daily"),
        "when ok When::Cron(\"CRON_TZ=Asia/Shanghai 0 8 * * *\") utc=00:00"
    );
    assert_eq!(
        ask(&mut coral, "a cron berlin CRON_TZ=Europe/Berlin 30 8 * * *"),
        "cron ok berlin"
    );
    let berlin = ask(&mut coral, "a when berlin");
    assert!(
        berlin == "when ok When::Cron(\"CRON_TZ=Europe/Berlin 30 8 * * *\") utc=07:30"
            || berlin == "when ok When::Cron(\"CRON_TZ=Europe/Berlin 30 8 * * *\") utc=06:30",
        "08:30 in Berlin is 07:30 UTC in winter, 06:30 in summer: {berlin}"
    );
    let bad = ask(&mut coral, "a cron x CRON_TZ=Mars/Olympus 0 8 * * *");
    assert!(bad.contains("unknown time zone \"Mars/Olympus\""), "{bad}");
}

#[test]
fn an_unknown_plugin_time_zone_is_a_config_error_naming_the_key() {
    let setup = kv_setup(&["kv-a"], &two_copies("\"schedule\"", "tz = \"Mars/Olympus\""));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["check", "--config", "coral.toml"])
        .current_dir(setup.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("plugins.kv-a.tz") && text.contains("unknown time zone \"Mars/Olympus\""),
        "{text}"
    );
}
