//! Tests for scheduled jobs, run on a paused clock: firing, redelivery, throttling, restarts and limits.

use super::*;
use cap_std::fs as cap_fs;
use std::path::Path;
use tokio::sync::mpsc;

const T0: u64 = 1_718_006_400_000; // 2024-06-10 08:00:00 UTC

struct Harness {
    jobs: Jobs,
    fired: mpsc::UnboundedReceiver<Fired>,
    task: tokio::task::JoinHandle<()>,
}

fn start(dir: &Path, base_ms: u64, accept: impl Fn(&Fired) -> bool + Send + Sync + 'static) -> Harness {
    start_with(dir, base_ms, move |f| {
        if accept(f) {
            Delivery::Delivered
        } else {
            Delivery::Refused
        }
    })
}

fn start_with(dir: &Path, base_ms: u64, decide: impl Fn(&Fired) -> Delivery + Send + Sync + 'static) -> Harness {
    let jobs = Jobs::open(
        &cap_fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority()).unwrap(),
        Clock::tokio_at(base_ms),
    )
    .unwrap();
    let (tx, fired) = mpsc::unbounded_channel();
    let deliver: Deliver = Arc::new(move |f: Fired| {
        let decision = decide(&f);
        if decision == Delivery::Delivered {
            tx.send(f).unwrap();
        }
        decision
    });
    let task = tokio::spawn(jobs.clone().run(deliver));
    Harness { jobs, fired, task }
}

