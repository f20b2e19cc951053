//! Tests for the audit log: entries, call pairs, coalesced refusal runs, field cuts and rotation.

use super::*;
use std::path::{Path, PathBuf};

/// The folder of `path`, as the host hands it to the log.
fn folder(path: &Path) -> Arc<Dir> {
    Arc::new(Dir::open_ambient_dir(path.parent().unwrap(), cap_std::ambient_authority()).unwrap())
}

fn file_name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

fn open(path: &Path) -> Result<AuditLog, AuditError> {
    open_with(path, Rotation::default())
}

fn open_with(path: &Path, rotation: Rotation) -> Result<AuditLog, AuditError> {
    AuditLog::open_in(folder(path), file_name(path), rotation)
}

fn read_log(path: &Path) -> std::io::Result<Vec<Record>> {
    AuditLog::read(&folder(path), file_name(path))
}

fn read_all(path: &Path) -> std::io::Result<Vec<Record>> {
    AuditLog::read_all(&folder(path), file_name(path))
}

fn rotated_path(path: &Path, i: usize) -> PathBuf {
    path.with_file_name(rotated(file_name(path), i))
}

#[test]
fn a_log_file_that_is_a_symbolic_link_is_refused_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "precious\n").unwrap();
    std::os::unix::fs::symlink(&outside, data.join("audit.jsonl")).unwrap();
    let err = open(&data.join("audit.jsonl")).err().expect("a linked log is refused");
    assert!(matches!(err, AuditError::Link { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("`audit.jsonl` in the data folder is a symbolic link"),
        "{err}"
    );
    assert!(
        read_log(&data.join("audit.jsonl")).is_err(),
        "reading does not follow it either"
    );
    // A link to a file inside the folder is refused the same way.
    std::fs::write(data.join("other.jsonl"), "").unwrap();
    std::os::unix::fs::symlink("other.jsonl", data.join("inside.jsonl")).unwrap();
    assert!(matches!(open(&data.join("inside.jsonl")), Err(AuditError::Link { .. })));
    // A name that climbs out of the folder never reaches the file it names.
    assert!(AuditLog::open_in(folder(&data.join("x")), "../outside.txt", Rotation::default()).is_err());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious\n");
}

#[test]
fn entries_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let entry = Entry {
        time_ms: 1,
        plugin: "moderation".into(),
        plugin_hash: "abcd".into(),
        bot: "10001".into(),
        action: "set_group_ban".into(),
        capability: "ban".into(),
        target: "group 1 user 2".into(),
        outcome: Outcome::Denied,
        retcode: 102,
        detail: "not granted".into(),
        call: 0,
    };
    open(&path).unwrap().append(&entry);
    open(&path).unwrap().append(&Entry {
        outcome: Outcome::Ok,
        retcode: 0,
        ..entry.clone()
    });
    let read = read_log(&path).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].entry, entry);
    assert_eq!(read[0].repeated, 0);
    assert_eq!(read[1].entry.outcome, Outcome::Ok);
}

#[test]
fn plugin_chosen_fields_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let huge = "9".repeat(1 << 20);
    let entry = Entry {
        time_ms: 1,
        plugin: "p".into(),
        plugin_hash: "h".into(),
        bot: huge.clone(),
        action: "send_msg".into(),
        capability: "send".into(),
        target: format!("group {huge}"),
        outcome: Outcome::Denied,
        retcode: 102,
        detail: format!("message {huge} was not seen"),
        call: 0,
    };
    open(&path).unwrap().append(&entry);
    assert!(std::fs::metadata(&path).unwrap().len() < 8 * MAX_FIELD as u64);
    let read = read_log(&path).unwrap();
    let detail = &read[0].entry.detail;
    assert!(detail.starts_with("message 999") && detail.len() <= MAX_FIELD + 3);
}

