//! Tests of rate limits: immediate refusals with a retry-after, one bucket per typed capability, batches
//! charged per member.

use super::*;
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn rate_limits_refuse_immediately_with_retry_after() {
    let mut g = grants(&["kick"]);
    g.rates
        .insert(Capability::Kick, ("3/min".into(), Rate::parse("3/min").unwrap()));
    let p = Policy::new(&req(&["kick"]), &g);
    for _ in 0..3 {
        assert!(check(&p, &kick("1")).is_ok());
    }
    match check(&p, &kick("1")) {
        Err(PolicyError::RateLimited { retry_after, rate, .. }) => {
            assert_eq!(rate, "3/min");
            assert!((19_000..=20_000).contains(&retry_after.as_millis()));
        }
        other => panic!("{other:?}"),
    }
    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(check(&p, &kick("1")).is_ok());
}

#[tokio::test(start_paused = true)]
async fn raw_calls_are_charged_to_the_typed_bucket() {
    let mut g = grants(&["kick", "call-api:set_group_kick"]);
    g.rates
        .insert(Capability::Kick, ("2/hour".into(), Rate::parse("2/hour").unwrap()));
    let p = Policy::new(&req(&["kick", "call-api:set_group_kick"]), &g);
    assert!(check(&p, &kick("1")).is_ok());
    assert!(check(&p, &raw("set_group_kick_async", json!({"group_id": 1, "user_id": 2}))).is_ok());
    assert!(matches!(
        check(&p, &raw("SET_GROUP_KICK", json!({"group_id": 1, "user_id": 3}))),
        Err(PolicyError::RateLimited { .. })
    ));
    assert!(matches!(check(&p, &kick("1")), Err(PolicyError::RateLimited { .. })));
}

/// NapCat's `set_group_kick_members` kicks every member named: each is a kick against the rate.
#[tokio::test(start_paused = true)]
async fn a_batch_kick_is_charged_per_member() {
    let mut g = grants(&["kick", "call-api:set_group_kick_members"]);
    g.rates
        .insert(Capability::Kick, ("3/hour".into(), Rate::parse("3/hour").unwrap()));
    let p = Policy::new(&req(&["kick", "call-api:set_group_kick_members"]), &g);
    let batch = |users: serde_json::Value| raw("set_group_kick_members", json!({"group_id": 1, "user_id": users}));
    assert!(matches!(
        check(&p, &batch(json!([2, 3, 4, 5, 6, 7, 8, 9]))),
        Err(PolicyError::Denied {
            capability: Capability::Kick,
            ..
        })
    ));
    assert!(check(&p, &batch(json!([2, 3]))).is_ok());
    assert!(matches!(
        check(&p, &batch(json!([4, 5]))),
        Err(PolicyError::RateLimited { .. })
    ));
    assert!(check(&p, &kick("1")).is_ok(), "one left");
    assert!(matches!(check(&p, &kick("1")), Err(PolicyError::RateLimited { .. })));
    // An action with no typed twin is charged once to its own bucket, as before.
    let mut g = grants(&["call-api:get_group_notice"]);
    g.rates.insert(
        Capability::CallApi("get_group_notice".into()),
        ("2/hour".into(), Rate::parse("2/hour").unwrap()),
    );
    let p = Policy::new(&req(&["call-api:get_group_notice"]), &g);
    assert!(check(&p, &raw("get_group_notice", json!({}))).is_ok());
    assert!(check(&p, &raw("get_group_notice", json!({}))).is_ok());
}
