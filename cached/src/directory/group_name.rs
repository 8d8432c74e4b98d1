//! Workbench's coercion of a group's display name into a POSIX group name, used when a
//! group has no `posixGroupName` (design.md §2; Workbench "Group ID and name assignment").
//!
//! "Letter" means ASCII letter: the result must be a valid POSIX name, and ASCII-only
//! case mapping keeps the result independent of locale (`K`, the Kelvin sign, becomes `_`
//! rather than `k`).

/// At most this many characters.
pub const MAX_GROUP_NAME: usize = 32;
/// Prepended when the name is empty or does not start with a letter or `_`.
pub const GROUP_PREFIX: &str = "group_";

/// Coerces `display_name`: lowercase; spaces → `_`; any other character that is not a
/// letter, digit, `_` or `-` → `_`; runs of `_` collapsed into one; `group_` prepended when
/// empty or not starting with a letter or `_`; truncated to 32 characters. The result
/// always matches `^[a-z_][a-z0-9_-]{0,31}$`.
pub fn coerce_group_name(display_name: &str) -> String {
    let mut body = String::with_capacity(display_name.len().min(MAX_GROUP_NAME + 1));
    for c in display_name.chars() {
        // Characters past the 32nd cannot survive the truncation; stop early so a huge
        // display name costs nothing.
        if body.len() >= MAX_GROUP_NAME {
            break;
        }
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
            c
        } else {
            '_'
        };
        if c == '_' && body.ends_with('_') {
            continue;
        }
        body.push(c);
    }
    let starts_well = body
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let mut name = if starts_well {
        body
    } else {
        format!("{GROUP_PREFIX}{body}")
    };
    // ASCII only, so byte truncation is a character boundary.
    name.truncate(MAX_GROUP_NAME);
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posix::names::is_valid_posix_name;

    #[test]
    fn lowercases() {
        assert_eq!(coerce_group_name("Engineering"), "engineering");
        assert_eq!(coerce_group_name("DATA-Science"), "data-science");
    }

    #[test]
    fn spaces_become_underscores() {
        assert_eq!(coerce_group_name("data science team"), "data_science_team");
    }

    #[test]
    fn other_characters_become_underscores_and_runs_collapse() {
        assert_eq!(coerce_group_name("R&D / Ops"), "r_d_ops");
        assert_eq!(coerce_group_name("a__b"), "a_b");
        assert_eq!(coerce_group_name("a.b"), "a_b");
        assert_eq!(coerce_group_name("café"), "caf_");
        assert_eq!(coerce_group_name("a:b\nc\0d"), "a_b_c_d");
        assert_eq!(coerce_group_name("\u{212a}elvin"), "_elvin");
        assert_eq!(coerce_group_name("x  -  y"), "x_-_y");
    }

    #[test]
    fn prefix_when_empty_or_not_starting_with_letter_or_underscore() {
        assert_eq!(coerce_group_name(""), "group_");
        assert_eq!(coerce_group_name("1st team"), "group_1st_team");
        assert_eq!(coerce_group_name("-dash"), "group_-dash");
        assert_eq!(coerce_group_name("_under"), "_under");
        assert_eq!(coerce_group_name(" lead"), "_lead");
        assert_eq!(coerce_group_name("@admins"), "_admins");
    }

    #[test]
    fn truncates_to_32() {
        let long = "a".repeat(40);
        assert_eq!(coerce_group_name(&long), "a".repeat(32));
        let digits = "1".repeat(40);
        assert_eq!(
            coerce_group_name(&digits),
            format!("group_{}", "1".repeat(26))
        );
        let huge = "Ab ".repeat(3_000_000);
        assert_eq!(coerce_group_name(&huge).len(), 32);
    }

    #[test]
    fn result_is_always_a_valid_posix_name() {
        for s in [
            "",
            "x",
            "1",
            "-",
            "__",
            "ÄÖÜ",
            "a b c",
            "9999",
            "\u{0}",
            "Z".repeat(100).as_str(),
        ] {
            let n = coerce_group_name(s);
            assert!(is_valid_posix_name(&n), "{s:?} -> {n:?}");
        }
    }
}
