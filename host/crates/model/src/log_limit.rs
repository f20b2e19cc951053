//! [`LogLimiter`]: at most one log line per period from one source; the lines held back are counted and the count
//! goes out with the next line allowed, so a flood of the same event cannot flood the log and nothing goes unseen.

use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// Lets one line through per `period` and counts the rest.
#[derive(Debug)]
pub struct LogLimiter {
    period: Duration,
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    /// When the last line was let through.
    last: Option<Instant>,
    /// Lines held back since then.
    suppressed: u64,
}

impl LogLimiter {
    /// At most one line per `period`.
    pub fn new(period: Duration) -> Self {
        LogLimiter {
            period,
            state: Mutex::default(),
        }
    }

    /// May a line be logged now? `Some(n)`: yes, and `n` lines were held back since the last one (say so in the
    /// line); `None`: no, it is counted instead.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    /// [`admit`](Self::admit) at a given instant (instants must not go backwards).
    pub fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock();
        match state.last {
            Some(last) if now.saturating_duration_since(last) < self.period => {
                state.suppressed += 1;
                None
            }
            _ => {
                state.last = Some(now);
                Some(std::mem::take(&mut state.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_and_the_held_back_count_goes_out_with_the_next() {
        let limiter = LogLimiter::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(limiter.admit_at(at(0)), Some(0));
        assert_eq!(limiter.admit_at(at(1)), None);
        assert_eq!(limiter.admit_at(at(500)), None);
        assert_eq!(limiter.admit_at(at(999)), None);
        assert_eq!(limiter.admit_at(at(1000)), Some(3));
        // The count starts again, and the period runs from the last line let through.
        assert_eq!(limiter.admit_at(at(1500)), None);
        assert_eq!(limiter.admit_at(at(2000)), Some(1));
        assert_eq!(limiter.admit_at(at(9000)), Some(0));
    }
}
