//! Turning one value's text into a typed value according to its [`ValueKind`].

use super::address::{parse_server_address, ParsedAddress};
use super::keys::{ValueKind, MAX_ID};
use crate::posix::names::is_valid_posix_name;
use crate::posix::paths::is_normalised_absolute;
use std::path::PathBuf;

/// A value that passed its kind's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Address(ParsedAddress),
    Path(PathBuf),
    OptionalPath(Option<PathBuf>),
    /// `PasswdPath` and `GroupName`.
    Text(String),
    Seconds(u64),
    Number(u32),
    Bytes(u64),
    Bool(bool),
    Level(log::LevelFilter),
    /// `NameList` and `PathList`, in the order given.
    List(Vec<String>),
    Ids(Vec<u32>),
}

/// Parses `text` as `kind`. The error is an optional extra reason (the caller always
/// states what was expected).
pub fn parse_value(kind: ValueKind, text: &str) -> Result<Value, Option<String>> {
    match kind {
        ValueKind::ServerAddress => parse_server_address(text).map(Value::Address).map_err(Some),
        ValueKind::AbsolutePath => absolute_path(text, false).map(Value::Path),
        ValueKind::OptionalAbsolutePath => {
            if text.is_empty() {
                Ok(Value::OptionalPath(None))
            } else {
                absolute_path(text, false).map(|p| Value::OptionalPath(Some(p)))
            }
        }
        ValueKind::PasswdPath => {
            absolute_path(text, true)?;
            // `/home/` and `/home` mean the same; keep "/" itself.
            let s = text.trim_end_matches('/');
            let s = if s.is_empty() { "/" } else { s };
            Ok(Value::Text(s.to_string()))
        }
        ValueKind::Seconds { min, max } => match whole_number(text) {
            Some(n) if (min..=max).contains(&n) => Ok(Value::Seconds(n)),
            _ => Err(None),
        },
        ValueKind::Count { min, max } => match whole_number(text) {
            Some(n) if n >= u64::from(min) && n <= u64::from(max) => {
                u32::try_from(n).map(Value::Number).map_err(|_| None)
            }
            _ => Err(None),
        },
        ValueKind::Bytes { min, max } => match size(text) {
            Some(n) if (min..=max).contains(&n) => Ok(Value::Bytes(n)),
            _ => Err(None),
        },
        ValueKind::MinimumId => match whole_number(text) {
            Some(0) => Err(Some("must be at least 1".to_string())),
            Some(n) if n <= u64::from(MAX_ID) => {
                u32::try_from(n).map(Value::Number).map_err(|_| None)
            }
            _ => Err(None),
        },
        ValueKind::Bool => match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Value::Bool(true)),
            "0" | "false" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err(None),
        },
        ValueKind::GroupName => {
            let ok = !text.is_empty()
                && text.len() <= 256
                && !text
                    .chars()
                    .any(|c| c == ':' || c.is_whitespace() || c.is_control());
            if ok {
                Ok(Value::Text(text.to_string()))
            } else {
                Err(None)
            }
        }
        ValueKind::LogLevel => match text {
            "error" => Ok(Value::Level(log::LevelFilter::Error)),
            "warn" => Ok(Value::Level(log::LevelFilter::Warn)),
            "info" => Ok(Value::Level(log::LevelFilter::Info)),
            "debug" => Ok(Value::Level(log::LevelFilter::Debug)),
            _ => Err(None),
        },
        ValueKind::NameList => list_items(text)
            .map(|name| {
                if name.is_empty() {
                    Err(Some(EMPTY_ITEM.to_string()))
                } else if is_valid_posix_name(name) {
                    Ok(name.to_string())
                } else {
                    Err(Some(format!("'{name}' is not a valid name")))
                }
            })
            .collect::<Result<_, _>>()
            .map(Value::List),
        ValueKind::PathList => list_items(text)
            .map(|path| {
                // `/home/` means `/home`, as for home-root; `/` stays.
                let trimmed = path.trim_end_matches('/');
                let path = if trimmed.is_empty() { path } else { trimmed };
                if path.is_empty() {
                    Err(Some(EMPTY_ITEM.to_string()))
                } else if path.contains(':') || path.chars().any(char::is_control) {
                    Err(Some(format!(
                        "'{path}' contains ':' or a control character"
                    )))
                } else if is_normalised_absolute(path) {
                    Ok(path.to_string())
                } else {
                    Err(Some(format!(
                        "'{path}' is not absolute or has a '.', '..' or empty component"
                    )))
                }
            })
            .collect::<Result<_, _>>()
            .map(Value::List),
        ValueKind::IdList => list_items(text)
            .map(|id| match whole_number(id) {
                Some(n) if n >= 1 && n <= u64::from(MAX_ID) => u32::try_from(n).map_err(|_| None),
                _ if id.is_empty() => Err(Some(EMPTY_ITEM.to_string())),
                _ => Err(Some(format!("'{id}' is not an id"))),
            })
            .collect::<Result<_, _>>()
            .map(Value::Ids),
    }
}

