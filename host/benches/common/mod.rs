//! Helpers shared by the benchmark binaries: process CPU time from /proc and a console sink that counts lines.

#![allow(dead_code)] // each benchmark uses a subset

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

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

    /// Block until at least `n` lines have been written.
    pub fn wait_for(&self, n: usize) {
        let (count, cv) = &*self.lines;
        let mut c = count.lock().unwrap();
        while *c < n {
            c = cv.wait(c).unwrap();
        }
    }
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
