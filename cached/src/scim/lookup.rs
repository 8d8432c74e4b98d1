//! Single-entry lookups with an RFC 7644 §3.4.2.2 `filter` (design.md §2: filters are
//! an optimisation only).
//!
//! Whenever the filter cannot be trusted the answer is [`ScimError::BadFilter`] and the
//! caller falls back to its full copy: the server answered 400, the server evidently
//! ignored the filter (more results than an exact match can have), or the value cannot
//! be put in a filter at all. Results are the raw resources; the caller still checks
//! that each one is the entry it asked for.

use serde_json::Value;

use super::attributes::{
    COUNT, FILTER, GROUPS_ENDPOINT, GROUP_EXTENSION, POSIX_GROUP_ID, POSIX_GROUP_NAME,
    POSIX_USER_ID, POSIX_USER_NAME, START_INDEX, USERS_ENDPOINT, USER_EXTENSION, USER_NAME,
};
use super::error::ScimError;
use super::paging::parse_list_response;
use super::transport::HttpTransport;
use crate::tokens::secret::BearerToken;

/// Results asked for (and accepted) per lookup. An exact match on a unique attribute
/// gives one; a few more are tolerated so the caller can see and report duplicates.
pub const LOOKUP_COUNT: u32 = 10;

/// Longest string value put in a filter.
const MAX_FILTER_VALUE: usize = 1024;

