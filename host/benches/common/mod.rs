//! Helpers shared by the benchmark binaries: process CPU time from /proc, a console sink that counts lines, and
//! a console burst that feeds lines to plugins and waits for their answers.

#![allow(dead_code)] // each benchmark uses a subset

use coral_adapters::console;
use coral_host::config::ConsoleConfig;
use coral_model::Bots;
use coral_runtime::Dispatcher;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// User + system CPU time of a process (`"self"` or a pid) from `/proc/<pid>/stat`, in 10 ms clock ticks.
pub fn cpu_time(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Counts the lines written to it and wakes waiters on each.
#[derive(Clone, Default)]
pub struct LineCounter {
    lines: Arc<(Mutex<usize>, Condvar)>,
}

impl LineCounter {
    /// Lines written so far.
    pub fn count(&self) -> usize {
        *self.lines.0.lock().unwrap()
    }

    /// Block until at least `n` lines have been written; panics after a minute (a lost answer).
    pub fn wait_for(&self, n: usize) {
        let (count, cv) = &*self.lines;
        let c = count.lock().unwrap();
        let (c, timeout) = cv.wait_timeout_while(c, Duration::from_secs(60), |c| *c < n).unwrap();
        assert!(!timeout.timed_out(), "waited a minute for {n} lines, got {}", *c);
    }
}

/// Wall and CPU time of a console burst.
pub struct Burst {
    pub wall: Duration,
    pub cpu: Duration,
}

/// Feed `input` to the real console adapter, wait until `answers` lines have come back, then shut the
/// dispatcher down. Times (wall, and this process's CPU) run from the first line to the last answer.
pub async fn console_burst(input: &str, answers: usize, dispatcher: &Dispatcher, bots: Bots) -> Burst {
    let lines = LineCounter::default();
    let out: console::Output = Arc::new(parking_lot::Mutex::new(lines.clone()));
    let (cpu0, t0) = (cpu_time("self"), Instant::now());
    console::run(
        &ConsoleConfig::default(),
        tokio::io::BufReader::new(input.as_bytes()),
        out,
        Arc::new(dispatcher.clone()),
        bots,
    )
    .await
    .expect("console");
    // Wait for the answers before stopping: shutdown gives a busy plugin only a grace period.
    let counter = lines.clone();
    tokio::task::spawn_blocking(move || counter.wait_for(answers))
        .await
        .expect("every line answered");
    let burst = Burst {
        wall: t0.elapsed(),
        cpu: cpu_time("self") - cpu0,
    };
    dispatcher.shutdown().await;
    assert_eq!(lines.count(), answers, "one answer per line");
    burst
}

impl Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.iter().filter(|b| **b == b'\n').count();
        if n > 0 {
            let (count, cv) = &*self.lines;
            *count.lock().unwrap() += n;
            cv.notify_all();
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The folder at `path` (created if missing) as the handle the host passes around.
pub fn folder(path: &std::path::Path) -> Arc<cap_std::fs::Dir> {
    std::fs::create_dir_all(path).expect("creating a folder");
    Arc::new(cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority()).expect("opening a folder"))
}