/// Why `a,,b` or a trailing comma is refused.
const EMPTY_ITEM: &str = "an empty item (two commas in a row, or one at an end)";

/// The items of a comma-separated list, blanks around each trimmed; empty text is an
/// empty list, while an empty item (`a,,b`, a trailing comma) is kept so that it is
/// refused rather than silently dropped.
fn list_items(text: &str) -> impl Iterator<Item = &str> {
    let text = text.trim();
    text.split(',')
        .map(str::trim)
        .filter(move |_| !text.is_empty())
}

/// Digits only (no sign, no unit, no blanks), so `5m` or `-1` never sneak through.
fn whole_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Digits with an optional `K`, `M` or `G` suffix (either case; powers of 1024).
fn size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    whole_number(digits)?.checked_mul(1u64 << shift)
}

fn absolute_path(text: &str, passwd_field: bool) -> Result<PathBuf, Option<String>> {
    if !text.starts_with('/') {
        return Err(None);
    }
    if text.chars().any(char::is_control) {
        return Err(Some("control characters in the path".to_string()));
    }
    if passwd_field && text.contains(':') {
        return Err(Some("':' would break the passwd line".to_string()));
    }
    if text.len() > 4096 {
        return Err(Some("longer than 4096 bytes".to_string()));
    }
    Ok(PathBuf::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_digits_within_bounds() {
        let k = ValueKind::Seconds { min: 1, max: 600 };
        assert_eq!(parse_value(k, "5"), Ok(Value::Seconds(5)));
        assert_eq!(parse_value(k, "600"), Ok(Value::Seconds(600)));
        for bad in [
            "0",
            "601",
            "-1",
            "+5",
            "5s",
            "5.0",
            "",
            "abc",
            "99999999999999999999999",
        ] {
            assert!(parse_value(k, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_are_never_zero() {
        assert_eq!(
            parse_value(ValueKind::MinimumId, "0"),
            Err(Some("must be at least 1".to_string()))
        );
        assert_eq!(parse_value(ValueKind::MinimumId, "1"), Ok(Value::Number(1)));
        assert_eq!(
            parse_value(ValueKind::MinimumId, "4294967294"),
            Ok(Value::Number(4_294_967_294))
        );
        assert!(parse_value(ValueKind::MinimumId, "4294967295").is_err());
        assert!(parse_value(ValueKind::MinimumId, "-1").is_err());
    }

    #[test]
    fn bools() {
        for t in ["1", "true", "yes", "on", "TRUE", "Yes"] {
            assert_eq!(parse_value(ValueKind::Bool, t), Ok(Value::Bool(true)));
        }
        for f in ["0", "false", "no", "off", "False"] {
            assert_eq!(parse_value(ValueKind::Bool, f), Ok(Value::Bool(false)));
        }
        for bad in ["", "2", "enable", "y"] {
            assert!(parse_value(ValueKind::Bool, bad).is_err());
        }
    }

    #[test]
    fn page_size_bounds() {
        let k = ValueKind::Count {
            min: 1,
            max: 10_000,
        };
        assert_eq!(parse_value(k, "1"), Ok(Value::Number(1)));
        assert_eq!(parse_value(k, "10000"), Ok(Value::Number(10_000)));
        assert!(parse_value(k, "0").is_err());
        assert!(parse_value(k, "10001").is_err());
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        let k = ValueKind::Bytes {
            min: 1 << 20,
            max: 1 << 40,
        };
        assert_eq!(parse_value(k, "2G"), Ok(Value::Bytes(2 << 30)));
        assert_eq!(parse_value(k, "3m"), Ok(Value::Bytes(3 << 20)));
        assert_eq!(parse_value(k, "1024K"), Ok(Value::Bytes(1 << 20)));
        assert_eq!(parse_value(k, "1048576"), Ok(Value::Bytes(1 << 20)));
        assert_eq!(parse_value(k, "1024G"), Ok(Value::Bytes(1 << 40)));
        for bad in [
            "",
            "G",
            "1048575",
            "1023K",
            "1025G",
            "2 G",
            "2GB",
            "2T",
            "-2G",
            "1.5G",
            "99999999999999999999G",
        ] {
            assert!(parse_value(k, bad).is_err(), "{bad}");
        }
        assert_eq!(
            k.expected(),
            "a size in bytes, optionally with a K, M or G suffix (powers of 1024) (1M..=1024G)"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_value(ValueKind::AbsolutePath, "/etc/x"),
            Ok(Value::Path("/etc/x".into()))
        );
        assert!(parse_value(ValueKind::AbsolutePath, "etc/x").is_err());
        assert!(parse_value(ValueKind::AbsolutePath, "").is_err());
        assert!(parse_value(ValueKind::AbsolutePath, "/a\u{7}").is_err());
        assert_eq!(
            parse_value(ValueKind::OptionalAbsolutePath, ""),
            Ok(Value::OptionalPath(None))
        );
        assert_eq!(
            parse_value(ValueKind::PasswdPath, "/home/"),
            Ok(Value::Text("/home".into()))
        );
        assert_eq!(
            parse_value(ValueKind::PasswdPath, "/"),
            Ok(Value::Text("/".into()))
        );
        assert!(parse_value(ValueKind::PasswdPath, "/bin:/sh").is_err());
    }

    #[test]
    fn lists() {
        let names = |t| parse_value(ValueKind::NameList, t);
        assert_eq!(names(""), Ok(Value::List(vec![])));
        assert_eq!(
            names("admin, wheel ,sudo"),
            Ok(Value::List(vec![
                "admin".into(),
                "wheel".into(),
                "sudo".into()
            ]))
        );
        for bad in ["1234", "-x", "a,,b", "a,", "a b", "a:b"] {
            assert!(names(bad).is_err(), "{bad}");
        }
        let paths = |t| parse_value(ValueKind::PathList, t);
        assert_eq!(paths(""), Ok(Value::List(vec![])));
        assert_eq!(
            paths("/home,/srv/homes"),
            Ok(Value::List(vec!["/home".into(), "/srv/homes".into()]))
        );
        assert_eq!(
            paths("/home/, /"),
            Ok(Value::List(vec!["/home".into(), "/".into()]))
        );
        for bad in ["home", "/home/../etc", "/a//b", "/a/./b", "/a:b", "/home,"] {
            assert!(paths(bad).is_err(), "{bad}");
        }
        assert_eq!(
            names("a,,b"),
            Err(Some(EMPTY_ITEM.to_string())),
            "an empty item is named as such"
        );
        let ids = |t| parse_value(ValueKind::IdList, t);
        assert_eq!(ids(""), Ok(Value::Ids(vec![])));
        assert_eq!(ids("100, 2000"), Ok(Value::Ids(vec![100, 2000])));
        for bad in ["0", "-1", "4294967295", "x", "1,,2", "1.5"] {
            assert!(ids(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_levels_and_group_names() {
        assert_eq!(
            parse_value(ValueKind::LogLevel, "debug"),
            Ok(Value::Level(log::LevelFilter::Debug))
        );
        assert!(parse_value(ValueKind::LogLevel, "trace").is_err());
        assert!(parse_value(ValueKind::LogLevel, "INFO").is_err());
        assert_eq!(
            parse_value(ValueKind::GroupName, "shadow"),
            Ok(Value::Text("shadow".into()))
        );
        for bad in ["", "a b", "a:b", "a\nb"] {
            assert!(parse_value(ValueKind::GroupName, bad).is_err());
        }
    }
}