/// Which attribute a user lookup matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFilter<'a> {
    /// Core `userName` (as Workbench has it, often an e-mail address).
    UserName(&'a str),
    /// Core `userName` equal to `<name>` or starting with `<name>@` (one request:
    /// `userName eq "n" or userName sw "n@"`): the users whose POSIX name is derived
    /// from `userName` minus any domain (`John.Smith` from `John.Smith@corp.example`),
    /// which `eq` alone cannot find. `userName` is `caseExact=false` (RFC 7643), so the
    /// server may match other cases: the caller keeps only the exact derived name.
    DerivedName(&'a str),
    /// The extension's `posixUserName`.
    PosixUserName(&'a str),
    /// The extension's `posixUserId`.
    PosixUserId(u32),
}

/// Which attribute a group lookup matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupFilter<'a> {
    /// The extension's `posixGroupName`.
    PosixGroupName(&'a str),
    /// The extension's `posixGroupId`.
    PosixGroupId(u32),
}

/// A comparison value of a filter.
enum CompValue<'a> {
    Text(&'a str),
    Number(u32),
    /// `eq` this text, or `sw` this text followed by `@`.
    EqOrBeforeDomain(&'a str),
}

impl<'a> UserFilter<'a> {
    fn parts(&self) -> (String, CompValue<'a>) {
        match *self {
            UserFilter::UserName(v) => (USER_NAME.to_string(), CompValue::Text(v)),
            UserFilter::DerivedName(v) => (USER_NAME.to_string(), CompValue::EqOrBeforeDomain(v)),
            UserFilter::PosixUserName(v) => (
                format!("{USER_EXTENSION}:{POSIX_USER_NAME}"),
                CompValue::Text(v),
            ),
            UserFilter::PosixUserId(v) => (
                format!("{USER_EXTENSION}:{POSIX_USER_ID}"),
                CompValue::Number(v),
            ),
        }
    }
}

impl<'a> GroupFilter<'a> {
    fn parts(&self) -> (String, CompValue<'a>) {
        match *self {
            GroupFilter::PosixGroupName(v) => (
                format!("{GROUP_EXTENSION}:{POSIX_GROUP_NAME}"),
                CompValue::Text(v),
            ),
            GroupFilter::PosixGroupId(v) => (
                format!("{GROUP_EXTENSION}:{POSIX_GROUP_ID}"),
                CompValue::Number(v),
            ),
        }
    }
}

/// `attr eq value`, the value quoted as a JSON string (RFC 7644 §3.4.2.2 defines
/// `compValue` by RFC 7159, so `"` and `\` are escaped exactly as JSON does). Control
/// characters, empty and overlong values are refused: no directory name has them.
fn filter_expression(attr: &str, value: &CompValue<'_>) -> Result<String, String> {
    let text = match value {
        CompValue::Number(n) => return Ok(format!("{attr} eq {n}")),
        CompValue::Text(text) | CompValue::EqOrBeforeDomain(text) => *text,
    };
    {
        {
            if text.is_empty() {
                return Err("empty value".to_string());
            }
            if text.len() > MAX_FILTER_VALUE {
                return Err(format!("value longer than {MAX_FILTER_VALUE} bytes"));
            }
            if text.chars().any(char::is_control) {
                return Err("value contains control characters".to_string());
            }
            let quoted = serde_json::to_string(text).map_err(|e| e.to_string())?;
            match value {
                CompValue::EqOrBeforeDomain(_) => {
                    let prefix =
                        serde_json::to_string(&format!("{text}@")).map_err(|e| e.to_string())?;
                    Ok(format!("{attr} eq {quoted} or {attr} sw {prefix}"))
                }
                _ => Ok(format!("{attr} eq {quoted}")),
            }
        }
    }
}

/// Percent-encodes a query parameter value: everything but RFC 3986 unreserved
/// characters, so `"`, spaces, `:`, `&`, `+`, `=` and non-ASCII never change the query.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(crate) fn lookup_users(
    transport: &HttpTransport,
    token: &BearerToken,
    filter: UserFilter<'_>,
) -> Result<Vec<Value>, ScimError> {
    let (attr, value) = filter.parts();
    lookup(transport, token, USERS_ENDPOINT, &attr, &value)
}

pub(crate) fn lookup_groups(
    transport: &HttpTransport,
    token: &BearerToken,
    filter: GroupFilter<'_>,
) -> Result<Vec<Value>, ScimError> {
    let (attr, value) = filter.parts();
    lookup(transport, token, GROUPS_ENDPOINT, &attr, &value)
}

fn lookup(
    transport: &HttpTransport,
    token: &BearerToken,
    endpoint: &str,
    attr: &str,
    value: &CompValue<'_>,
) -> Result<Vec<Value>, ScimError> {
    let expression = filter_expression(attr, value).map_err(|reason| ScimError::BadFilter {
        path: transport.path_for(endpoint),
        reason,
    })?;
    let relative = format!(
        "{endpoint}?{FILTER}={}&{START_INDEX}=1&{COUNT}={LOOKUP_COUNT}",
        percent_encode(&expression)
    );
    let path = transport.path_for(&relative);
    let body = transport.get(&relative, token)?.into_ok_body(&path, true)?;
    let page = parse_list_response(&body, &path)?;
    let total = page.total_results;
    if total > u64::from(LOOKUP_COUNT) {
        return Err(ScimError::BadFilter {
            path,
            reason: format!("{total} results for an exact match: filter not honoured"),
        });
    }
    let resources = page.resources.unwrap_or_default();
    if resources.len() as u64 != total {
        return Err(ScimError::Incomplete {
            path,
            reason: format!(
                "{} resources in a page announcing totalResults {total}",
                resources.len()
            ),
        });
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let (a, v) = UserFilter::UserName("alice@example.com").parts();
        assert_eq!(
            filter_expression(&a, &v).unwrap(),
            r#"userName eq "alice@example.com""#
        );
        let (a, v) = UserFilter::DerivedName("John.Smith").parts();
        assert_eq!(
            filter_expression(&a, &v).unwrap(),
            r#"userName eq "John.Smith" or userName sw "John.Smith@""#
        );
        let (a, v) = UserFilter::PosixUserId(1001).parts();
        assert_eq!(
            filter_expression(&a, &v).unwrap(),
            "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User:posixUserId eq 1001"
        );
        let (a, v) = GroupFilter::PosixGroupName("data sci").parts();
        assert_eq!(
            filter_expression(&a, &v).unwrap(),
            "urn:rstudio:params:scim:schemas:extension:workbench:1.0:Group:posixGroupName eq \"data sci\""
        );
        let (a, v) = UserFilter::UserName(r#"a"b\c"#).parts();
        assert_eq!(
            filter_expression(&a, &v).unwrap(),
            r#"userName eq "a\"b\\c""#
        );
        for bad in ["", "a\nb", "a\0b"] {
            let (a, v) = UserFilter::PosixUserName(bad).parts();
            assert!(filter_expression(&a, &v).is_err());
        }
        let long = "x".repeat(MAX_FILTER_VALUE + 1);
        let (a, v) = UserFilter::UserName(&long).parts();
        assert!(filter_expression(&a, &v).is_err());
    }

    #[test]
    fn encoding() {
        assert_eq!(
            percent_encode(r#"userName eq "a+b@x.org""#),
            "userName%20eq%20%22a%2Bb%40x.org%22"
        );
        assert_eq!(percent_encode("é&="), "%C3%A9%26%3D");
        assert_eq!(percent_encode("a-b_c.d~"), "a-b_c.d~");
    }
}
