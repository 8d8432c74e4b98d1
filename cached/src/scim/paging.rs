//! Full copies of an endpoint through RFC 7644 §3.4.2.4 paging, and the ListResponse
//! parser that lookups share.
//!
//! A copy is all or nothing (design.md §2): every page must arrive and agree with the
//! others, else the whole copy is refused with [`ScimError::Incomplete`] and the caller
//! keeps its cache.

use serde_json::{Map, Value};

use super::attributes::{COUNT, ID, SCHEMAS};
use super::attributes::{LIST_RESPONSE, RESOURCES, START_INDEX, TOTAL_RESULTS};
use super::budget::SyncBudget;
use super::error::ScimError;
use super::nesting;
use super::transport::HttpTransport;
use crate::tokens::secret::BearerToken;

/// Largest `totalResults` accepted: far above the 100,000 users the design targets, far
/// below what would exhaust memory; beyond it the server is broken or hostile.
pub const MAX_RESOURCES: u64 = 5_000_000;

/// Upper bound for the initial allocation, whatever `totalResults` claims.
const MAX_PREALLOCATED: u64 = 200_000;

/// One parsed ListResponse.
#[derive(Debug)]
pub struct ListPage {
    pub total_results: u64,
    /// The `startIndex` the server says this page begins at, when it says one.
    pub start_index: Option<u64>,
    /// `None` when `Resources` is absent or `null` (allowed only when there is nothing).
    pub resources: Option<Vec<Value>>,
}

/// Parses a ListResponse body. Not JSON, not an object, a `schemas` without the
/// ListResponse URN, or a missing `totalResults` → [`ScimError::Malformed`].
pub fn parse_list_response(body: &[u8], path: &str) -> Result<ListPage, ScimError> {
    let malformed = |reason: String| ScimError::Malformed {
        path: path.to_string(),
        reason,
    };
    let (value, pruned) = match serde_json::from_slice::<Value>(body) {
        Ok(v) => (v, false),
        // One absurdly nested resource must not fail the page (design.md §6): prune
        // and refuse that resource alone. serde_json has no error kind for this.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            let Some(pruned) = nesting::prune(body, nesting::MAX_DEPTH) else {
                return Err(malformed(format!("not JSON: {e}")));
            };
            let v =
                serde_json::from_slice(&pruned).map_err(|e| malformed(format!("not JSON: {e}")))?;
            (v, true)
        }
        Err(e) => return Err(malformed(format!("not JSON: {e}"))),
    };
    let Value::Object(mut obj) = value else {
        return Err(malformed("not a JSON object".to_string()));
    };
    match obj.get(SCHEMAS) {
        None | Some(Value::Null) => {}
        Some(Value::Array(schemas)) => {
            if !schemas.iter().any(|s| s.as_str() == Some(LIST_RESPONSE)) {
                return Err(malformed(format!("schemas does not list {LIST_RESPONSE}")));
            }
        }
        Some(_) => return Err(malformed("schemas is not an array".to_string())),
    }
    let total_results = non_negative(&obj, TOTAL_RESULTS)
        .map_err(malformed)?
        .ok_or_else(|| malformed(format!("no {TOTAL_RESULTS}: not a ListResponse")))?;
    let start_index = non_negative(&obj, START_INDEX).map_err(malformed)?;
    let resources = match obj.remove(RESOURCES) {
        None | Some(Value::Null) => None,
        Some(Value::Array(mut items)) => {
            if pruned {
                // Anything pruned outside Resources was an unknown attribute: ignored.
                nesting::mark_too_deep(&mut items, ID);
            }
            Some(items)
        }
        Some(_) => return Err(malformed(format!("{RESOURCES} is not an array"))),
    };
    Ok(ListPage {
        total_results,
        start_index,
        resources,
    })
}

/// An optional non-negative integer field (`null` counts as absent, RFC 7643 §2.5).
fn non_negative(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} is not a non-negative integer")),
    }
}

/// Every resource of `endpoint` (`Users` or `Groups`), in server order, each as the raw
/// JSON the server sent (mapping and validation happen in `directory`).
///
/// `startIndex` starts at 1 and advances by the number of resources actually received,
/// since a server may return fewer than `count`. The copy ends when the number received
/// equals `totalResults`. An empty page before that, a missing `Resources`, more
/// resources than `totalResults`, a page at another `startIndex` than asked (a server
/// ignoring paging would otherwise hand out page one forever), or `totalResults`
/// changing between pages → [`ScimError::Incomplete`].
pub fn fetch_all(
    transport: &HttpTransport,
    token: &BearerToken,
    endpoint: &str,
    page_size: u32,
) -> Result<Vec<Value>, ScimError> {
    let mut budget = SyncBudget::unlimited();
    fetch_all_shaped(transport, token, endpoint, page_size, &mut budget, |v| v)
}

/// [`fetch_all`], keeping `shape(resource)` instead of each resource as it arrives, so
/// that no more than one page is ever held as JSON, and paying for every page out of
/// `budget`: a server that pages forever or sends huge pages ends the copy with
/// [`ScimError::OverBudget`] or [`ScimError::PastDeadline`] (design.md §3).
pub fn fetch_all_shaped<T>(
    transport: &HttpTransport,
    token: &BearerToken,
    endpoint: &str,
    page_size: u32,
    budget: &mut SyncBudget,
    mut shape: impl FnMut(Value) -> T,
) -> Result<Vec<T>, ScimError> {
    fetch_all_query(transport, token, endpoint, "", page_size, budget, |v| {
        Ok(shape(v))
    })
}

