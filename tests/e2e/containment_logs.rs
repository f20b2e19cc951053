//! Cheap-to-repeat abuse is contained: a plugin flooding its log is held to its line budget (with one summary of
//! what was dropped), and a plugin re-adding zero-delay timers is held to its timer rate.

use crate::support::coral::{Coral, Setup};
use std::time::Instant;

/// Wait for all of these stdout lines, in any order.
fn expect_all(coral: &mut Coral, lines: &[&str]) {
    let mut left: Vec<&str> = lines.to_vec();
    while !left.is_empty() {
        let line = coral.expect_line(&format!("one of {left:?}"), |l| left.contains(&l));
        left.retain(|l| *l != line);
    }
}

#[test]
fn a_plugin_flooding_its_log_is_held_to_its_line_budget() {
    const LINES: u64 = 1_000_000;
    let setup = Setup::new(
        &["ping", "chatty"],
        "[console]\n[plugins.chatty]\ncpu_budget_ms = 120000\ncall_timeout_ms = 120000\n",
    );
    let mut coral = setup.start();
    coral.send(&format!("chatty flood {LINES}"));
    coral.send("ping a");
    expect_all(
        &mut coral,
        &[
            "[private 10000] pong a",
            &format!("[private 10000] chatty: flooded {LINES}"),
        ],
    );
    coral.send("ping b");
    coral.expect("[private 10000] pong b");
    let flood_lines = |log: &str| log.lines().filter(|l| l.contains("chatty flood line")).count() as u64;
    let so_far = flood_lines(&coral.stderr());
    assert!(so_far <= 5000, "{so_far} plugin lines reached the log");
    // The plugin has gone quiet: its count is reported without waiting for another line or the exit.
    coral.expect_log("plugin log: dropped");
    let (status, _, log) = coral.finish();
    assert!(status.success());
    let plugin_lines = flood_lines(&log);
    let summaries: Vec<&str> = log.lines().filter(|l| l.contains("plugin log: dropped")).collect();
    eprintln!(
        "coral stderr: {} lines, {} bytes; {plugin_lines} of the plugin's {LINES} lines; summaries: {summaries:#?}",
        log.lines().count(),
        log.len()
    );
    // Burst 1000 plus 100 a second: a generous bound, not a timing.
    assert!(
        (1000..=5000).contains(&plugin_lines),
        "{plugin_lines} plugin lines reached the log"
    );
    assert!(!summaries.is_empty(), "no summary of the dropped lines");
    assert!(
        summaries
            .iter()
            .all(|l| l.contains("plugin=\"chatty\"") || l.contains("plugin=chatty")),
        "{summaries:?}"
    );
    // Every line is accounted for: written, or counted in a summary.
    let dropped: u64 = summaries
        .iter()
        .map(|l| {
            let rest = &l[l.find("dropped ").unwrap() + "dropped ".len()..];
            rest.split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(plugin_lines + dropped, LINES, "{summaries:?}");
}

#[test]
fn self_renewing_zero_delay_timers_are_held_to_the_timer_rate() {
    let setup = Setup::new(&["chatty"], "[console]\n[plugins.chatty]\ngrants = [\"schedule\"]\n");
    let mut coral = setup.start();
    let start = Instant::now();
    coral.send("chatty renew 32");
    coral.expect("[private 10000] chatty: renewing 32");
    // Wait until the timers have clearly gone on past the burst (they are delayed, not lost).
    let count = loop {
        coral.send("chatty count");
        let line = coral.expect_line("a count", |l| l.starts_with("[private 10000] chatty: count "));
        let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if count >= 30 {
            break count;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let elapsed = start.elapsed().as_secs_f64();
    // The default rate is 10 a second, burst 10; an upper bound, so a slow machine only makes it looser.
    let bound = 10.0 + 10.0 * elapsed;
    eprintln!("{count} timer events in {elapsed:.1} s (bound {bound:.0})");
    assert!((count as f64) <= bound, "{count} timer events in {elapsed:.1} s");
    let (status, _, _) = coral.finish();
    assert!(status.success());
}

#[test]
fn a_full_queue_is_reported_once_per_interval_with_the_count() {
    use crate::onebot::{forward_setup_with, private_message};
    use crate::support::onebot_peer::{Peer, message_text};
    const EVENTS: i64 = 60;
    let mut peer = Peer::new();
    // `spin` loops until its CPU budget on every message, with room for one queued event: the rest are shed.
    let (_setup, coral) = forward_setup_with(
        &peer,
        &["ping", "spin"],
        "",
        "[plugins.spin]\ncpu_budget_ms = 3000\ncall_timeout_ms = 600000\nqueue_len = 1\n",
    );
    peer.expect_handshake();
    peer.expect_action("get_login_info", |r| r.action == "get_login_info");
    let start = Instant::now();
    for i in 0..EVENTS {
        peer.send_event(&private_message(&format!("ping {i}"), 100 + i));
    }
    let last = format!("pong {}", EVENTS - 1);
    peer.expect_action(&last, |r| {
        r.action.starts_with("send_") && message_text(&r.params["message"]) == last
    });
    // Every event has been offered to spin by now (ping answered the last one).
    coral.expect_log("event queue full");
    let elapsed = start.elapsed().as_secs_f64();
    let log = coral.stderr();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains("event queue full")).collect();
    let shed: u64 = warnings
        .iter()
        .map(|l| {
            let rest = &l[l.find("event queue full; ").unwrap() + "event queue full; ".len()..];
            rest.split(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    eprintln!(
        "{} warnings for {shed} events shed in {elapsed:.1} s: {warnings:#?}",
        warnings.len()
    );
    assert!(warnings.iter().all(|l| l.contains("plugin=spin")), "{warnings:?}");
    // One line per 5 s at most (the first at once); without coalescing there would be one per shed event.
    let bound = 1 + (elapsed / 5.0).floor() as usize;
    assert!(warnings.len() <= bound, "{} warnings in {elapsed:.1} s", warnings.len());
    assert!((1..EVENTS as u64).contains(&shed), "{shed} reported shed");
}
