//! Checks applied to every value from the server before it becomes a POSIX field
//! (design.md §6). Each failure is a [`Problem`]: a refusal reason plus a detail for the
//! log that quotes at most a short, escaped excerpt (and never a shadow hash).

use super::model::RefusalReason;
pub use crate::posix::names::{is_valid_posix_name, name_problem, MAX_NAME};
use crate::posix::paths::is_normalised_absolute;
use crate::text::one_line::one_line;
use serde_json::Value;

/// `pw_dir`: `PATH_MAX`.
pub const MAX_HOME: usize = 4096;
/// `pw_gecos` is cut to this many bytes (at a character boundary) rather than refused: a
/// long display name is cosmetic and should not lock a user out.
pub const MAX_GECOS: usize = 1024;
/// SCIM `id`.
pub const MAX_SCIM_ID: usize = 256;
/// `sp_pwdp`: far above any real crypt(3) output (yescrypt and SHA-512 are ~100 bytes).
pub const MAX_SHADOW: usize = 512;
/// Member values of one group: five times the 20,000 members the design targets
/// (§8). It keeps every group record (4 + up to 65 bytes a member: 6.9 MB at most) far
/// below the wire's 16 MiB response limit, so a group can always be answered and listed.
pub const MAX_MEMBERS: usize = 100_000;
/// `(uid_t)-1`: never a valid id.
pub const INVALID_ID: u64 = u32::MAX as u64;

/// Why a value was refused, ready to become a `Refusal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: RefusalReason,
    pub detail: String,
}

impl Problem {
    pub fn new(reason: RefusalReason, detail: impl Into<String>) -> Problem {
        Problem {
            reason,
            detail: detail.into(),
        }
    }
}

/// Longest excerpt of a hostile value quoted in a detail.
pub const MAX_EXCERPT: usize = 64;

/// Whether `c` may never appear in a passwd/group/shadow field.
fn is_forbidden(c: char) -> bool {
    c == ':' || c.is_control()
}

/// Checks a free-text field: no `:` or control character (NUL, newline, C1 …), at most
/// `max` bytes.
pub fn check_field(field: &str, value: &str, max: usize) -> Result<(), Problem> {
    if value.len() > max {
        return Err(Problem::new(
            RefusalReason::FieldTooLong,
            format!("{field} is {} bytes (limit {max})", value.len()),
        ));
    }
    check_characters(field, value)
}

fn check_characters(field: &str, value: &str) -> Result<(), Problem> {
    if value.chars().any(is_forbidden) {
        return Err(Problem::new(
            RefusalReason::ControlCharacter,
            format!(
                "{field} contains ':' or a control character: '{}'",
                one_line(value, MAX_EXCERPT)
            ),
        ));
    }
    Ok(())
}

/// Checks a user or group name (from `posixUserName`, `userName` or `posixGroupName`).
pub fn check_name(field: &str, name: &str) -> Result<(), Problem> {
    check_characters(field, name)?;
    match name_problem(name) {
        None => Ok(()),
        Some(why) => Err(Problem::new(
            RefusalReason::InvalidName,
            format!("{field} '{}' {why}", one_line(name, MAX_EXCERPT)),
        )),
    }
}

/// A uid or gid: a JSON integer (not a float, not a string) in `minimum..4294967295`.
pub fn check_id(field: &str, value: &Value, minimum: u32) -> Result<u32, Problem> {
    let invalid = |what: String| Problem::new(RefusalReason::InvalidId, format!("{field} {what}"));
    let n = match value {
        Value::Number(n) => match n.as_u64() {
            Some(n) => n,
            None if n.is_i64() => return Err(invalid(format!("{n} is negative"))),
            None => {
                return Err(invalid(format!(
                    "{} is not a whole number",
                    one_line(&n.to_string(), MAX_EXCERPT)
                )))
            }
        },
        Value::String(_) => return Err(invalid("is a string, not a JSON number".to_string())),
        _ => return Err(invalid("is not a number".to_string())),
    };
    if n >= INVALID_ID {
        return Err(invalid(format!("{n} is not below 4294967295")));
    }
    let id = u32::try_from(n).map_err(|_| invalid(format!("{n} is out of range")))?;
    if id < minimum {
        // Taken-over accounts often keep ids below 1000: say which key admits them.
        let key = if field == crate::scim::attributes::POSIX_USER_ID {
            crate::config::keys::MIN_UID
        } else {
            crate::config::keys::MIN_GID
        };
        let hint = if id == 0 {
            "0 is never accepted".to_string()
        } else {
            format!("to accept it, lower {key} to {id} or less")
        };
        return Err(Problem::new(
            RefusalReason::IdBelowMinimum,
            format!("{field} {id} is below {key}={minimum}; {hint}"),
        ));
    }
    Ok(id)
}

