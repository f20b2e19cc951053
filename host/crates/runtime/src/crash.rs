//! Crash backoff and quarantine for a plugin that keeps trapping or timing out: after a fault the next fresh
//! instance waits 1 s, then 2 s, 4 s … up to 300 s; 5 faults within 10 minutes quarantine the plugin (its events
//! are shed) for `[host] quarantine_secs` (default 600 s), doubled on each further quarantine (at most 6 h); then
//! it is tried again with a fresh instance. A reload (even of the same file) lifts it at once. A success resets the
//! restart delay. Runs on `tokio::time::Instant`, so tests use a paused clock.

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
/// Default first quarantine.
pub const QUARANTINE_BASE: Duration = Duration::from_secs(600);
/// Longest quarantine.
pub const QUARANTINE_CAP: Duration = Duration::from_secs(6 * 3600);

/// What to do with the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Now,
    /// Wait until then before making a fresh instance.
    After(Instant),
    /// The plugin is quarantined: shed the event.
    Quarantined,
    /// A quarantine just ended: go ahead (a fresh instance), and say so.
    Retry,
}

/// A quarantine in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// When it ends (the plugin is then tried again).
    pub until: Instant,
    /// The fault that imposed it.
    pub reason: String,
}

/// The fault history of one plugin.
#[derive(Debug)]
pub struct CrashGuard {
    faults: VecDeque<Instant>,
    next_delay: Duration,
    not_before: Option<Instant>,
    /// The first quarantine's length.
    quarantine_base: Duration,
    /// The next quarantine's length.
    next_quarantine: Duration,
    quarantine: Option<Quarantine>,
    /// The last fault, for `coral status`.
    last_fault: Option<String>,
}

impl Default for CrashGuard {
    fn default() -> Self {
        CrashGuard::new(QUARANTINE_BASE)
    }
}

impl CrashGuard {
    /// A clean history whose first quarantine lasts `quarantine` (at least 1 s, at most [`QUARANTINE_CAP`]).
    pub fn new(quarantine: Duration) -> Self {
        let quarantine = quarantine.clamp(Duration::from_secs(1), QUARANTINE_CAP);
        CrashGuard {
            faults: VecDeque::new(),
            next_delay: BACKOFF_BASE,
            not_before: None,
            quarantine_base: quarantine,
            next_quarantine: quarantine,
            quarantine: None,
            last_fault: None,
        }
    }

