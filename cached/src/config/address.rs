//! `server-address`: parsed into a [`ServerAddress`] whose base ends in `/scim/v2`.

use super::ServerAddress;
use crate::scim::attributes::SCIM_BASE_SUFFIX;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// A syntactically valid address, and the host when it is `http://` to a host that is
/// not loopback (allowed only with `allow-insecure-http=1`, checked after all files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAddress {
    pub address: ServerAddress,
    pub insecure_host: Option<String>,
}

/// Parses `server-address`. The error is a short reason, appended to the "expected …"
/// message by the caller.
pub fn parse_server_address(text: &str) -> Result<ParsedAddress, String> {
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("whitespace or control characters in the address".to_string());
    }
    if let Some(path) = strip_prefix_ignore_case(text, "unix:") {
        return parse_unix(path);
    }
    let (scheme, rest) = if let Some(rest) = strip_prefix_ignore_case(text, "https://") {
        ("https", rest)
    } else if let Some(rest) = strip_prefix_ignore_case(text, "http://") {
        ("http", rest)
    } else {
        return Err("unknown scheme".to_string());
    };
    if rest.contains(['?', '#']) {
        return Err("a query or fragment is not allowed".to_string());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.contains('@') {
        // Credentials in the URL would end up in `status` and logs.
        return Err("user information (user@host) is not allowed".to_string());
    }
    let (host, port) = split_host_port(authority)?;
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("bad port '{port}'")),
        }
    }
    check_host(host)?;
    let base_url = format!(
        "{scheme}://{}{}",
        authority.to_ascii_lowercase(),
        with_scim_suffix(path)
    );
    let insecure_host = if scheme == "http" && !is_loopback(host) {
        Some(host.to_string())
    } else {
        None
    };
    let address = if scheme == "https" {
        ServerAddress::Https { base_url }
    } else {
        ServerAddress::Http { base_url }
    };
    Ok(ParsedAddress {
        address,
        insecure_host,
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

fn parse_unix(path: &str) -> Result<ParsedAddress, String> {
    if !path.starts_with('/') {
        return Err("the socket path after unix: must be absolute".to_string());
    }
    if path.len() > 107 {
        // sun_path holds 108 bytes including the terminating NUL.
        return Err("the socket path is longer than 107 bytes".to_string());
    }
    Ok(ParsedAddress {
        address: ServerAddress::Unix {
            socket: PathBuf::from(path),
            base_path: SCIM_BASE_SUFFIX.to_string(),
        },
        insecure_host: None,
    })
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if authority.is_empty() {
        return Err("no host".to_string());
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("unterminated [IPv6] host")?;
        let (inner, after) = rest.split_at(end);
        let after = after.get(1..).unwrap_or("");
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after ]")?),
        };
        // Keep the brackets in the host so `check_host` knows it is IPv6.
        let host = authority.get(..inner.len() + 2).ok_or("bad IPv6 host")?;
        return Ok((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("bad IPv6 address '{inner}'"));
    }
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(format!("bad host name '{host}'"))
    }
}

/// 127.0.0.0/8, `::1` and `localhost` (the names that never leave the machine).
pub fn is_loopback(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok_and(|a| a.is_loopback());
    }
    if host.eq_ignore_ascii_case("localhost") || host.eq_ignore_ascii_case("localhost.") {
        return true;
    }
    host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// `path` without trailing slashes, with `/scim/v2` appended unless already there.
fn with_scim_suffix(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.ends_with(SCIM_BASE_SUFFIX) {
        trimmed.to_string()
    } else {
        format!("{trimmed}{SCIM_BASE_SUFFIX}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> (String, Option<String>) {
        let p = parse_server_address(text).unwrap();
        match p.address {
            ServerAddress::Https { base_url } | ServerAddress::Http { base_url } => {
                (base_url, p.insecure_host)
            }
            ServerAddress::Unix { .. } => panic!("unix"),
        }
    }

    #[test]
    fn https_gets_the_scim_suffix_once() {
        assert_eq!(
            url("https://wb.example.com").0,
            "https://wb.example.com/scim/v2"
        );
        assert_eq!(
            url("https://wb.example.com/").0,
            "https://wb.example.com/scim/v2"
        );
        assert_eq!(
            url("https://wb.example.com:8443/rstudio/").0,
            "https://wb.example.com:8443/rstudio/scim/v2"
        );
        assert_eq!(url("https://h/scim/v2").0, "https://h/scim/v2");
        assert_eq!(url("https://h/scim/v2/").0, "https://h/scim/v2");
        assert_eq!(
            url("HTTPS://WB.Example.com").0,
            "https://wb.example.com/scim/v2"
        );
        assert_eq!(
            url("https://[2001:db8::1]:443").0,
            "https://[2001:db8::1]:443/scim/v2"
        );
    }

    #[test]
    fn http_loopback_is_secure_enough() {
        for a in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:5559/",
            "http://[::1]:80",
        ] {
            assert_eq!(url(a).1, None, "{a}");
        }
        assert_eq!(
            url("http://wb.example.com").1.as_deref(),
            Some("wb.example.com")
        );
        assert_eq!(
            url("http://127.0.0.1.evil.com").1.as_deref(),
            Some("127.0.0.1.evil.com")
        );
        assert_eq!(url("http://10.0.0.1").1.as_deref(), Some("10.0.0.1"));
        assert_eq!(url("https://wb.example.com").1, None);
    }

    #[test]
    fn unix_socket() {
        let p = parse_server_address("unix:/run/rstudio-server/scim.sock").unwrap();
        assert_eq!(
            p.address,
            ServerAddress::Unix {
                socket: "/run/rstudio-server/scim.sock".into(),
                base_path: "/scim/v2".into()
            }
        );
        assert!(parse_server_address("unix:relative.sock").is_err());
        assert!(parse_server_address(&format!("unix:/{}", "a".repeat(200))).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        for a in [
            "",
            "wb.example.com",
            "ftp://x",
            "https://",
            "https://user:pw@host",
            "https://host:0",
            "https://host:99999",
            "https://host:+1",
            "https://ho st",
            "https://host/?q=1",
            "https://host/#x",
            "https://[::1",
            "https://[nothex]",
            "https://[::1]x",
            "https://-host",
            "https://ho_st",
            "https://host\n",
        ] {
            assert!(parse_server_address(a).is_err(), "{a:?} accepted");
        }
    }
}