#[tokio::test(start_paused = true)]
async fn one_shot_and_every_fire_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path(), T0, |_| true);
    h.jobs.add("p", "tea", When::AfterSecs(600), "kettle").await.unwrap();
    h.jobs.add("p", "tick", When::EverySecs(3600), "t").await.unwrap();
    let f = h.fired.recv().await.unwrap();
    assert_eq!(
        (f.name.as_str(), f.payload.as_str(), f.due_ms),
        ("tea", "kettle", T0 + 600_000)
    );
    assert_eq!(h.jobs.clock().now_ms(), T0 + 600_000, "fired exactly when due");
    for k in 1..=3 {
        let f = h.fired.recv().await.unwrap();
        assert_eq!((f.name.as_str(), f.due_ms), ("tick", T0 + k * 3_600_000));
        assert_eq!(h.jobs.clock().now_ms(), T0 + k * 3_600_000);
    }
    let left = h.jobs.list("p").await.unwrap();
    assert_eq!(left.len(), 1, "the one-shot is gone: {left:?}");
    assert_eq!(left[0].next_due_ms, T0 + 4 * 3_600_000);
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn cron_jobs_fire_on_their_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path(), T0, |_| true);
    // 2024-06-10 is a Monday; 08:00 now.
    h.jobs
        .add("p", "standup", When::Cron("30 9 * * mon-fri".into()), "")
        .await
        .unwrap();
    let f = h.fired.recv().await.unwrap();
    assert_eq!(f.due_ms, T0 + 90 * 60_000);
    let f = h.fired.recv().await.unwrap();
    assert_eq!(f.due_ms, T0 + 24 * 3_600_000 + 90 * 60_000, "the next weekday");
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn limits_and_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path(), T0, |_| true);
    let j = &h.jobs;
    assert!(matches!(
        j.add("p", "x", When::EverySecs(59), "").await,
        Err(JobError::Invalid(_))
    ));
    assert!(matches!(
        j.add("p", "", When::AfterSecs(1), "").await,
        Err(JobError::Invalid(_))
    ));
    let long = "n".repeat(MAX_NAME_BYTES + 1);
    assert!(matches!(
        j.add("p", &long, When::AfterSecs(1), "").await,
        Err(JobError::Invalid(_))
    ));
    let big = "x".repeat(MAX_PAYLOAD_BYTES + 1);
    assert!(matches!(
        j.add("p", "x", When::AfterSecs(1), &big).await,
        Err(JobError::Invalid(_))
    ));
    assert!(matches!(
        j.add("p", "x", When::Cron("0 0 30 2 *".into()), "").await,
        Err(JobError::Invalid(_))
    ));
    assert!(matches!(
        j.add("p", "x", When::Cron("61 * * * *".into()), "").await,
        Err(JobError::Invalid(_))
    ));
    for i in 0..MAX_JOBS {
        j.add("p", &format!("job{i}"), When::AfterSecs(10_000 + i), "")
            .await
            .unwrap();
    }
    let err = j.add("p", "one-more", When::AfterSecs(1), "").await.unwrap_err();
    assert!(matches!(err, JobError::Limit(_)), "{err}");
    // Re-adding an existing name replaces it (and needs no new slot); another plugin has its own limit.
    j.add("p", "job0", When::AfterSecs(5), "new").await.unwrap();
    j.add("q", "job0", When::AfterSecs(7), "q's").await.unwrap();
    assert_eq!(j.list("p").await.unwrap().len(), MAX_JOBS as usize);
    let f = h.fired.recv().await.unwrap();
    assert_eq!(
        (f.plugin.as_str(), f.name.as_str(), f.payload.as_str()),
        ("p", "job0", "new")
    );
    assert_eq!(f.due_ms, T0 + 5_000);
    let f = h.fired.recv().await.unwrap();
    assert_eq!((f.plugin.as_str(), f.payload.as_str()), ("q", "q's"));
    assert!(j.cancel("p", "job1").await.unwrap());
    assert!(!j.cancel("p", "job1").await.unwrap());
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_restart_fires_missed_runs_once_and_keeps_the_phase() {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = start(dir.path(), T0, |_| true);
        h.jobs.add("p", "hourly", When::EverySecs(3600), "h").await.unwrap();
        h.jobs.add("p", "once", When::AfterSecs(600), "o").await.unwrap();
        h.task.abort();
    }
    // The host comes back 3.5 hours later.
    let mut h = start(dir.path(), T0 + 12_600_000, |_| true);
    let mut fired = [h.fired.recv().await.unwrap(), h.fired.recv().await.unwrap()];
    fired.sort_by_key(|f| f.due_ms);
    assert_eq!((fired[0].name.as_str(), fired[0].due_ms), ("once", T0 + 600_000));
    assert_eq!((fired[1].name.as_str(), fired[1].due_ms), ("hourly", T0 + 3_600_000));
    assert_eq!(h.jobs.clock().now_ms(), T0 + 12_600_000, "missed jobs fire at start-up");
    let next = h.fired.recv().await.unwrap();
    assert_eq!(
        next.due_ms,
        T0 + 4 * 3_600_000,
        "one run for all missed, then on the old phase"
    );
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_refused_delivery_is_offered_again() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = loaded.clone();
    let mut h = start(dir.path(), T0, move |_| flag.load(std::sync::atomic::Ordering::SeqCst));
    h.jobs.add("p", "later", When::AfterSecs(60), "x").await.unwrap();
    tokio::time::sleep(Duration::from_secs(70)).await;
    assert!(h.fired.try_recv().is_err());
    assert_eq!(
        h.jobs.list("p").await.unwrap().len(),
        1,
        "kept while the plugin is away"
    );
    loaded.store(true, std::sync::atomic::Ordering::SeqCst);
    let f = h.fired.recv().await.unwrap();
    assert_eq!(f.due_ms, T0 + 60_000, "the original due time is reported");
    assert!(h.jobs.clock().now_ms() <= T0 + 70_000 + REDELIVER_AFTER_MS);
    assert!(h.jobs.list("p").await.unwrap().is_empty());
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_zero_delay_one_shot_waits_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = start(dir.path(), T0, |_| true);
    h.jobs.add("p", "now", When::AfterSecs(0), "").await.unwrap();
    let listed = h.jobs.list("p").await.unwrap();
    assert_eq!(
        listed[0].when,
        When::AfterSecs(MIN_DELAY_SECS),
        "raised, and listed as raised"
    );
    let f = h.fired.recv().await.unwrap();
    assert_eq!(f.due_ms, T0 + MIN_DELAY_SECS * 1000);
    assert_eq!(h.jobs.clock().now_ms(), T0 + MIN_DELAY_SECS * 1000);
    h.task.abort();
}

#[tokio::test(start_paused = true)]
async fn a_throttled_firing_is_offered_again_when_the_delivery_says_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    // Each job is held back 2.5 s the first time it is offered, then taken.
    let offered = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let seen = offered.clone();
    let mut h = start_with(dir.path(), T0, move |f| {
        if seen.lock().insert(f.name.clone()) {
            Delivery::Throttled(Duration::from_millis(2500))
        } else {
            Delivery::Delivered
        }
    });
    for i in 0..3 {
        h.jobs.add("p", &format!("j{i}"), When::AfterSecs(1), "").await.unwrap();
    }
    for _ in 0..3 {
        let f = h.fired.recv().await.unwrap();
        assert_eq!(f.due_ms, T0 + 1000, "the original due time is reported");
        assert_eq!(
            h.jobs.clock().now_ms(),
            T0 + 3500,
            "offered again exactly when the delivery said"
        );
    }
    assert!(h.jobs.list("p").await.unwrap().is_empty(), "none lost");
    assert_eq!(offered.lock().len(), 3);
    h.task.abort();
}
