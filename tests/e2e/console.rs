//! The console platform with the example plugins: what a user typing into `coral` sees.

use crate::support::coral::Setup;

const CONSOLE: &str = "[console]\nenabled = true\n";

#[test]
fn ping_hello_answers_pong_hello() {
    let setup = Setup::new(&["ping"], CONSOLE);
    let mut coral = setup.start();
    coral.send("ping hello");
    coral.expect("[private 10000] pong hello");
    let (status, _, _) = coral.finish();
    assert!(
        status.success(),
        "coral should exit cleanly when its input ends: {status}"
    );
}

#[test]
fn group_and_user_context_switch() {
    let setup = Setup::new(&["ping"], CONSOLE);
    let mut coral = setup.start();
    coral.send(":group 1000001");
    coral.send("ping in group");
    coral.expect("[group 1000001] pong in group");
    coral.send(":user 42 alice");
    coral.send(":private");
    coral.send("ping just us");
    coral.expect("[private 42] pong just us");
    coral.send(":group 1000002");
    coral.send("@bot ping addressed");
    coral.expect("[group 1000002] pong addressed");
}

#[test]
fn piped_input_is_answered_in_order_and_then_coral_exits() {
    let setup = Setup::new(&["ping"], CONSOLE);
    let mut coral = setup.start();
    for i in 0..20 {
        coral.send(&format!("ping {i}"));
    }
    coral.send("not for ping");
    let (status, lines, _) = coral.finish();
    assert!(status.success());
    let expected: Vec<String> = (0..20).map(|i| format!("[private 10000] pong {i}")).collect();
    assert_eq!(lines, expected, "every ping answered once, in order, nothing else");
}

#[test]
fn moderation_recall_and_ban_are_unsupported_on_the_console_and_say_so() {
    let setup = Setup::new(
        &["ping", "moderation"],
        "[console]\n[plugins.moderation]\ngrants = [\"recall\", \"ban\"]\n\
         [plugins.moderation.config]\nwords = [\"forbidden\"]\nban_secs = 120\n",
    );
    let mut coral = setup.start();
    coral.send(":group 1000001");
    coral.send("spam is fine with this config");
    coral.send("this is FORBIDDEN talk");
    let line = coral.expect_line("moderation warning", |l| l.contains("blocked word"));
    assert!(line.starts_with("[group 1000001] @10000 "), "{line}");
    assert!(line.contains("strike 1, mute 2 min"), "config reached init: {line}");
    assert!(
        line.contains("could not recall") && line.contains("not supported on the console"),
        "{line}"
    );
    assert!(line.contains("could not mute"), "{line}");
    // The plugin keeps its state across events: the second offence doubles the mute.
    coral.send("forbidden again");
    let line = coral.expect_line("second warning", |l| l.contains("blocked word"));
    assert!(line.contains("strike 2, mute 4 min"), "{line}");
    // Ping still works beside it, and nothing was printed for the allowed "spam" line.
    coral.send("ping ok");
    coral.expect("[group 1000001] pong ok");
    assert!(
        !coral.seen.iter().any(|l| l.contains("spam is fine")),
        "{:?}",
        coral.seen
    );
}

#[test]
fn a_stateless_plugin_can_run_several_instances_and_still_answers_every_event_once() {
    let setup = Setup::new(&["ping"], "[console]\n[plugins.ping]\ninstances = 4\n");
    let mut coral = setup.start();
    for i in 0..40 {
        coral.send(&format!("ping {i}"));
    }
    let (status, mut lines, _) = coral.finish();
    assert!(status.success());
    lines.sort();
    let mut expected: Vec<String> = (0..40).map(|i| format!("[private 10000] pong {i}")).collect();
    expected.sort();
    assert_eq!(lines, expected, "every ping answered exactly once (in any order)");
}
