//! The requests of an incremental sync (design.md §8): the resources modified after a
//! time (`filter=meta.lastModified gt "…"`, RFC 7644 §3.4.2.2) and the list of every
//! id (`attributes=id`, RFC 7644 §3.4.2.5), both paged like a full copy and paid for
//! out of the same sync budget.
//!
//! A server that does not do what was asked is caught on the first resource that shows
//! it, so that it costs one page, not a whole copy: a resource not modified after the
//! bound (the filter was ignored and everything came back) or without a readable
//! `meta.lastModified`, or a resource with more than its id (`attributes` ignored), ends
//! the request with [`ScimError::BadFilter`]. So do a 400 and a 501; the caller falls
//! back to a complete copy and remembers.

use std::collections::HashSet;
use std::time::SystemTime;

use serde_json::Value;

use super::attributes::{ID, LAST_MODIFIED, META, SCHEMAS};
use super::budget::SyncBudget;
use super::error::ScimError;
use super::lookup::percent_encode;
use super::paging::fetch_all_query;
use super::transport::HttpTransport;
use crate::text::rfc3339::{parse_rfc3339, rfc3339};
use crate::tokens::secret::BearerToken;

/// The filter asking for what was modified after `since`.
pub fn modified_after_filter(since: SystemTime) -> String {
    format!("{META}.{LAST_MODIFIED} gt \"{}\"", rfc3339(since))
}

/// Whether `e` means "this server cannot answer that request": the caller falls back
/// to a complete copy and stops asking (400, 501, invalidFilter, a result that shows
/// the request was not honoured or that does not add up).
pub fn is_unsupported(e: &ScimError) -> bool {
    match e {
        ScimError::BadFilter { .. }
        | ScimError::Incomplete { .. }
        | ScimError::Malformed { .. } => true,
        ScimError::Http { status, .. } => matches!(status, 400 | 404 | 405 | 501),
        _ => false,
    }
}

/// Every resource of `endpoint` modified after `since`, each through `shape` as its
/// page arrives. A resource that was not (the filter ignored) ends it with
/// [`ScimError::BadFilter`].
pub fn fetch_modified_after<T>(
    transport: &HttpTransport,
    token: &BearerToken,
    endpoint: &str,
    since: SystemTime,
    page_size: u32,
    budget: &mut SyncBudget,
    mut shape: impl FnMut(Value) -> T,
) -> Result<Vec<T>, ScimError> {
    let filter = modified_after_filter(since);
    let query = format!("filter={}", percent_encode(&filter));
    let path = transport.path_for(endpoint);
    fetch_all_query(
        transport,
        token,
        endpoint,
        &query,
        page_size,
        budget,
        |v| match modified_after(&v, since) {
            Ok(()) => Ok(shape(v)),
            Err(reason) => Err(ScimError::BadFilter {
                path: path.clone(),
                reason: format!("filter {filter:?} not honoured: {reason}"),
            }),
        },
    )
}

/// Whether `resource` says it was modified after `since`; why not otherwise.
pub fn modified_after(resource: &Value, since: SystemTime) -> Result<(), String> {
    let id = resource.get(ID).and_then(Value::as_str).unwrap_or("?");
    let Some(text) = resource
        .get(META)
        .and_then(|m| m.get(LAST_MODIFIED))
        .and_then(Value::as_str)
    else {
        return Err(format!("resource {id:?} has no {META}.{LAST_MODIFIED}"));
    };
    match parse_rfc3339(text) {
        Some(t) if t > since => Ok(()),
        Some(_) => Err(format!(
            "resource {id:?} was last modified at {text}, not after {}",
            rfc3339(since)
        )),
        None => Err(format!(
            "resource {id:?} has an unreadable {META}.{LAST_MODIFIED} {text:?}"
        )),
    }
}

/// Resources asked per page of an `attributes=id` listing, whatever `page-size` says
/// (unless it says more). An id costs about 60 bytes in a listing against 1-4 KB for a
/// whole user, so `page-size` pages would make the listings of an incremental sync as
/// many requests as a complete copy (100,000 users at 500 a page: 200 requests); at
/// 10,000 a page, 10 requests of about 0.6 MB. The daemon does not read the server's
/// advertised `maxResults`: a server that caps pages below this answers fewer, and
/// paging goes on from what arrived (`fetch_all_query`), so the cap costs requests,
/// never correctness. Bounded by the sync's byte budget like any page.
pub const ID_PAGE_SIZE: u32 = 10_000;

