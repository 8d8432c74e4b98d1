//! `server-address`: parsed into a [`ServerAddress`] whose base ends in `/scim/v2`.
//!
//! The loopback rule for `http://` (design.md §3) lives here once, as [`HttpHost`]: the
//! configuration check and the transport both use it, so no address can pass one and
//! fail the other.

use super::ServerAddress;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// The path of the SCIM API below a server's base URL (RFC 7644 §3.13 versioning).
pub const SCIM_BASE_SUFFIX: &str = "/scim/v2";

impl ServerAddress {
    /// The base URL the SCIM paths are appended to (`unix:` addresses: the socket and
    /// the path), for messages.
    pub fn base_url(&self) -> String {
        match self {
            ServerAddress::Https { origin, base_path }
            | ServerAddress::Http {
                origin, base_path, ..
            } => format!("{origin}{base_path}"),
            ServerAddress::Unix { socket, base_path } => {
                format!("unix:{}{base_path}", socket.display())
            }
        }
    }
}

/// The host of an `http://` address, classified once for the loopback rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpHost {
    /// A literal address in 127.0.0.0/8 or `::1`: the request never leaves the machine.
    LoopbackLiteral(IpAddr),
    /// A literal address anywhere else: the token would cross a network in clear.
    RemoteLiteral(IpAddr),
    /// A name (`localhost`, the node's own name): it is resolved, and without
    /// `allow-insecure-http` only loopback addresses are connected to. A name says
    /// nothing by itself (`/etc/hosts` or DNS may map `localhost.` anywhere).
    Name(String),
}

impl HttpHost {
    fn classify(host: &str) -> HttpHost {
        let literal = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            None => host.parse::<IpAddr>().ok(),
        };
        match literal {
            Some(ip) if ip.is_loopback() => HttpHost::LoopbackLiteral(ip),
            Some(ip) => HttpHost::RemoteLiteral(ip),
            None => HttpHost::Name(host.to_ascii_lowercase()),
        }
    }
}

/// `http://` without `allow-insecure-http` reached a host that is not loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotLoopback {
    /// The host as written in `server-address`.
    pub host: String,
    /// The first address that is not loopback (the literal itself, or what the name
    /// resolved to).
    pub address: IpAddr,
}

impl fmt::Display for NotLoopback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.trim_matches(['[', ']']) == self.address.to_string() {
            write!(f, "{} is not a loopback address", self.host)
        } else {
            write!(
                f,
                "{} resolves to {}, which is not a loopback address",
                self.host, self.address
            )
        }
    }
}

impl std::error::Error for NotLoopback {}

/// Checks that every address `host` resolved to is loopback (127.0.0.0/8, `::1`, or an
/// IPv4-mapped loopback address).
pub fn check_resolved(host: &str, addresses: &[SocketAddr]) -> Result<(), NotLoopback> {
    match addresses
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| !is_loopback_ip(*ip))
    {
        Some(address) => Err(NotLoopback {
            host: host.to_string(),
            address,
        }),
        None => Ok(()),
    }
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// A syntactically valid address. For `http://` the host's class decides, once all
/// files are read, whether `allow-insecure-http=1` is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAddress {
    pub address: ServerAddress,
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
    let origin = format!("{scheme}://{}", authority.to_ascii_lowercase());
    let base_path = with_scim_suffix(path);
    let address = if scheme == "https" {
        ServerAddress::Https { origin, base_path }
    } else {
        ServerAddress::Http {
            origin,
            base_path,
            host: HttpHost::classify(host),
        }
    };
    Ok(ParsedAddress { address })
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

    /// What the transport used to split out of the URL again (a second parser), now
    /// split here once: origin and base path.
    #[test]
    fn base_paths() {
        let split = |u: &str| match parse_server_address(u).unwrap().address {
            ServerAddress::Https { origin, base_path } => (origin, base_path),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            split("https://wb.example.com"),
            ("https://wb.example.com".into(), "/scim/v2".into())
        );
        assert_eq!(
            split("https://wb:8443/rstudio/"),
            ("https://wb:8443".into(), "/rstudio/scim/v2".into())
        );
        assert_eq!(
            split("HTTPS://wb/scim/v2/"),
            ("https://wb".into(), "/scim/v2".into())
        );
        assert!(parse_server_address("https://u:p@wb").is_err());
        assert!(parse_server_address("https://wb/?x=1").is_err());
        assert!(parse_server_address("https:///x").is_err());
        assert_eq!(
            parse_server_address("https://wb:8443/x")
                .unwrap()
                .address
                .base_url(),
            "https://wb:8443/x/scim/v2"
        );
    }

    fn url(text: &str) -> (String, Option<HttpHost>) {
        let p = parse_server_address(text).unwrap();
        let base_url = p.address.base_url();
        match p.address {
            ServerAddress::Https { .. } => (base_url, None),
            ServerAddress::Http { host, .. } => (base_url, Some(host)),
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
    fn http_hosts_are_classified_once() {
        for a in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://[::1]:80",
        ] {
            assert!(
                matches!(url(a).1, Some(HttpHost::LoopbackLiteral(_))),
                "{a}"
            );
        }
        for (a, name) in [
            ("http://localhost:5559/", "localhost"),
            ("http://LOCALHOST.", "localhost."),
            ("http://wb.example.com", "wb.example.com"),
            ("http://127.0.0.1.evil.com", "127.0.0.1.evil.com"),
        ] {
            assert_eq!(url(a).1, Some(HttpHost::Name(name.into())), "{a}");
        }
        assert_eq!(
            url("http://10.0.0.1").1,
            Some(HttpHost::RemoteLiteral("10.0.0.1".parse().unwrap()))
        );
        assert_eq!(
            url("http://[::ffff:127.0.0.1]").1,
            Some(HttpHost::RemoteLiteral("::ffff:127.0.0.1".parse().unwrap())),
            "a literal must be plainly loopback"
        );
        assert_eq!(url("https://wb.example.com").1, None);
    }

    #[test]
    fn resolved_addresses_must_all_be_loopback() {
        let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(check_resolved("localhost", &[sa("127.0.0.1:80"), sa("[::1]:80")]).is_ok());
        assert!(check_resolved("h", &[sa("[::ffff:127.0.0.2]:80")]).is_ok());
        let e = check_resolved("localhost", &[sa("127.0.0.1:80"), sa("10.0.0.5:80")]).unwrap_err();
        assert_eq!(e.address, "10.0.0.5".parse::<IpAddr>().unwrap());
        assert_eq!(
            e.to_string(),
            "localhost resolves to 10.0.0.5, which is not a loopback address"
        );
        let e = check_resolved("10.0.0.5", &[sa("10.0.0.5:80")]).unwrap_err();
        assert_eq!(e.to_string(), "10.0.0.5 is not a loopback address");
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
