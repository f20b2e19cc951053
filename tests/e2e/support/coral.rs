//! A running `coral` process with a temp folder (config, plugins, data), piped stdin/stdout/stderr, and helpers
//! that wait for output with a named deadline. On drop it kills the process and prints its stderr.

use super::plugins;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any single expectation may wait before the test fails (a hang guard, not a performance claim).
pub const WAIT: Duration = Duration::from_secs(120);

/// A temp folder with `coral.toml`, `plugins/` and `data/`.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    /// A folder with these plugins (by name) and this config text.
    pub fn new(plugin_names: &[&str], config: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        for name in plugin_names {
            std::fs::copy(
                plugins::wasm(name),
                dir.path().join("plugins").join(format!("{name}.wasm")),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("coral.toml"), config).unwrap();
        Setup { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("coral.toml")
    }

    /// Start `coral run --config <dir>/coral.toml`, sharing one compilation cache across tests (compiling a
    /// Python component takes seconds; every test process would otherwise do it again).
    pub fn start(&self) -> Coral {
        self.start_with_cache(&plugins::repo_root().join("target/test-cache"))
    }

    /// Start `coral run --config <dir>/coral.toml` with its own compilation cache.
    pub fn start_with_cache(&self, cache: &Path) -> Coral {
        Coral::spawn(
            &[
                "run",
                "--config",
                self.config_path().to_str().unwrap(),
                "--cache-dir",
                cache.to_str().unwrap(),
            ],
            self.path(),
        )
    }
}

/// A running `coral`.
pub struct Coral {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
    /// Every stdout line read so far.
    pub seen: Vec<String>,
}

impl Coral {
    pub fn spawn(args: &[&str], cwd: &Path) -> Coral {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coral"))
            .args(args)
            .current_dir(cwd)
            .env("CORAL_LOG", "info")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting coral");
        let (tx, stdout) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdin = child.stdin.take();
        Coral {
            child,
            stdin,
            stdout,
            stderr,
            stderr_reader: Some(stderr_reader),
            seen: Vec::new(),
        }
    }

    /// Type a line into the console.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .expect("writing to coral's stdin");
    }

    /// Wait for the next stdout line that satisfies `pred` (earlier lines are kept in `seen`).
    pub fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "timed out waiting for {what}; stdout so far: {:#?}\nstderr:\n{}",
                    self.seen,
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "coral closed stdout while waiting for {what}; stdout: {:#?}\nstderr:\n{}",
                    self.seen,
                    self.stderr()
                ),
            }
        }
    }

    /// Every stdout line read so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Wait for exactly this stdout line.
    pub fn expect(&mut self, line: &str) {
        self.expect_line(&format!("{line:?}"), |l| l == line);
    }

    /// Wait until stderr contains `needle` (log lines are asynchronous to stdout).
    pub fn expect_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let err = self.stderr();
            if err.contains(needle) {
                return err;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for log {needle:?}; stderr:\n{err}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait for a log line containing `marker` and return the rest of that line after it (e.g. a URL).
    pub fn log_value(&self, marker: &str) -> String {
        let log = self.expect_log(marker);
        let line = log.lines().find(|l| l.contains(marker)).unwrap();
        let rest = &line[line.find(marker).unwrap() + marker.len()..];
        rest.split_whitespace().next().unwrap_or("").to_string()
    }

    /// Peak resident memory of the process so far, in KiB (`VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status")
    }

    /// Count the stderr lines containing `needle`, waiting until there are at least `n`.
    pub fn expect_log_count(&self, needle: &str, n: usize) -> usize {
        let deadline = Instant::now() + WAIT;
        loop {
            let count = self.stderr().matches(needle).count();
            if count >= n {
                return count;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {n} × {needle:?}, saw {count}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Close stdin (end of console input) and wait for the process to exit; returns its status, the stdout lines
    /// not read yet, and its whole stderr.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        drop(self.stdin.take());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for coral") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "coral did not exit after its input ended; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        (status, rest, self.stderr())
    }
}

impl Drop for Coral {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- coral stderr ----\n{}", self.stderr());
        }
    }
}