/// An absolute, normalised home directory without forbidden characters, at most
/// [`MAX_HOME`] bytes. Where it may be (`home-must-be-under`) is `rules`' job.
pub fn check_home(home: &str) -> Result<(), Problem> {
    check_field("homeDirectory", home, MAX_HOME)?;
    if !home.starts_with('/') {
        return Err(Problem::new(
            RefusalReason::RelativeHome,
            format!(
                "homeDirectory '{}' is not an absolute path",
                one_line(home, MAX_EXCERPT)
            ),
        ));
    }
    if !is_normalised_absolute(home) {
        return Err(Problem::new(
            RefusalReason::HomeNotNormalised,
            format!(
                "homeDirectory '{}' has an empty, '.' or '..' component or a trailing '/'",
                one_line(home, MAX_EXCERPT)
            ),
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` bytes at a character boundary.
pub fn truncate_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

/// Whether `hash` is a crypt(3)-style string pam_unix can compare against: modular crypt
/// format `$id$…` (id `[a-z0-9]+`, the rest `[A-Za-z0-9./$=,+-]`, at least one more `$`),
/// or traditional 13-character DES over `[./0-9A-Za-z]`. At most [`MAX_SHADOW`] bytes.
pub fn is_crypt_hash(hash: &str) -> bool {
    if hash.len() > MAX_SHADOW {
        return false;
    }
    let salt_char = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    if hash.len() == 13 && hash.bytes().all(salt_char) {
        return true;
    }
    let Some(rest) = hash.strip_prefix('$') else {
        return false;
    };
    let Some((id, tail)) = rest.split_once('$') else {
        return false;
    };
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && !tail.is_empty()
        && tail.contains('$')
        && tail
            .bytes()
            .all(|b| salt_char(b) || matches!(b, b'$' | b'=' | b',' | b'+' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn posix_names() {
        for ok in [
            "a",
            "_",
            "alice",
            "a.b-c_d9",
            "_svc",
            "Alice",
            "John.Smith",
            "1abc",
            "007x",
            ".a",
            "a.",
            "...",
            "ALL-CAPS_9",
            &"a".repeat(64),
        ] {
            assert!(is_valid_posix_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "-a",
            "123",
            "0",
            "a b",
            "a\tb",
            "a:b",
            "a,b",
            "a/b",
            "a\nb",
            "a\0b",
            "a\u{7f}",
            "alice@example.com",
            "a+b",
            "a$",
            "ä",
            "a\u{a0}b",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_posix_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn names_with_forbidden_characters_are_control_character() {
        for bad in ["a:b", "a\nb", "a\0b", "a\u{85}b", "a\u{7f}"] {
            assert_eq!(
                check_name("posixUserName", bad).unwrap_err().reason,
                RefusalReason::ControlCharacter,
                "{bad:?}"
            );
        }
        assert!(check_name("posixUserName", "Bob").is_ok());
        for (bad, says) in [
            ("a,b", "','"),
            ("a/b", "'/'"),
            ("a b", "whitespace"),
            ("4242", "all digits"),
            ("-x", "starts with '-'"),
            ("..", "'.' or '..'"),
            ("", "empty"),
        ] {
            let e = check_name("posixUserName", bad).unwrap_err();
            assert_eq!(e.reason, RefusalReason::InvalidName, "{bad:?}");
            assert!(e.detail.contains(says), "{bad:?}: {}", e.detail);
        }
        let e = check_name("posixUserName", &"x".repeat(10_000)).unwrap_err();
        assert_eq!(e.reason, RefusalReason::InvalidName);
        assert!(e.detail.len() < 200, "detail stays short: {}", e.detail);
    }

    #[test]
    fn ids_are_strict_json_integers() {
        assert_eq!(check_id("posixUserId", &json!(1000), 1000), Ok(1000));
        assert_eq!(
            check_id("posixUserId", &json!(4_294_967_294u64), 1000),
            Ok(4_294_967_294)
        );
        for (v, reason) in [
            (json!(4_294_967_295u64), RefusalReason::InvalidId),
            (json!(4_294_967_296u64), RefusalReason::InvalidId),
            (json!(u64::MAX), RefusalReason::InvalidId),
            (json!(-1), RefusalReason::InvalidId),
            (json!(1000.0), RefusalReason::InvalidId),
            (json!(1e300), RefusalReason::InvalidId),
            (json!("1000"), RefusalReason::InvalidId),
            (json!(true), RefusalReason::InvalidId),
            (json!([1000]), RefusalReason::InvalidId),
            (json!({}), RefusalReason::InvalidId),
            (json!(0), RefusalReason::IdBelowMinimum),
            (json!(999), RefusalReason::IdBelowMinimum),
        ] {
            assert_eq!(
                check_id("posixUserId", &v, 1000).unwrap_err().reason,
                reason,
                "{v}"
            );
        }
        // The detail names the key that admits the id.
        let low = check_id("posixUserId", &json!(500), 1000).unwrap_err();
        assert!(
            low.detail.contains("lower min-uid to 500"),
            "{}",
            low.detail
        );
        let low = check_id("posixGroupId", &json!(500), 1000).unwrap_err();
        assert!(
            low.detail.contains("lower min-gid to 500"),
            "{}",
            low.detail
        );
        // Even with a minimum of 1, 0 is refused.
        assert_eq!(
            check_id("posixUserId", &json!(0), 1).unwrap_err().reason,
            RefusalReason::IdBelowMinimum
        );
    }

    #[test]
    fn homes() {
        assert!(check_home("/home/alice").is_ok());
        assert_eq!(
            check_home("home/alice").unwrap_err().reason,
            RefusalReason::RelativeHome
        );
        assert_eq!(
            check_home("").unwrap_err().reason,
            RefusalReason::RelativeHome
        );
        assert_eq!(
            check_home("/home/a:b").unwrap_err().reason,
            RefusalReason::ControlCharacter
        );
        assert_eq!(
            check_home("/home/a\nb").unwrap_err().reason,
            RefusalReason::ControlCharacter
        );
        for bad in [
            "/home/../etc/systemd/system/x.service.d",
            "/home/..",
            "/home/./alice",
            "/./home",
            "/home//alice",
            "//home/alice",
            "/home/alice/",
            "/home/alice/.",
        ] {
            assert_eq!(
                check_home(bad).unwrap_err().reason,
                RefusalReason::HomeNotNormalised,
                "{bad}"
            );
        }
        for ok in [
            "/",
            "/home/a..b",
            "/home/.alice",
            "/srv/homes/alice",
            "/home/...",
        ] {
            assert!(check_home(ok).is_ok(), "{ok}");
        }
        let long = format!("/{}", "a".repeat(MAX_HOME));
        assert_eq!(
            check_home(&long).unwrap_err().reason,
            RefusalReason::FieldTooLong
        );
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_at_char_boundary("héllo", 2), "h");
        assert_eq!(truncate_at_char_boundary("héllo", 3), "hé");
        assert_eq!(truncate_at_char_boundary("abc", 10), "abc");
    }

    #[test]
    fn crypt_hashes() {
        for ok in [
            "$6$rounds=5000$saltsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./",
            "$y$j9T$F5Jx5fExrKuJdCdHnEfJK.$cC3bQz1TVvEkwIG.7t2a4Y2m7CsU8TT3cSGVOH.ZdV7",
            "$1$salt$qJH7.N4xYta3aEG/dfqo/0",
            "$2b$12$abcdefghijklmnopqrstuu5Ltw.Od7o0sVkL2aZ5cX6h3VwhW0fGi",
            "$5$salt$x",
            "abJnggxhB/yWI",
        ] {
            assert!(is_crypt_hash(ok), "{ok}");
        }
        for bad in [
            "",
            "*",
            "!",
            "plaintext",
            "$6$",
            "$6$salt",
            "$$salt$hash",
            "$6$salt$ha:sh",
            "$6$salt$ha\nsh",
            "$6$salt$ha sh",
            "$6$salt$häsh",
            "$X$salt$hash",
            "abJnggxhB/yW:",
            "abJnggxhB/yW",
        ] {
            assert!(!is_crypt_hash(bad), "{bad:?}");
        }
        assert!(!is_crypt_hash(&format!(
            "$6$salt${}",
            "a".repeat(MAX_SHADOW)
        )));
    }

    #[test]
    fn excerpts_are_short_and_escaped() {
        assert_eq!(one_line("a\nb", MAX_EXCERPT), "a\\nb");
        assert!(one_line(&"z".repeat(1_000_000), MAX_EXCERPT).len() < 100);
    }
}