/// `count` for an id listing of a client whose `page-size` is `page_size`.
pub fn id_page_size(page_size: u32) -> u32 {
    page_size.max(ID_PAGE_SIZE)
}

/// The id of every resource of `endpoint` (`attributes=id`): what the server has, to
/// find what it deleted. A resource with more than `id` (and `schemas`, `meta`), a
/// resource without a string id, or an id listed twice ends it with
/// [`ScimError::BadFilter`]: the listing would cost a whole copy or is not one.
pub fn list_ids(
    transport: &HttpTransport,
    token: &BearerToken,
    endpoint: &str,
    page_size: u32,
    budget: &mut SyncBudget,
) -> Result<HashSet<String>, ScimError> {
    let path = transport.path_for(endpoint);
    let mut seen = HashSet::new();
    let not_honoured = |reason: String| ScimError::BadFilter {
        path: path.clone(),
        reason: format!("attributes=id not honoured: {reason}"),
    };
    fetch_all_query(
        transport,
        token,
        endpoint,
        "attributes=id",
        page_size,
        budget,
        |v| {
            let id = only_id(&v).map_err(&not_honoured)?;
            if !seen.insert(id.clone()) {
                return Err(not_honoured(format!("id {id:?} listed twice")));
            }
            Ok(())
        },
    )?;
    Ok(seen)
}

/// The id of a resource listed with `attributes=id`, or why it is not such a listing.
pub fn only_id(resource: &Value) -> Result<String, String> {
    let Value::Object(obj) = resource else {
        return Err("a resource is not an object".to_string());
    };
    let Some(id) = obj.get(ID).and_then(Value::as_str) else {
        return Err("a resource has no string id".to_string());
    };
    if let Some(extra) = obj
        .keys()
        .find(|k| ![ID, SCHEMAS, META].contains(&k.as_str()))
    {
        return Err(format!("resource {id:?} has {extra:?} too"));
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn filter_text() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_713_898_663);
        assert_eq!(
            modified_after_filter(t),
            r#"meta.lastModified gt "2024-04-23T18:57:43Z""#
        );
    }

    #[test]
    fn modified_after_checks_each_resource() {
        let since = parse_rfc3339("2024-04-23T18:57:43Z").unwrap();
        let r = |m: Value| json!({"id": "u1", "meta": m});
        assert!(modified_after(&r(json!({"lastModified": "2024-04-23T18:57:44"})), since).is_ok());
        assert!(
            modified_after(&r(json!({"lastModified": "2024-04-23T18:57:43.5Z"})), since).is_ok()
        );
        for bad in [
            json!({"lastModified": "2024-04-23T18:57:43"}),
            json!({"lastModified": "2020-01-01T00:00:00Z"}),
            json!({"lastModified": "yesterday"}),
            json!({"lastModified": 1713898664}),
            json!({}),
            json!(null),
        ] {
            assert!(modified_after(&r(bad.clone()), since).is_err(), "{bad}");
        }
        assert!(modified_after(&json!({"id": "u1"}), since).is_err());
    }

    #[test]
    fn only_id_refuses_whole_resources() {
        assert_eq!(only_id(&json!({"id": "a"})).unwrap(), "a");
        assert_eq!(
            only_id(&json!({"id": "a", "schemas": [], "meta": {"resourceType": "User"}})).unwrap(),
            "a"
        );
        assert!(only_id(&json!({"id": "a", "userName": "alice"})).is_err());
        assert!(only_id(&json!({"id": 7})).is_err());
        assert!(only_id(&json!(["a"])).is_err());
    }

    #[test]
    fn unsupported_errors() {
        let p = String::from("/x");
        assert!(is_unsupported(&ScimError::BadFilter {
            path: p.clone(),
            reason: "HTTP 400".into()
        }));
        assert!(is_unsupported(&ScimError::Http {
            path: p.clone(),
            status: 501,
            scim_detail: None
        }));
        assert!(!is_unsupported(&ScimError::Http {
            path: p.clone(),
            status: 503,
            scim_detail: None
        }));
        assert!(!is_unsupported(&ScimError::OverBudget {
            path: p,
            max_bytes: 1
        }));
    }
}