/// [`fetch_all_shaped`] with `query` (already encoded `name=value` pairs joined by `&`,
/// e.g. a `filter` or `attributes`) added to every page's request, and a `shape` that
/// may end the copy at once with an error (a resource showing that the server did not
/// do what was asked). A 400 to a request with a `filter` is [`ScimError::BadFilter`].
pub fn fetch_all_query<T>(
    transport: &HttpTransport,
    token: &BearerToken,
    endpoint: &str,
    query: &str,
    page_size: u32,
    budget: &mut SyncBudget,
    mut shape: impl FnMut(Value) -> Result<T, ScimError>,
) -> Result<Vec<T>, ScimError> {
    let filtered = query.contains("filter=");
    let extra = if query.is_empty() {
        String::new()
    } else {
        format!("&{query}")
    };
    let count = page_size.max(1);
    let mut all: Vec<T> = Vec::new();
    let mut expected_total: Option<u64> = None;
    let mut start: u64 = 1;
    let mut pages: u64 = 0;
    loop {
        let relative = format!("{endpoint}?{START_INDEX}={start}&{COUNT}={count}{extra}");
        let path = transport.path_for(&relative);
        let incomplete = |reason: String| ScimError::Incomplete {
            path: path.clone(),
            reason,
        };
        let body = transport
            .get_within(&relative, token, budget)?
            .into_ok_body(&path, filtered)?;
        let page = parse_list_response(&body, &path)?;
        drop(body);
        pages += 1;

        let total = page.total_results;
        if total > MAX_RESOURCES {
            return Err(ScimError::TooLarge {
                path,
                reason: format!("{TOTAL_RESULTS} {total} exceeds {MAX_RESOURCES}"),
            });
        }
        match expected_total {
            None => {
                expected_total = Some(total);
                all.reserve(usize::try_from(total.min(MAX_PREALLOCATED)).unwrap_or(0));
            }
            Some(before) if before != total => {
                return Err(incomplete(format!(
                    "{TOTAL_RESULTS} changed from {before} to {total} during the copy"
                )));
            }
            Some(_) => {}
        }

        let received = all.len() as u64;
        let missing = page.resources.is_none();
        let resources = page.resources.unwrap_or_default();
        let got = resources.len() as u64;
        if got > 0 {
            if let Some(answered) = page.start_index {
                if answered != start {
                    return Err(incomplete(format!(
                        "asked for {START_INDEX} {start}, got {answered}"
                    )));
                }
            }
        }
        if received + got > total {
            return Err(incomplete(format!(
                "{} resources received, more than {TOTAL_RESULTS} {total}",
                received + got
            )));
        }
        if received + got < total && got == 0 {
            let what = if missing {
                format!("no {RESOURCES}")
            } else {
                "an empty page".to_string()
            };
            return Err(incomplete(format!(
                "{what} after {received} of {total} resources"
            )));
        }
        for resource in resources {
            all.push(shape(resource)?);
        }
        if all.len() as u64 == total {
            log::debug!("copied {total} {endpoint} in {pages} page(s)");
            return Ok(all);
        }
        start += got;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_response_parsing() {
        let p = parse_list_response(
            br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                 "totalResults":2,"startIndex":1,"itemsPerPage":2,
                 "Resources":[{"id":"1"},{"id":"2"}]}"#,
            "/x",
        )
        .unwrap();
        assert_eq!(p.total_results, 2);
        assert_eq!(p.start_index, Some(1));
        assert_eq!(p.resources.unwrap().len(), 2);

        let p = parse_list_response(br#"{"totalResults":0}"#, "/x").unwrap();
        assert!(p.resources.is_none());

        for bad in [
            &br#"[]"#[..],
            br#"{"id":"1","userName":"a"}"#,
            br#"{"totalResults":-1}"#,
            br#"{"totalResults":"3"}"#,
            br#"{"totalResults":1,"Resources":{}}"#,
            br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"totalResults":1}"#,
            br#"{"totalResults":1,"Resources":[{"id":"1"}"#,
        ] {
            let err = parse_list_response(bad, "/x").unwrap_err();
            assert!(matches!(err, ScimError::Malformed { .. }), "{err}");
        }
    }

    #[test]
    fn one_absurdly_nested_resource_does_not_fail_the_page() {
        let deep = "[".repeat(300) + &"]".repeat(300);
        let body = format!(
            r#"{{"totalResults":3,"Resources":[{{"id":"1"}},{{"id":"deep","x":{deep}}},{{"id":"3"}}]}}"#
        );
        let p = parse_list_response(body.as_bytes(), "/x").unwrap();
        let res = p.resources.unwrap();
        assert_eq!(res.len(), 3);
        assert_eq!(res[0], serde_json::json!({"id": "1"}));
        assert_eq!(res[1]["id"], "deep");
        assert!(res[1].get(nesting::REFUSED_MARKER).is_some());
        assert_eq!(res[2], serde_json::json!({"id": "3"}));
        // Still malformed JSON: still refused as a whole.
        let cut = &body.as_bytes()[..body.len() - 2];
        assert!(matches!(
            parse_list_response(cut, "/x"),
            Err(ScimError::Malformed { .. })
        ));
    }
}
