//! Crash backoff and quarantine for a plugin that keeps trapping or timing out: after a fault the next fresh
//! instance waits 1 s, then 2 s, 4 s … up to 300 s; 5 faults within 10 minutes quarantine the plugin (its events
//! are shed until it is reloaded). A success resets the delay. Runs on `tokio::time::Instant`, so tests use a
//! paused clock.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// First restart delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest restart delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// Faults within [`WINDOW`] that quarantine a plugin.
pub const QUARANTINE_AFTER: usize = 5;
/// The window faults are counted in.
pub const WINDOW: Duration = Duration::from_secs(600);

/// What to do with the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Now,
    /// Wait until then before making a fresh instance.
    After(Instant),
    /// The plugin is quarantined: shed the event.
    Quarantined,
}

/// The fault history of one plugin.
#[derive(Debug)]
pub struct CrashGuard {
    faults: VecDeque<Instant>,
    next_delay: Duration,
    not_before: Option<Instant>,
    quarantined: bool,
}

impl Default for CrashGuard {
    fn default() -> Self {
        CrashGuard {
            faults: VecDeque::new(),
            next_delay: BACKOFF_BASE,
            not_before: None,
            quarantined: false,
        }
    }
}

impl CrashGuard {
    /// Record a fault (trap or timeout). Returns true when this fault quarantines the plugin.
    pub fn fault(&mut self) -> bool {
        let now = Instant::now();
        self.faults.push_back(now);
        while self.faults.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
            self.faults.pop_front();
        }
        if self.faults.len() >= QUARANTINE_AFTER && !self.quarantined {
            self.quarantined = true;
            return true;
        }
        self.not_before = Some(now + self.next_delay);
        self.next_delay = (self.next_delay * 2).min(BACKOFF_CAP);
        false
    }

    /// Record a success: the next fault starts the delays over.
    pub fn success(&mut self) {
        self.next_delay = BACKOFF_BASE;
    }

    /// Whether (and when) the next event may be handled.
    pub fn admit(&self) -> Admit {
        if self.quarantined {
            return Admit::Quarantined;
        }
        match self.not_before {
            Some(at) if at > Instant::now() => Admit::After(at),
            _ => Admit::Now,
        }
    }

    /// Whether the plugin is quarantined.
    pub fn is_quarantined(&self) -> bool {
        self.quarantined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn delays_double_then_quarantine_after_five_faults_in_ten_minutes() {
        let mut g = CrashGuard::default();
        let start = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..4 {
            assert!(!g.fault());
            let Admit::After(at) = g.admit() else {
                panic!("backoff expected")
            };
            delays.push(at - Instant::now());
            tokio::time::advance(at - Instant::now()).await;
            assert_eq!(g.admit(), Admit::Now);
        }
        assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_secs));
        assert!(g.fault(), "the fifth fault within ten minutes quarantines");
        assert_eq!(g.admit(), Admit::Quarantined);
        assert!(Instant::now() - start < WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn faults_spread_over_more_than_ten_minutes_do_not_quarantine_and_delays_cap_at_300s() {
        let mut g = CrashGuard::default();
        for _ in 0..20 {
            assert!(!g.fault());
            tokio::time::advance(Duration::from_secs(301)).await;
        }
        // 20 faults, but never 5 within 600 s (one every 301 s: at most 2 in a window).
        assert!(!g.is_quarantined());
        g.fault();
        let Admit::After(at) = g.admit() else { panic!() };
        assert_eq!(at - Instant::now(), BACKOFF_CAP);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_delay() {
        let mut g = CrashGuard::default();
        g.fault();
        tokio::time::advance(Duration::from_secs(1)).await;
        g.fault();
        tokio::time::advance(Duration::from_secs(2)).await;
        g.success();
        g.fault();
        let Admit::After(at) = g.admit() else { panic!() };
        assert_eq!(at - Instant::now(), BACKOFF_BASE);
    }
}
