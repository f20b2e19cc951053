//! Every OneBot transport that listens authenticates: the HTTP POST receiver requires the access token (and the
//! signature, when both are set), refusals are logged as rate-limited WARN lines naming transport, listen address,
//! peer and reason, and a listener open to other machines without a credential is refused at start-up unless the
//! entry says `insecure = true`.

use crate::onebot::private_message;
use crate::support::coral::{Coral, Setup, WAIT};
use crate::support::onebot_peer::{Peer, SELF_ID, message_text};
use std::time::{Duration, Instant};

/// What every refusal line says (followed by the reason).
const REFUSED: &str = "refused a request: ";

/// The stderr lines containing `needle`.
fn log_lines(coral: &Coral, needle: &str) -> Vec<String> {
    coral
        .stderr()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// How many refusals a refusal line says were suppressed before it (0 if it says nothing).
fn suppressed_in(line: &str) -> u64 {
    let Some(end) = line.find(" more refusals on this listener suppressed") else {
        return 0;
    };
    let start = line[..end].rfind('(').expect("a count in parentheses") + 1;
    line[start..end].parse().expect("a number of suppressed refusals")
}

/// `coral check --config coral.toml` in the setup's folder: (success, stdout + stderr).
fn check(setup: &Setup) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_coral"))
        .args(["check", "--config", "coral.toml"])
        .current_dir(setup.path())
        .env("CORAL_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Coral with `ping` and an `http` entry whose API is `peer`'s, receiving events on a loopback port; `extra` goes
/// into the entry. Returns the event URL too.
fn http_setup(peer: &Peer, extra: &str) -> (Setup, Coral, String) {
    let api = peer.serve_http_api();
    let setup = Setup::new(
        &["ping"],
        &format!(
            "[[onebot]]\ntransport = \"http\"\nurl = \"{api}\"\nlisten = \"127.0.0.1:0\"\nself_id = \"{SELF_ID}\"\n\
             {extra}"
        ),
    );
    let coral = setup.start();
    let url = coral.log_value("http events listening on ");
    (setup, coral, url)
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

#[test]
fn http_post_receiver_requires_the_access_token_and_refusals_never_reach_plugins() {
    let mut peer = Peer::new();
    let (_setup, coral, url) = http_setup(&peer, "access_token = \"tok-s3cret\"\n");
    let listen = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let refused_missing = private_message("ping refused-missing", 1);
    assert_eq!(peer.post_event(&url, &refused_missing, None), 401, "no token");
    let refused_wrong = private_message("ping refused-wrong", 2);
    assert_eq!(
        peer.post_event_with(&url, &refused_wrong, &bearer("not-the-token")).0,
        403,
        "wrong token"
    );
    let refused_query = private_message("ping refused-query", 3);
    let wrong_query = format!("{url}?access_token=not-the-token-either");
    assert_eq!(peer.post_event_with(&wrong_query, &refused_query, &[]).0, 403);

    let by_header = private_message("ping by-header", 4);
    assert_eq!(peer.post_event_with(&url, &by_header, &bearer("tok-s3cret")).0, 204);
    assert_eq!(peer.expect_reply("pong"), "pong by-header");
    let by_query = private_message("ping by-query", 5);
    let good_query = format!("{url}?access_token=tok-s3cret");
    assert_eq!(peer.post_event_with(&good_query, &by_query, &[]).0, 204);
    assert_eq!(peer.expect_reply("pong"), "pong by-query");

    // Events are handled in order, so a refused POST that had reached ping would have been answered by now.
    let answered: Vec<String> = peer
        .actions()
        .iter()
        .filter(|r| r.action.starts_with("send_"))
        .map(|r| message_text(&r.params["message"]))
        .collect();
    assert_eq!(answered, ["pong by-header", "pong by-query"]);

    // The first refusal is logged in full (the next ones, within the second, may be counted instead).
    let log = coral.expect_log(&format!("{REFUSED}missing access token"));
    let line = log
        .lines()
        .find(|l| l.contains(&format!("{REFUSED}missing access token")))
        .unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("transport=onebot[0] http"), "{line}");
    assert!(line.contains(&format!("listen={listen}")), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    // Neither the secret nor what was presented ever reaches the log.
    for secret in ["tok-s3cret", "not-the-token"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

#[test]
fn http_post_with_secret_and_access_token_needs_both() {
    let mut peer = Peer::new();
    let (_setup, _coral, url) = http_setup(&peer, "access_token = \"tok\"\nsecret = \"sig\"\n");
    let event = private_message("ping both", 1);
    let signed = (
        "X-Signature",
        coral_adapters::onebot::auth::sign("sig", event.to_string().as_bytes()),
    );
    let token = ("Authorization", "Bearer tok".to_string());
    assert_eq!(
        peer.post_event_with(&url, &event, std::slice::from_ref(&signed)).0,
        401,
        "signed, no token"
    );
    assert_eq!(
        peer.post_event_with(&url, &event, &[signed.clone(), ("Authorization", "Bearer nope".into())])
            .0,
        403,
        "signed, wrong token"
    );
    assert_eq!(
        peer.post_event_with(&url, &event, std::slice::from_ref(&token)).0,
        401,
        "token, no signature"
    );
    assert_eq!(
        peer.post_event_with(&url, &event, &[token.clone(), ("X-Signature", "sha1=00".into())])
            .0,
        403,
        "token, bad signature"
    );
    assert_eq!(peer.post_event_with(&url, &event, &[token, signed]).0, 204);
    assert_eq!(peer.expect_reply("pong"), "pong both");
    let sends = peer.actions().iter().filter(|r| r.action.starts_with("send_")).count();
    assert_eq!(sends, 1, "only the POST with both credentials reached ping");
}

#[test]
fn a_flood_of_refused_posts_logs_a_line_per_second_and_then_the_suppressed_count() {
    let peer = Peer::new();
    let setup = Setup::new(
        &[],
        "[[onebot]]\ntransport = \"http\"\nlisten = \"127.0.0.1:0\"\naccess_token = \"tok\"\n",
    );
    let coral = setup.start();
    let url = coral.log_value("http events listening on ");
    let event = private_message("ping flood", 1);
    const FLOOD: u64 = 50;
    let started = Instant::now();
    for _ in 0..FLOOD {
        assert_eq!(peer.post_event_with(&url, &event, &bearer("wrong")).0, 403);
    }
    let elapsed = started.elapsed();
    coral.expect_log(&format!("{REFUSED}wrong access token"));
    // One line per second at most, whatever the speed of this machine: far fewer than the refusals.
    let flood_lines = log_lines(&coral, &format!("{REFUSED}wrong access token")).len() as u64;
    assert!(
        flood_lines <= 1 + elapsed.as_secs(),
        "{flood_lines} lines for {FLOOD} refusals in {elapsed:?}:\n{}",
        coral.stderr()
    );

    // Refuse more (now for a missing token) until the limiter lets a line through: it reports what it held back.
    let mut more = 0u64;
    let deadline = Instant::now() + WAIT;
    while log_lines(&coral, &format!("{REFUSED}missing access token")).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no refusal logged after the flood:\n{}",
            coral.stderr()
        );
        assert_eq!(peer.post_event_with(&url, &event, &[]).0, 401);
        more += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let lines = log_lines(&coral, REFUSED);
    let first_missing = lines.iter().find(|l| l.contains("missing access token")).unwrap();
    assert!(suppressed_in(first_missing) >= 1, "{first_missing}");
    // Every refusal up to the last line is accounted for: logged, or counted in a later line.
    let accounted: u64 = lines.iter().map(|l| 1 + suppressed_in(l)).sum();
    assert!(
        (FLOOD + 1..=FLOOD + more).contains(&accounted),
        "{accounted} refusals accounted for, {} sent:\n{}",
        FLOOD + more,
        lines.join("\n")
    );
}

#[test]
fn reverse_ws_refusals_are_logged_with_transport_listen_address_peer_and_reason() {
    let peer = Peer::new();
    let setup = Setup::new(
        &[],
        "[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"127.0.0.1:0\"\naccess_token = \"ws-s3cret\"\n",
    );
    let coral = setup.start();
    let url = coral.log_value("ws-reverse listening on ");
    let listen = url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
    assert_eq!(
        peer.connect_reverse(&url, SELF_ID, Some("bad-guess"), "Universal"),
        Err(403)
    );
    let log = coral.expect_log(&format!("{REFUSED}wrong access token"));
    let line = log.lines().find(|l| l.contains(REFUSED)).unwrap();
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("transport=onebot[0] ws-reverse"), "{line}");
    assert!(line.contains(&format!("listen={listen}")), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert_eq!(
        peer.connect_reverse(&url, SELF_ID, Some("ws-s3cret"), "Universal"),
        Ok(())
    );
    coral.expect_log("onebot reverse client connected");
    let log = coral.stderr();
    for secret in ["ws-s3cret", "bad-guess"] {
        assert!(!log.contains(secret), "{secret:?} in the log:\n{log}");
    }
}

#[test]
fn an_open_listener_without_a_credential_is_refused_at_start_up_unless_insecure() {
    for entry in [
        "transport = \"ws-reverse\"\nlisten = \"0.0.0.0:0\"\n",
        "transport = \"http\"\nlisten = \"0.0.0.0:0\"\n",
    ] {
        let setup = Setup::new(&[], &format!("[[onebot]]\n{entry}"));
        let (status, _, stderr) = setup.start().finish();
        assert!(!status.success(), "{entry}: coral must not start:\n{stderr}");
        for needle in ["onebot[0]", "0.0.0.0:0", "access_token", "insecure = true"] {
            assert!(stderr.contains(needle), "{entry}: {needle:?} missing from:\n{stderr}");
        }
        let (ok, text) = check(&setup);
        assert!(!ok, "{entry}: coral check must fail:\n{text}");
        assert!(
            text.contains("onebot[0]") && text.contains("0.0.0.0:0") && text.contains("insecure = true"),
            "{entry}: {text}"
        );
    }
    // The operator accepts the risk: it starts, says so, and `coral check` agrees.
    let setup = Setup::new(
        &[],
        "[[onebot]]\ntransport = \"ws-reverse\"\nlisten = \"0.0.0.0:0\"\ninsecure = true\n",
    );
    let coral = setup.start();
    coral.log_value("ws-reverse listening on ");
    let log = coral.expect_log("(insecure = true)");
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("(insecure = true)")),
        "{log}"
    );
    let (ok, text) = check(&setup);
    assert!(ok, "{text}");
}
