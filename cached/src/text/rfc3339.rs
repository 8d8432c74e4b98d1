//! Wall-clock formatting for `status` (UTC, RFC 3339), and reading the SCIM `dateTime`
//! values servers send (`meta.lastModified`), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// `2026-11-23T13:04:25Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Seconds from `t` to now (0 if `t` is in the future).
pub fn age_secs(t: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A SCIM `dateTime` (xsd:dateTime, RFC 3339): `2024-04-23T19:23:55`, with optional
/// fractional seconds and an optional `Z` or `±hh:mm` offset; without one it is UTC
/// (as Workbench writes them). `None` for anything else or a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let t = text.trim();
    let b = t.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = t.get(from..from + len)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let at = |i: usize| b.get(i).copied();
    if at(4) != Some(b'-') || at(7) != Some(b'-') || !matches!(at(10), Some(b'T' | b't')) {
        return None;
    }
    if at(13) != Some(b':') || at(16) != Some(b':') {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, s) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if at(i) == Some(b'.') {
        i += 1;
        let start = i;
        let mut scale: u64 = 100_000_000;
        while let Some(c) = at(i).filter(u8::is_ascii_digit) {
            nanos += u64::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset: i64 = match at(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && at(i + 3) == Some(b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            let o = oh * 3600 + om * 60;
            if sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + std::time::Duration::from_secs(secs) + std::time::Duration::from_nanos(nanos))
}

/// Howard Hinnant's civil-to-days algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_713_898_663)),
            "2024-04-23T18:57:43Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parses_scim_date_times() {
        let t = UNIX_EPOCH + Duration::from_secs(1_713_898_663);
        assert_eq!(parse_rfc3339("2024-04-23T18:57:43"), Some(t));
        assert_eq!(parse_rfc3339("2024-04-23T18:57:43Z"), Some(t));
        assert_eq!(parse_rfc3339("2024-04-23T20:57:43+02:00"), Some(t));
        assert_eq!(parse_rfc3339("2024-04-23T17:57:43-01:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2024-04-23T18:57:43.25Z"),
            Some(t + Duration::from_millis(250))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        for bad in [
            "",
            "2024-04-23",
            "2024-04-23 18:57:43",
            "2024-13-23T18:57:43Z",
            "2024-04-23T18:57:43Q",
            "2024-04-23T18:57:43.Z",
            "1969-12-31T23:59:59Z",
            "２024-04-23T18:57:43Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