#[test]
fn a_call_is_written_before_and_after_and_never_left_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = Arc::new(open(&path).unwrap());
    let entry = Entry {
        time_ms: 1,
        plugin: "p".into(),
        plugin_hash: "h".into(),
        bot: "1".into(),
        action: "set_group_kick".into(),
        capability: "kick".into(),
        target: "group 1 user 2".into(),
        outcome: Outcome::Pending,
        retcode: 0,
        detail: String::new(),
        call: 0,
    };
    let first = log.begin(entry.clone());
    assert_eq!(
        read_log(&path).unwrap()[0].entry.outcome,
        Outcome::Pending,
        "written before the call"
    );
    first.finish(Outcome::Ok, 0, "");
    drop(log.begin(entry));
    let read = read_log(&path).unwrap();
    let outcomes: Vec<&str> = read.iter().map(|r| r.entry.outcome.as_str()).collect();
    assert_eq!(outcomes, ["pending", "ok", "pending", "unknown"]);
    assert_eq!(read[0].entry.call, read[1].entry.call);
    assert_eq!(read[2].entry.call, read[3].entry.call);
    assert_ne!(read[0].entry.call, read[2].entry.call);
}

/// A denial by `plugin` at `time_ms` with `detail`.
fn denial(plugin: &str, time_ms: u64, detail: &str) -> Entry {
    Entry {
        time_ms,
        plugin: plugin.into(),
        plugin_hash: "h".into(),
        bot: "1".into(),
        action: "set_group_kick".into(),
        capability: "kick".into(),
        target: "group 1 user 2".into(),
        outcome: Outcome::Denied,
        retcode: 102,
        detail: detail.into(),
        call: 0,
    }
}

/// (plugin, detail, time, repeated) of every line.
fn lines(path: &Path) -> Vec<(String, String, u64, u64)> {
    read_all(path)
        .unwrap()
        .into_iter()
        .map(|r| (r.entry.plugin, r.entry.detail, r.entry.time_ms, r.repeated))
        .collect()
}

fn line(plugin: &str, detail: &str, time_ms: u64, repeated: u64) -> (String, String, u64, u64) {
    (plugin.into(), detail.into(), time_ms, repeated)
}

#[test]
fn identical_refusals_in_one_second_are_one_line_and_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = open(&path).unwrap();
    for i in 0..1000 {
        log.refuse(&denial("p", 5_000 + i % 1000, "no"));
    }
    // The first is on disk at once; the rest are counted.
    assert_eq!(lines(&path), [line("p", "no", 5_000, 0)]);
    // A different refusal ends the run: the count goes first.
    log.refuse(&denial("p", 5_999, "other"));
    assert_eq!(
        lines(&path),
        [
            line("p", "no", 5_000, 0),
            line("p", "no", 5_999, 999),
            line("p", "other", 5_999, 0)
        ]
    );
    // Every other field is part of what must be identical.
    let mut target = denial("p", 5_999, "other");
    target.target = "group 1 user 3".into();
    let mut outcome = denial("p", 5_999, "other");
    outcome.outcome = Outcome::RateLimited;
    log.refuse(&target);
    log.refuse(&outcome);
    assert_eq!(lines(&path).len(), 5);
}

#[test]
fn a_run_ends_with_its_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = open(&path).unwrap();
    log.refuse(&denial("p", 7_000, "no"));
    log.refuse(&denial("p", 7_400, "no"));
    log.refuse(&denial("p", 7_900, "no"));
    // The same refusal in the next second is written again, after the count of the last one.
    log.refuse(&denial("p", 8_000, "no"));
    log.refuse(&denial("p", 8_001, "no"));
    assert_eq!(
        lines(&path),
        [
            line("p", "no", 7_000, 0),
            line("p", "no", 7_900, 2),
            line("p", "no", 8_000, 0)
        ]
    );
    // The background flush writes runs whose second is over, and only those.
    log.flush_before(8);
    assert_eq!(lines(&path).len(), 3);
    log.flush_before(9);
    assert_eq!(lines(&path).last(), Some(&line("p", "no", 8_001, 1)));
    log.flush_before(10);
    assert_eq!(lines(&path).len(), 4, "written once");
}

