//! The wall clock of one plugin call, paused while the plugin waits on the platform: time spent in a bot API call
//! or an outgoing HTTP request is the platform's (or the network's), not the plugin's, so it does not count against
//! the plugin's wall-clock limit. A hard cap per event (`max_event_ms`) still bounds the whole call.
//!
//! The runtime runs each export call inside [`scope`]; host calls that wait wrap their wait in [`on_platform`]
//! (or hold a [`Waiting`] guard from [`current`]). Runs on `tokio::time::Instant`, so tests use a paused clock.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

tokio::task_local! {
    static CLOCK: Arc<PlatformWait>;
}

/// Time one call spent waiting on the platform.
#[derive(Debug, Default)]
pub struct PlatformWait {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Platform waits in progress (a plugin may have several at once: HTTP requests in flight).
    in_flight: u32,
    /// When the current run of waits began (`in_flight > 0`).
    since: Option<Instant>,
    /// Waiting time of runs already over.
    paused: Duration,
}

impl PlatformWait {
    /// Total waiting so far, including a wait still in progress (overlapping waits count once).
    pub fn paused(&self) -> Duration {
        let inner = self.inner.lock();
        inner.paused + inner.since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Whether a platform wait is in progress.
    pub fn waiting(&self) -> bool {
        self.inner.lock().in_flight > 0
    }

    /// Start a wait; it lasts until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Waiting {
        let mut inner = self.inner.lock();
        if inner.in_flight == 0 {
            inner.since = Some(Instant::now());
        }
        inner.in_flight += 1;
        Waiting { clock: self.clone() }
    }
}

/// A platform wait in progress; dropping it ends the wait.
#[derive(Debug)]
pub struct Waiting {
    clock: Arc<PlatformWait>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut inner = self.clock.inner.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        if inner.in_flight == 0
            && let Some(since) = inner.since.take()
        {
            inner.paused += since.elapsed();
        }
    }
}

/// Run `call` (a plugin export call) with `clock` as the clock its host calls pause.
pub async fn scope<F: Future>(clock: Arc<PlatformWait>, call: F) -> F::Output {
    CLOCK.scope(clock, call).await
}

/// A wait on the clock of the plugin call running in this task, if any (`None` outside a plugin call).
pub fn current() -> Option<Waiting> {
    CLOCK.try_with(|clock| clock.enter()).ok()
}

/// Await `wait` (a platform call) with the current plugin call's wall clock paused.
pub async fn on_platform<F: Future>(wait: F) -> F::Output {
    let _paused = current();
    wait.await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn overlapping_waits_count_once_and_only_while_they_last() {
        let clock = Arc::new(PlatformWait::default());
        tokio::time::advance(Duration::from_secs(1)).await;
        let a = clock.enter();
        tokio::time::advance(Duration::from_secs(2)).await;
        let b = clock.enter();
        tokio::time::advance(Duration::from_secs(3)).await;
        drop(a);
        assert!(clock.waiting());
        tokio::time::advance(Duration::from_secs(4)).await;
        drop(b);
        assert!(!clock.waiting());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(clock.paused(), Duration::from_secs(9));
    }

    #[tokio::test(start_paused = true)]
    async fn on_platform_pauses_the_scoped_clock_only() {
        let clock = Arc::new(PlatformWait::default());
        let seen = scope(clock.clone(), async {
            on_platform(tokio::time::sleep(Duration::from_secs(7))).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            current().is_some()
        })
        .await;
        assert!(seen);
        assert_eq!(clock.paused(), Duration::from_secs(7));
        assert!(current().is_none(), "outside a plugin call there is no clock");
    }
}
