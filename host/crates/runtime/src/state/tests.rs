//! Tests for per-instance store data: log sanitizing, the log budget, line splitting and the memory limiter.

use super::*;

#[test]
fn sanitize_strips_escapes_and_cuts_long_lines() {
    assert_eq!(sanitize("a\x1b[31mred\x07\r"), "a[31mred");
    let long = "é".repeat(MAX_LOG_LINE);
    let cut = sanitize(&long);
    // Cut, and saying so: how long the line was.
    let note = format!("… ({} bytes in all; cut at {MAX_LOG_LINE})", long.len());
    assert!(cut.ends_with(&note), "{cut}");
    assert!(cut.len() <= MAX_LOG_LINE + note.len());
    assert!(cut.starts_with("éé"));
    assert_eq!(
        sanitize(&"x".repeat(MAX_LOG_LINE)),
        "x".repeat(MAX_LOG_LINE),
        "a line at the limit is whole"
    );
}

fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut splitter = LineSplitter::default();
    let mut lines = Vec::new();
    for chunk in chunks {
        splitter.push(chunk, |line| lines.push(line.to_vec()));
        assert!(splitter.pending.len() <= MAX_LOG_LINE + 1);
    }
    lines
}

#[test]
fn lines_are_split_across_writes_and_a_long_line_is_cut_once() {
    assert_eq!(split(&[b"a\nb", b"c\n\nd"]), [&b"a"[..], b"bc", b""]);
    let long = vec![b'x'; 1 << 20];
    let lines = split(&[&long, &long, b"tail\nnext\n"]);
    assert_eq!(lines.len(), 2, "one cut line for the 2 MiB line, then the next");
    assert_eq!(lines[0].len(), MAX_LOG_LINE + 1);
    assert_eq!(lines[1], b"next");
}

#[tokio::test(start_paused = true)]
async fn the_log_budget_drops_lines_over_it_and_counts_them() {
    let budget = LogBudget::new(
        Arc::from("p"),
        coral_model::rate::Rate {
            per_sec: 10.0,
            burst: 5,
        },
    );
    let admitted = (0..1000).filter(|_| budget.admit()).count();
    assert_eq!(admitted, 5, "the burst");
    assert_eq!(budget.unreported(), 995);
    // Over 2 s of flood, 10 a second more get through; the count is kept until reported.
    let mut admitted = 0;
    for _ in 0..200 {
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        admitted += (0..10).filter(|_| budget.admit()).count();
    }
    assert!((19..=20).contains(&admitted), "{admitted} (rounding of the refill)");
    assert_eq!(budget.unreported(), 995 + 2000 - admitted as u64);
    // After a quiet second the next line goes through and the count is reported (and reset).
    tokio::time::advance(FLOOD_OVER_AFTER).await;
    assert!(budget.admit());
    assert_eq!(budget.unreported(), 0);
    // During a long flood the count goes out every few seconds.
    for _ in 0..600 {
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        (0..10).for_each(|_| {
            budget.admit();
        });
    }
    assert!(
        budget.unreported() < 10 * 100 * 5,
        "reported within {DROP_REPORT_EVERY:?}"
    );
    // A plugin that goes quiet after a flood has its count reported without another line.
    tokio::time::sleep(FLOOD_OVER_AFTER * 3).await;
    assert_eq!(budget.unreported(), 0, "reported once the flood was over");
}

#[test]
fn memory_limiter_caps_the_total_of_all_memories() {
    let mut l = MemoryLimiter::new(100);
    assert!(l.memory_growing(0, 60, None).unwrap());
    assert!(
        l.memory_growing(0, 30, None).unwrap(),
        "a second memory counts toward the same cap"
    );
    assert!(!l.memory_growing(60, 80, None).unwrap());
    assert!(l.refused);
    assert_eq!(l.peak, 90);
}
