//! Rate limits: a token bucket per (plugin, capability) on `tokio::time::Instant`, so tests run on a paused clock.
//!
//! A bucket holds at most `burst` tokens and gains `per_sec` tokens a second; an action takes one token or is
//! refused at once with the time until the next token. Over any window of length T the bucket admits at most
//! `burst + per_sec·T` actions — exactly, since tokens never exceed `burst` and are only added by elapsed time.

use std::time::Duration;
use tokio::time::Instant;

/// A parsed rate such as `3/min` or `10/s burst 20`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained actions per second.
    pub per_sec: f64,
    /// Actions allowed at once (bucket size); defaults to the count in the rate.
    pub burst: u32,
}

impl Rate {
    /// Parse `N/s`, `N/sec`, `N/min`, `N/h`, `N/hour`, `N/day`, optionally followed by `burst B`.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad = || format!("{text:?} is not a rate like \"3/min\" or \"10/s burst 20\"");
        let mut words = text.split_whitespace();
        let (count, unit) = words.next().and_then(|r| r.split_once('/')).ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            "d" | "day" => 86400.0,
            _ => return Err(bad()),
        };
        let burst = match (words.next(), words.next(), words.next()) {
            (None, _, _) => count,
            (Some("burst"), Some(b), None) => b.parse().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        if count == 0 || burst == 0 {
            return Err(format!("{text:?}: a rate must allow at least one action"));
        }
        Ok(Rate {
            per_sec: f64::from(count) / secs,
            burst,
        })
    }
}

/// One token bucket.
#[derive(Debug)]
pub struct Bucket {
    rate: Rate,
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new(rate: Rate) -> Self {
        Bucket {
            rate,
            tokens: f64::from(rate.burst),
            updated: Instant::now(),
        }
    }

    /// Take a token now, or say how long until one is available.
    pub fn try_take(&mut self) -> Result<(), Duration> {
        self.check()?;
        self.take();
        Ok(())
    }

    /// Whether a token is available now (without taking it), or how long until one is.
    pub fn check(&mut self) -> Result<(), Duration> {
        self.check_n(1)
    }

    /// Whether `n` tokens are available now (without taking them), or how long until they are. More than the burst
    /// are never available.
    pub fn check_n(&mut self, n: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate.per_sec).min(f64::from(self.rate.burst));
        self.updated = now;
        let n = f64::from(n);
        if self.tokens >= n {
            Ok(())
        } else {
            let wait = (n - self.tokens) / self.rate.per_sec;
            Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
        }
    }

    /// The most tokens the bucket ever holds.
    pub fn burst(&self) -> u32 {
        self.rate.burst
    }

    /// Take a token that [`Self::check`] just found available.
    pub fn take(&mut self) {
        self.take_n(1);
    }

    /// Take `n` tokens that [`Self::check_n`] just found available.
    pub fn take_n(&mut self, n: u32) {
        self.tokens = (self.tokens - f64::from(n)).max(0.0);
    }

    /// Take as many of `n` tokens as are available now (one clock read for a whole batch); how many were taken.
    pub fn take_up_to(&mut self, n: u32) -> u32 {
        let _ = self.check_n(0);
        let taken = (self.tokens.floor() as u32).min(n);
        self.take_n(taken);
        taken
    }

    /// Return `n` tokens taken by [`Self::take_up_to`] and not used.
    pub fn give_back(&mut self, n: u32) {
        self.tokens = (self.tokens + f64::from(n)).min(f64::from(self.rate.burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_what_is_there_and_gives_back_the_rest() {
        let mut bucket = Bucket::new(Rate::parse("1/min burst 10").unwrap());
        assert_eq!(bucket.take_up_to(4), 4);
        assert_eq!(bucket.take_up_to(100), 6, "only the burst is ever there");
        assert_eq!(bucket.take_up_to(1), 0);
        bucket.give_back(3);
        assert_eq!(bucket.take_up_to(5), 3);
        bucket.give_back(1000);
        assert_eq!(bucket.take_up_to(1000), 10, "giving back never fills past the burst");
    }

    #[test]
    fn rates_parse() {
        assert_eq!(
            Rate::parse("3/min").unwrap(),
            Rate {
                per_sec: 0.05,
                burst: 3
            }
        );
        assert_eq!(
            Rate::parse("10/s burst 20").unwrap(),
            Rate {
                per_sec: 10.0,
                burst: 20
            }
        );
        assert_eq!(Rate::parse("1/hour").unwrap().burst, 1);
        for bad in [
            "3",
            "3/fortnight",
            "x/min",
            "0/min",
            "3/min burst",
            "3/min burst 0",
            "3/min bust 2",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    /// Over any window T: admitted ≤ burst + rate·T, for a hammering caller, on a paused clock.
    #[tokio::test(start_paused = true)]
    async fn never_admits_more_than_burst_plus_rate_times_t() {
        let rate = Rate::parse("3/min").unwrap();
        let mut bucket = Bucket::new(rate);
        let start = Instant::now();
        let mut admitted = Vec::new();
        // Try every 100 ms for 10 minutes.
        for _ in 0..6000 {
            if bucket.try_take().is_ok() {
                admitted.push(start.elapsed());
            }
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // 3 at once, then one every 20 s: 3 + 600/20 = 33 (the last refill lands exactly at 600 s, after the loop).
        assert_eq!(admitted.len(), 32, "{admitted:?}");
        // The bound holds for every window between two admissions.
        for i in 0..admitted.len() {
            for j in i..admitted.len() {
                let window = (admitted[j] - admitted[i]).as_secs_f64();
                let count = (j - i + 1) as f64;
                assert!(count <= 3.0 + rate.per_sec * window + 1e-9, "{count} in {window} s");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_take_says_when_to_retry() {
        let mut bucket = Bucket::new(Rate::parse("1/min").unwrap());
        assert!(bucket.try_take().is_ok());
        let wait = bucket.try_take().unwrap_err();
        assert!((59_000..=60_000).contains(&wait.as_millis()), "{wait:?}");
        tokio::time::advance(wait).await;
        assert!(bucket.try_take().is_ok());
    }
}