#[test]
fn runs_are_per_plugin_and_end_before_the_plugin_gets_anything_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = Arc::new(open(&path).unwrap());
    for _ in 0..3 {
        log.refuse(&denial("a", 1_000, "no"));
        log.refuse(&denial("b", 1_000, "no"));
    }
    assert_eq!(lines(&path).len(), 2, "interleaved plugins each keep their run");
    // A call of `a` that gets through: its count is written before the `pending` line.
    let mut admitted = denial("a", 1_001, "");
    admitted.outcome = Outcome::Pending;
    let call = log.begin(admitted);
    let read = read_log(&path).unwrap();
    let outcomes: Vec<(&str, &str, u64)> = read
        .iter()
        .map(|r| (r.entry.plugin.as_str(), r.entry.outcome.as_str(), r.repeated))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("a", "denied", 0),
            ("b", "denied", 0),
            ("a", "denied", 2),
            ("a", "pending", 0)
        ]
    );
    call.finish(Outcome::Ok, 0, "");
    // `settle` (a call that is not audited) does the same; a plugin without a run writes nothing.
    log.settle("b");
    log.settle("c");
    assert_eq!(lines(&path).last(), Some(&line("b", "no", 1_000, 2)));
    assert_eq!(lines(&path).len(), 6);
    // Admitted calls are never coalesced.
    for _ in 0..3 {
        let mut admitted = denial("a", 1_002, "");
        admitted.outcome = Outcome::Pending;
        log.begin(admitted).finish(Outcome::Ok, 0, "");
    }
    assert_eq!(lines(&path).len(), 12);
}

#[test]
fn open_counts_are_written_at_flush_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = open(&path).unwrap();
    log.refuse(&denial("p", 1_000, "no"));
    log.refuse(&denial("p", 1_001, "no"));
    log.flush();
    assert_eq!(lines(&path), [line("p", "no", 1_000, 0), line("p", "no", 1_001, 1)]);
    log.refuse(&denial("p", 1_002, "no"));
    log.refuse(&denial("p", 1_003, "no"));
    drop(log);
    assert_eq!(lines(&path).last(), Some(&line("p", "no", 1_003, 1)));
    assert_eq!(lines(&path).len(), 4);
}

#[test]
fn rotation_keeps_every_file_under_the_cap_and_reads_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let rotation = Rotation {
        max_bytes: 2_000,
        files: 3,
    };
    let log = Arc::new(open_with(&path, rotation).unwrap());
    let mut written = Vec::new();
    for i in 0..200u64 {
        // Distinct refusals: each is a line of its own.
        let detail = format!("refusal {i}");
        log.refuse(&denial("p", 1_000 + i * 1000, &detail));
        written.push(detail);
        let files: Vec<u64> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| f.unwrap().metadata().unwrap().len())
            .collect();
        assert!(files.len() <= 3, "{files:?}");
        assert!(files.iter().all(|&n| n <= 2_000), "{files:?}");
    }
    assert!(rotated_path(&path, 2).exists() && !rotated_path(&path, 3).exists());
    // What is left is the newest entries, oldest first, none lost between the files kept and none split.
    let read: Vec<String> = read_all(&path).unwrap().into_iter().map(|r| r.entry.detail).collect();
    assert!(read.len() > 10, "{read:?}");
    assert_eq!(read[..], written[written.len() - read.len()..]);
    let raw: usize = (0..3)
        .map(|i| {
            let file = if i == 0 { path.clone() } else { rotated_path(&path, i) };
            std::fs::read_to_string(file).unwrap().lines().count()
        })
        .sum();
    assert_eq!(raw, read.len(), "every line parses");
    // Right after a rotation, a `pending` entry is still on disk before the call goes on.
    let before = std::fs::metadata(&path).unwrap().len();
    let mut admitted = denial("p", 300_000, "");
    admitted.outcome = Outcome::Pending;
    // Plugin-chosen fields are cut at MAX_FIELD: spread the bytes that force a rotation over two of them.
    let need = 2_000 - before as usize;
    admitted.detail = "x".repeat(need.min(1_000));
    admitted.target = "y".repeat(need.saturating_sub(1_000).min(1_000));
    let call = log.begin(admitted);
    let live = read_log(&path).unwrap();
    assert_eq!(live.len(), 1, "the pending line started a new file");
    assert_eq!(live[0].entry.outcome, Outcome::Pending);
    call.finish(Outcome::Ok, 0, "");
    // Reopening carries on from the live file's size.
    drop(log);
    let log = open_with(&path, rotation).unwrap();
    let mut last = denial("p", 400_000, &"y".repeat(1_000));
    last.target = "z".repeat(700);
    log.append(&last);
    assert!(std::fs::metadata(&path).unwrap().len() <= 2_000);
    assert_eq!(read_log(&path).unwrap().len(), 1);
}