    /// Record a fault (trap or timeout) and why. Returns how long the plugin is quarantined when this fault
    /// quarantines it.
    pub fn fault(&mut self, reason: &str) -> Option<Duration> {
        let now = Instant::now();
        if self.quarantine.as_ref().is_some_and(|q| q.until <= now) {
            self.quarantine = None; // Over (another instance may fault before an event was admitted).
        }
        self.last_fault = Some(reason.to_string());
        self.faults.push_back(now);
        while self.faults.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
            self.faults.pop_front();
        }
        if self.faults.len() >= QUARANTINE_AFTER && self.quarantine.is_none() {
            let length = self.next_quarantine;
            self.next_quarantine = (length * 2).min(QUARANTINE_CAP);
            self.quarantine = Some(Quarantine {
                until: now + length,
                reason: reason.to_string(),
            });
            // Tried again after the quarantine with a clean count (and the first restart delay).
            self.faults.clear();
            self.next_delay = BACKOFF_BASE;
            self.not_before = None;
            return Some(length);
        }
        self.not_before = Some(now + self.next_delay);
        self.next_delay = (self.next_delay * 2).min(BACKOFF_CAP);
        None
    }

    /// Record a success: the next fault starts the delays over.
    pub fn success(&mut self) {
        self.next_delay = BACKOFF_BASE;
    }

    /// Whether (and when) the next event may be handled; an expired quarantine ends here.
    pub fn admit(&mut self) -> Admit {
        if let Some(q) = &self.quarantine {
            if q.until > Instant::now() {
                return Admit::Quarantined;
            }
            self.quarantine = None;
            return Admit::Retry;
        }
        match self.not_before {
            Some(at) if at > Instant::now() => Admit::After(at),
            _ => Admit::Now,
        }
    }

    /// Lift a quarantine (and forget the fault history) at once: the operator reloaded the plugin.
    /// Returns whether it was quarantined.
    pub fn lift(&mut self) -> bool {
        let was = self.is_quarantined();
        *self = CrashGuard::new(self.quarantine_base);
        was
    }

    /// The quarantine in force, if any.
    pub fn quarantine(&self) -> Option<&Quarantine> {
        self.quarantine.as_ref().filter(|q| q.until > Instant::now())
    }

    /// Whether the plugin is quarantined.
    pub fn is_quarantined(&self) -> bool {
        self.quarantine().is_some()
    }

    /// The last fault, if any.
    pub fn last_fault(&self) -> Option<&str> {
        self.last_fault.as_deref()
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
            assert!(g.fault("trap").is_none());
            let Admit::After(at) = g.admit() else {
                panic!("backoff expected")
            };
            delays.push(at - Instant::now());
            tokio::time::advance(at - Instant::now()).await;
            assert_eq!(g.admit(), Admit::Now);
        }
        assert_eq!(delays, [1, 2, 4, 8].map(Duration::from_secs));
        assert!(
            g.fault("trap").is_some(),
            "the fifth fault within ten minutes quarantines"
        );
        assert_eq!(g.admit(), Admit::Quarantined);
        assert!(Instant::now() - start < WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn faults_spread_over_more_than_ten_minutes_do_not_quarantine_and_delays_cap_at_300s() {
        let mut g = CrashGuard::default();
        for _ in 0..20 {
            assert!(g.fault("trap").is_none());
            tokio::time::advance(Duration::from_secs(301)).await;
        }
        // 20 faults, but never 5 within 600 s (one every 301 s: at most 2 in a window).
        assert!(!g.is_quarantined());
        g.fault("trap");
        let Admit::After(at) = g.admit() else { panic!() };
        assert_eq!(at - Instant::now(), BACKOFF_CAP);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_delay() {
        let mut g = CrashGuard::default();
        g.fault("trap");
        tokio::time::advance(Duration::from_secs(1)).await;
        g.fault("trap");
        tokio::time::advance(Duration::from_secs(2)).await;
        g.success();
        g.fault("trap");
        let Admit::After(at) = g.admit() else { panic!() };
        assert_eq!(at - Instant::now(), BACKOFF_BASE);
    }

    #[tokio::test(start_paused = true)]
    async fn quarantine_expires_and_doubles_on_each_further_quarantine_up_to_the_cap() {
        let mut g = CrashGuard::new(Duration::from_secs(2));
        let mut lengths = Vec::new();
        for round in 0..10 {
            for _ in 1..QUARANTINE_AFTER {
                assert!(g.fault("trap").is_none());
            }
            let length = g
                .fault(&format!("trapped {round}"))
                .expect("the fifth fault quarantines");
            lengths.push(length.as_secs());
            assert_eq!(g.admit(), Admit::Quarantined);
            assert_eq!(
                g.quarantine().map(|q| q.reason.as_str()),
                Some(format!("trapped {round}").as_str())
            );
            tokio::time::advance(length - Duration::from_millis(1)).await;
            assert_eq!(g.admit(), Admit::Quarantined, "still quarantined just before the end");
            tokio::time::advance(Duration::from_millis(1)).await;
            assert_eq!(g.admit(), Admit::Retry, "tried again once the quarantine is over");
            assert_eq!(g.admit(), Admit::Now);
            assert!(!g.is_quarantined());
        }
        assert_eq!(lengths, [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
        let mut g = CrashGuard::new(Duration::from_secs(5 * 3600));
        for _ in 0..2 {
            for _ in 0..QUARANTINE_AFTER {
                g.fault("trap");
            }
            let until = g.quarantine().map(|q| q.until).expect("quarantined");
            tokio::time::advance(until - Instant::now()).await;
            assert_eq!(g.admit(), Admit::Retry);
        }
        for _ in 0..QUARANTINE_AFTER {
            g.fault("trap");
        }
        let until = g.quarantine().map(|q| q.until).expect("quarantined");
        assert_eq!(until - Instant::now(), QUARANTINE_CAP);
    }

    #[tokio::test(start_paused = true)]
    async fn lifting_ends_a_quarantine_at_once() {
        let mut g = CrashGuard::new(Duration::from_secs(600));
        for _ in 0..QUARANTINE_AFTER {
            g.fault("trap");
        }
        assert!(g.lift());
        assert_eq!(g.admit(), Admit::Now);
        assert!(!g.lift(), "nothing left to lift");
    }
}
