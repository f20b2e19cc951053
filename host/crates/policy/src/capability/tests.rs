//! Tests of the capability names and of the action → capability table.

use super::*;

#[test]
fn names_round_trip() {
    for name in names() {
        assert_eq!(Capability::parse(name).unwrap().to_string(), *name);
    }
    assert_eq!(
        Capability::parse("call-api:get_group_notice").unwrap().to_string(),
        "call-api:get_group_notice"
    );
    // Granted under the normalised name.
    assert_eq!(
        Capability::parse("call-api:Set_Group_Kick_Async").unwrap(),
        Capability::CallApi("set_group_kick".into())
    );
    assert!(Capability::parse("kik").unwrap_err().contains("unknown capability"));
    assert!(Capability::parse("call-api:").is_err());
    assert!(Capability::parse("call-api:a\nb").is_err());
}

/// Every standard action name the typed functions produce maps to the same capability a raw call of it needs.
#[test]
fn typed_and_raw_mappings_agree() {
    let dir = crate::test_fixtures::fixtures_dir().join("api");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let name = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".json")
            .to_string();
        assert!(standard_capability(&name).is_some(), "{name} has no capability");
        count += 1;
    }
    assert_eq!(count, 38);
    assert_eq!(standard_capability("delete_friend"), Some(Capability::DeleteFriend));
    assert_eq!(standard_capability("get_cookies"), Some(Capability::Credentials));
}
