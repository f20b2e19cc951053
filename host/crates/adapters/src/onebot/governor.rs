//! The per-bot send governor: outgoing messages from all plugins queue (FIFO, bounded) for tokens of one bucket,
//! so the account stays under the platform's risk-control limits (`[[onebot]] max_send_rate`, `send_queue`).
//! Unlike plugin rate limits, which refuse at once, the governor waits; only a full queue refuses (busy).

use coral_model::ApiError;
use coral_model::rate::{Bucket, Rate};
use tokio::sync::{Mutex, Semaphore};

/// Default bound of messages waiting for the governor.
pub const DEFAULT_SEND_QUEUE: usize = 100;

/// Paces one bot's outgoing messages.
pub struct Governor {
    bucket: Mutex<Bucket>,
    queue: Semaphore,
    rate_text: String,
}

impl Governor {
    /// A governor admitting `rate`, with at most `queue` messages waiting.
    pub fn new(rate_text: &str, rate: Rate, queue: usize) -> Governor {
        Governor {
            bucket: Mutex::new(Bucket::new(rate)),
            queue: Semaphore::new(queue),
            rate_text: rate_text.into(),
        }
    }

    /// Admit this message now if it need not wait: no message is waiting and a token is there. `false` takes
    /// nothing: the message then waits its turn in [`Self::admit`].
    pub fn try_admit(&self) -> bool {
        let Ok(_slot) = self.queue.try_acquire() else {
            return false;
        };
        // Held while a message waits for its token, and handed to waiting messages in order: free means none waits.
        let Ok(mut bucket) = self.bucket.try_lock() else {
            return false;
        };
        bucket.try_take().is_ok()
    }

    /// Wait for this message's turn; `busy` at once when the queue is full.
    pub async fn admit(&self, action: &str) -> Result<(), ApiError> {
        let Ok(_slot) = self.queue.try_acquire() else {
            return Err(ApiError::Busy(format!(
                "`{action}` refused: the bot's send queue is full (governor {})",
                self.rate_text
            )));
        };
        // The lock is fair (FIFO) and held while waiting, so messages leave in the order they arrived.
        let mut bucket = self.bucket.lock().await;
        loop {
            match bucket.try_take() {
                Ok(()) => return Ok(()),
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn messages_are_paced_in_order_and_a_full_queue_is_busy() {
        let g = Arc::new(Governor::new("5/s burst 1", Rate::parse("5/s burst 1").unwrap(), 3));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..5 {
            let g = g.clone();
            tasks.push(tokio::spawn(async move {
                (i, g.admit("send_msg").await.map(|()| start.elapsed()))
            }));
            tokio::task::yield_now().await;
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let admitted: Vec<Duration> = results.iter().filter_map(|(_, r)| r.as_ref().ok().copied()).collect();
        // The first goes at once (and leaves the queue); three wait their turn 200 ms apart; the fifth finds the
        // queue of three full.
        assert_eq!(admitted, [0, 200, 400, 600].map(Duration::from_millis), "{results:?}");
        assert!(matches!(results[4].1, Err(ApiError::Busy(_))), "{results:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_is_admitted_at_once_only_when_none_waits_and_a_token_is_there() {
        let g = Arc::new(Governor::new("5/s burst 2", Rate::parse("5/s burst 2").unwrap(), 3));
        assert!(g.try_admit());
        assert!(g.try_admit());
        // The burst is spent: not now, and nothing was taken by asking.
        assert!(!g.try_admit());
        let waiting = tokio::spawn({
            let g = g.clone();
            async move { g.admit("send_msg").await }
        });
        tokio::task::yield_now().await;
        // A token comes back after 200 ms, but a message is waiting for it: it does not jump the queue.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!g.try_admit());
        waiting.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(g.try_admit(), "nobody waits and a token is there");
    }
}
