//! The daemon's parser of a SCIM ListResponse page (`scim::paging::parse_list_response`,
//! which falls back to `scim::nesting::prune` for absurdly nested JSON) and `prune`
//! itself: pruning valid JSON at any depth must leave valid JSON. Also the SCIM error
//! body parser (`scim::error::scim_error_detail`): what it returns goes into log lines,
//! so it must be short and free of control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

use cached::scim::error::scim_error_detail;
use cached::scim::nesting::{contains_too_deep, prune};
use cached::scim::paging::parse_list_response;

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse_list_response(data, "/Users") {
        for r in page.resources.iter().flatten() {
            let _ = contains_too_deep(r);
        }
    }
    if let Some(detail) = scim_error_detail(data) {
        assert!(!detail.is_empty());
        assert!(detail.chars().count() <= 301, "unbounded detail");
        assert!(
            !detail.chars().any(char::is_control),
            "control char in {detail:?}"
        );
    }
    let Some((&depth, body)) = data.split_first() else {
        return;
    };
    let depth = usize::from(depth % 8);
    if let Some(pruned) = prune(body, depth) {
        if serde_json::from_slice::<Value>(body).is_ok() {
            let again = serde_json::from_slice::<Value>(&pruned);
            assert!(again.is_ok(), "prune broke valid JSON: {again:?}");
            assert!(contains_too_deep(&again.unwrap_or(Value::Null)));
        }
    }
});
