//! Absurdly nested JSON, refused per resource (design.md §6: "absurd sizes or nesting:
//! refused per entry … never fatal for the rest of the data").
//!
//! serde_json refuses a whole document nested deeper than 128 levels, so one hostile
//! resource would fail its page and with it every sync. When that happens the page is
//! parsed again after [`prune`] replaced every value nested deeper than [`MAX_DEPTH`]
//! with [`TOO_DEEP`]; [`mark_too_deep`] then swaps each resource holding it for a stub
//! that mapping refuses with the resource's SCIM id ([`REFUSED_MARKER`]).

use serde_json::{Map, Value};

/// Deepest container kept when a page had to be pruned (the document root is level 1;
/// a resource in a ListResponse is level 3). Below serde_json's own limit of 128.
pub const MAX_DEPTH: usize = 100;

/// What replaces a pruned value. A NUL cannot reach a POSIX field (it is refused as a
/// control character), so a server sending this string itself only gets the resource
/// refused.
pub const TOO_DEEP: &str = "\u{0}workbench: nested too deep";

/// Key of the stub standing for a refused resource; its value is the reason. Mapping
/// refuses any resource carrying it.
pub const REFUSED_MARKER: &str = "\u{0}workbench-refused";

/// `body` with every JSON object or array that starts deeper than `max_depth` replaced
/// by the string [`TOO_DEEP`], or `None` when nothing is that deep. Valid JSON stays
/// valid; invalid JSON stays invalid (the caller parses the result).
pub fn prune(body: &[u8], max_depth: usize) -> Option<Vec<u8>> {
    let sentinel = b"\"\\u0000workbench: nested too deep\"";
    let mut out = Vec::with_capacity(body.len());
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    // Depth of the container being skipped, if any.
    let mut skipping: Option<usize> = None;
    let mut pruned = false;
    for &b in body {
        let mut emit = skipping.is_none();
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth = depth.saturating_add(1);
                    if skipping.is_none() && depth > max_depth {
                        skipping = Some(depth);
                        pruned = true;
                        out.extend_from_slice(sentinel);
                        emit = false;
                    }
                }
                b'}' | b']' => {
                    if skipping == Some(depth) {
                        skipping = None;
                        emit = false;
                    }
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
        }
        if emit {
            out.push(b);
        }
    }
    pruned.then_some(out)
}

/// Whether `v` holds [`TOO_DEEP`] anywhere (iterative: no recursion on hostile data).
pub fn contains_too_deep(v: &Value) -> bool {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s == TOO_DEEP => return true,
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    false
}

/// Replaces each resource that was pruned with a stub keeping only its `id` and the
/// reason, so that mapping refuses it by SCIM id; returns how many were replaced.
pub fn mark_too_deep(resources: &mut [Value], id_key: &str) -> usize {
    let mut n = 0;
    for r in resources.iter_mut() {
        if contains_too_deep(r) {
            let mut stub = Map::new();
            stub.insert(
                id_key.to_string(),
                r.get(id_key).cloned().unwrap_or(Value::Null),
            );
            stub.insert(
                REFUSED_MARKER.to_string(),
                Value::String(format!("JSON nested more than {MAX_DEPTH} levels deep")),
            );
            *r = Value::Object(stub);
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> String {
        "[".repeat(levels) + &"]".repeat(levels)
    }

    #[test]
    fn shallow_documents_are_left_alone() {
        assert_eq!(prune(br#"{"a": [1, {"b": "]]]{{"}]}"#, 3), None);
    }

    #[test]
    fn deep_values_become_the_sentinel_and_the_rest_survives() {
        let doc = format!(
            r#"{{"Resources": [{{"id": "deep", "x": {}, "s": "[[\"{{"}}, {{"id": "ok"}}], "n": 1}}"#,
            nested(200)
        );
        assert!(serde_json::from_str::<Value>(&doc).is_err());
        let pruned = prune(doc.as_bytes(), 10).unwrap();
        let v: Value = serde_json::from_slice(&pruned).unwrap();
        let res = v["Resources"].as_array().unwrap();
        assert_eq!(res[0]["id"], "deep");
        assert_eq!(res[0]["s"], "[[\"{");
        assert!(contains_too_deep(&res[0]));
        assert!(!contains_too_deep(&res[1]));
        assert_eq!(v["n"], 1);
    }

    #[test]
    fn strings_with_escaped_quotes_and_brackets_do_not_count() {
        let doc = format!(r#"["\\", "\"[[[[", {}]"#, nested(5));
        let pruned = prune(doc.as_bytes(), 3).unwrap();
        let v: Value = serde_json::from_slice(&pruned).unwrap();
        assert_eq!(v[0], "\\");
        assert_eq!(v[1], "\"[[[[");
        assert_eq!(v[2][0][0], TOO_DEEP);
    }

    #[test]
    fn invalid_json_stays_invalid() {
        let doc = format!("{{\"a\": {}", nested(300));
        let pruned = prune(doc.as_bytes(), 10).unwrap();
        assert!(serde_json::from_slice::<Value>(&pruned).is_err());
        // Unbalanced closers never underflow.
        assert_eq!(prune(b"]]]]}}", 2), None);
    }

    #[test]
    fn marked_resources_keep_only_their_id() {
        let mut res = vec![
            json!({"id": "a", "x": [TOO_DEEP]}),
            json!({"id": "b"}),
            json!([TOO_DEEP]),
        ];
        assert_eq!(mark_too_deep(&mut res, "id"), 2);
        assert_eq!(res[0]["id"], "a");
        assert!(res[0].get(REFUSED_MARKER).is_some());
        assert_eq!(res[1], json!({"id": "b"}));
        assert_eq!(res[2]["id"], Value::Null);
    }
}
