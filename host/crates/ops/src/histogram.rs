//! A lock-free fixed-bucket latency histogram: one atomic counter per bucket plus a sum, so recording a duration
//! on the event path is a few relaxed atomic adds. Quantiles (p50, p99) are reported as the upper bound of the
//! bucket they fall in.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in microseconds (a last, implicit bucket is `+Inf`).
pub const BOUNDS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// Counts of durations per bucket.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    sum_ns: AtomicU64,
    count: AtomicU64,
}

/// A point-in-time copy of a [`Histogram`].
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, cumulative count)` for each finite bucket; `+Inf` is `count`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all recorded durations, seconds.
    pub sum_seconds: f64,
    /// Number of recorded durations.
    pub count: u64,
    /// Median, as the upper bound of its bucket (seconds); `None` when empty or beyond the last bound.
    pub p50_seconds: Option<f64>,
    /// 99th percentile, likewise.
    pub p99_seconds: Option<f64>,
}

impl Histogram {
    /// Record one duration.
    pub fn record(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = BOUNDS_US.partition_point(|&b| b < us);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns
            .fetch_add(d.as_nanos().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Copy the counts (each bucket read once; concurrent records may land between reads, never lost).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count: u64 = counts.iter().sum();
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(BOUNDS_US.len());
        for (bound, n) in BOUNDS_US.iter().zip(&counts) {
            cumulative += n;
            buckets.push((*bound as f64 / 1e6, cumulative));
        }
        let quantile = |q: f64| -> Option<f64> {
            if count == 0 {
                return None;
            }
            let rank = ((q * count as f64).ceil() as u64).max(1);
            buckets.iter().find(|(_, c)| *c >= rank).map(|(b, _)| *b)
        };
        HistogramSnapshot {
            p50_seconds: quantile(0.5),
            p99_seconds: quantile(0.99),
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            count,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_bucket_of_their_upper_bound() {
        let h = Histogram::default();
        h.record(Duration::from_micros(50)); // ≤ 50 µs: first bucket (bounds are inclusive)
        h.record(Duration::from_micros(51)); // second
        h.record(Duration::from_millis(3)); // ≤ 5 ms
        h.record(Duration::from_secs(60)); // +Inf
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (0.00005, 1));
        assert_eq!(s.buckets[1], (0.0001, 2));
        assert_eq!(s.buckets[6], (0.005, 3));
        assert_eq!(s.buckets.last().unwrap(), &(10.0, 3), "60 s is only in +Inf");
        assert!((s.sum_seconds - 60.003101).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn quantiles_are_bucket_bounds() {
        let h = Histogram::default();
        assert_eq!(h.snapshot().p50_seconds, None, "empty");
        for _ in 0..98 {
            h.record(Duration::from_micros(80)); // ≤ 100 µs
        }
        h.record(Duration::from_millis(20)); // ≤ 25 ms
        h.record(Duration::from_millis(200)); // ≤ 250 ms
        let s = h.snapshot();
        assert_eq!(s.p50_seconds, Some(0.0001));
        // rank 99 of 100 is the 20 ms one.
        assert_eq!(s.p99_seconds, Some(0.025));
        h.record(Duration::from_secs(100));
        for _ in 0..200 {
            h.record(Duration::from_secs(100));
        }
        assert_eq!(
            h.snapshot().p99_seconds,
            None,
            "beyond the last bound: unknown, not a made-up figure"
        );
    }

    #[test]
    fn concurrent_records_are_all_counted() {
        let h = std::sync::Arc::new(Histogram::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.record(Duration::from_micros((i * 7 + t) % 3_000_000));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = h.snapshot();
        assert_eq!(s.count, 40_000);
        assert!(
            s.buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "cumulative counts never decrease"
        );
    }
}
