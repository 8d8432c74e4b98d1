//! One authenticated `GET` against the configured server (design.md §2, §3, §7).
//!
//! * `https://`: TLS always verified. Without `ca-file`, against the system's roots
//!   through `rustls-platform-verifier` (on Linux: the distribution bundle that
//!   `update-ca-certificates` / `update-ca-trust` maintain, or `SSL_CERT_FILE`). With
//!   `ca-file`, against exactly the certificates of that PEM bundle (a private CA).
//! * `http://`: only to a loopback host unless `allow-insecure-http` (checked again
//!   here although the config layer checks it: the token must never cross a network
//!   in clear by accident). A name is resolved at each connection and every address it
//!   resolves to must be loopback ([`LoopbackOnlyResolver`]).
//! * `unix:/path`: HTTP/1.1 over a Unix socket, see [`super::unix_transport`]; the peer
//!   is checked before the token is sent.
//!
//! Every request: `request-timeout` bounds the whole exchange (connect, headers, body);
//! the body is capped ([`MAX_BODY_BYTES`]); redirects are never followed (a 3xx is
//! returned to the caller as is); proxies from the environment are ignored, so the
//! token goes to `server-address` and nowhere else. A request that is part of a sync
//! ([`HttpTransport::get_within`]) is bounded further by what is left of the sync's
//! [`SyncBudget`]: its timeout and body cap shrink to the time and bytes left.

use std::path::Path;
use std::time::Duration;

use ureq::http::HeaderValue;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

use super::budget::SyncBudget;
use super::error::{scim_error_detail, ScimError, MAX_SERVER_TEXT};
use super::unix_transport::{NoResolver, UnixConnector, UntrustedSocket};
use crate::config::address::{check_resolved, HttpHost, NotLoopback};
use crate::config::ServerAddress;
use crate::text::one_line::one_line;
use crate::tokens::secret::BearerToken;

/// Largest response body accepted for one page. Generous on purpose: one user with a
/// 10 MB `displayName` must still fit; anything beyond is a hostile or broken server.
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;

/// Largest error body read to find an RFC 7644 `detail`; larger ones are ignored.
const MAX_ERROR_BODY_BYTES: u64 = 64 * 1024;

/// The media type of RFC 7644.
const SCIM_MEDIA_TYPE: &str = "application/scim+json";

/// What came back for one request.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The body for a 200 (up to [`MAX_BODY_BYTES`]); for other statuses the body if it
    /// was small enough to look for an error detail, else empty.
    pub body: Vec<u8>,
    /// The `Location` of a 3xx, sanitized for logs.
    pub location: Option<String>,
}

impl HttpResponse {
    /// The body of a 200; any other status as the matching [`ScimError`]. `filtered` says
    /// whether the request carried a `filter`: a 400 then means the server does not
    /// support that filter, and the caller falls back to its full copy.
    pub fn into_ok_body(self, path: &str, filtered: bool) -> Result<Vec<u8>, ScimError> {
        let path = path.to_string();
        match self.status {
            200 => Ok(self.body),
            300..=399 => Err(ScimError::Redirect {
                path,
                status: self.status,
                location: self.location,
            }),
            401 | 403 => Err(ScimError::Unauthorized {
                path,
                status: self.status,
            }),
            400 if filtered => Err(ScimError::BadFilter {
                path,
                reason: match scim_error_detail(&self.body) {
                    Some(detail) => format!("HTTP 400: {detail}"),
                    None => "HTTP 400".to_string(),
                },
            }),
            status => Err(ScimError::Http {
                path,
                status,
                scim_detail: scim_error_detail(&self.body),
            }),
        }
    }
}

/// Which kind of connection an [`HttpTransport`] makes (for error classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    Http,
    Unix,
}

/// A configured connection to the SCIM server. Cheap to share: `Send + Sync`, and the
/// agent inside keeps a small pool of idle connections for paging.
#[derive(Debug)]
pub struct HttpTransport {
    agent: Agent,
    /// `https://host:port` (no path); `http://localhost` for a Unix socket.
    origin: String,
    /// Path of the SCIM base, always ending in `/scim/v2`, never in `/`.
    base_path: String,
    scheme: Scheme,
    /// `request-timeout`, which a sync's deadline may shorten per request.
    request_timeout: Duration,
}

impl HttpTransport {
    /// Builds the agent once. Fails on an unreadable or empty `ca-file`, a malformed
    /// address, or `http://` to a non-loopback host without `allow_insecure_http`.
    pub fn new(
        address: &ServerAddress,
        ca_file: Option<&Path>,
        request_timeout: Duration,
        allow_insecure_http: bool,
    ) -> Result<HttpTransport, ScimError> {
        // Parsed once, in the configuration (`config::address`): used as it is here.
        let (scheme, origin, base_path) = match address {
            ServerAddress::Https { origin, base_path } => {
                (Scheme::Https, origin.clone(), base_path.clone())
            }
            ServerAddress::Http {
                origin,
                base_path,
                host,
            } => {
                if let (HttpHost::RemoteLiteral(ip), false) = (host, allow_insecure_http) {
                    return Err(ScimError::Config(format!(
                        "server-address {origin}{base_path}: http:// is allowed only to a \
                         loopback host unless allow-insecure-http=1 (the token would cross \
                         the network in clear): {ip} is not a loopback address"
                    )));
                }
                (Scheme::Http, origin.clone(), base_path.clone())
            }
            ServerAddress::Unix { base_path, .. } => (
                Scheme::Unix,
                "http://localhost".to_string(),
                base_path.clone(),
            ),
        };

        let root_certs = match (scheme, ca_file) {
            (Scheme::Https, Some(file)) => RootCerts::new_with_certs(&read_ca_file(file)?),
            _ => RootCerts::PlatformVerifier,
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .https_only(scheme == Scheme::Https)
            .timeout_global(Some(request_timeout))
            .user_agent(concat!("workbench-cached/", env!("CARGO_PKG_VERSION")))
            .accept(SCIM_MEDIA_TYPE)
            .tls_config(TlsConfig::builder().root_certs(root_certs).build())
            .build();
        let agent = match address {
            ServerAddress::Unix { socket, .. } => {
                Agent::with_parts(config, UnixConnector::new(socket.clone()), NoResolver)
            }
            // Every connection goes to an address the resolver returned, so checking
            // them there checks the connected peer (a literal resolves to itself).
            ServerAddress::Http { .. } if !allow_insecure_http => {
                Agent::with_parts(config, DefaultConnector::new(), LoopbackOnlyResolver)
            }
            _ => config.new_agent(),
        };
        Ok(HttpTransport {
            agent,
            origin,
            base_path,
            scheme,
            request_timeout,
        })
    }

    /// The request path for `relative` (e.g. `Users?startIndex=1&count=500`), as used in
    /// errors and logs: `/scim/v2/Users?startIndex=1&count=500`.
    pub fn path_for(&self, relative: &str) -> String {
        format!("{}/{}", self.base_path, relative.trim_start_matches('/'))
    }

    /// `GET <base>/<relative>` with the bearer token. Any HTTP status is a success here;
    /// see [`HttpResponse::into_ok_body`].
    pub fn get(&self, relative: &str, token: &BearerToken) -> Result<HttpResponse, ScimError> {
        let path = self.path_for(relative);
        let auth = auth_header(token, &path)?;
        self.exchange(&path, auth, self.request_timeout, MAX_BODY_BYTES)
            .map_err(|e| self.map_error(e, &path))
    }

    /// [`HttpTransport::get`] as one request of a sync: its timeout is cut to the time
    /// left before the sync's deadline and its body to the bytes left in the sync's
    /// budget, and the body is paid for. Running out of either is
    /// [`ScimError::PastDeadline`] or [`ScimError::OverBudget`], never a plain timeout
    /// or size error, so the operator learns which key to look at.
    pub fn get_within(
        &self,
        relative: &str,
        token: &BearerToken,
        budget: &mut SyncBudget,
    ) -> Result<HttpResponse, ScimError> {
        let path = self.path_for(relative);
        let auth = auth_header(token, &path)?;
        let past_deadline = |path: String| ScimError::PastDeadline {
            path,
            deadline: budget.deadline(),
        };
        let time_left = budget.remaining_time();
        if time_left.is_zero() {
            return Err(past_deadline(path));
        }
        let bytes_left = budget.remaining_bytes();
        let cut_by_deadline = time_left < self.request_timeout;
        let cut_by_budget = bytes_left < MAX_BODY_BYTES;
        let result = self.exchange(
            &path,
            auth,
            time_left.min(self.request_timeout),
            bytes_left.min(MAX_BODY_BYTES),
        );
        match result {
            Ok(response) => {
                budget.spend(response.body.len() as u64);
                Ok(response)
            }
            Err(ureq::Error::BodyExceedsLimit(_)) if cut_by_budget => {
                budget.spend(bytes_left);
                Err(ScimError::OverBudget {
                    path,
                    max_bytes: budget.max_bytes(),
                })
            }
            Err(e) => match self.map_error(e, &path) {
                ScimError::Timeout { .. } if cut_by_deadline => Err(past_deadline(path)),
                other => Err(other),
            },
        }
    }

    /// One GET with this timeout for the whole exchange and this cap on a 200's body.
    fn exchange(
        &self,
        path: &str,
        auth: HeaderValue,
        timeout: Duration,
        body_limit: u64,
    ) -> Result<HttpResponse, ureq::Error> {
        let url = format!("{}{}", self.origin, path);

        let mut response = self
            .agent
            .get(&url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Authorization", auth)
            .call()?;

        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| one_line(&String::from_utf8_lossy(l.as_bytes()), MAX_SERVER_TEXT));
        let body = if status == 200 {
            response
                .body_mut()
                .with_config()
                .limit(body_limit)
                .read_to_vec()?
        } else {
            // Only to look for a SCIM error detail: a failure here must not hide the
            // status, which is what the caller acts on.
            response
                .body_mut()
                .with_config()
                .limit(MAX_ERROR_BODY_BYTES.min(body_limit))
                .read_to_vec()
                .unwrap_or_default()
        };
        log::debug!("GET {path}: HTTP {status}, {} bytes", body.len());
        Ok(HttpResponse {
            status,
            body,
            location,
        })
    }

    fn map_error(&self, err: ureq::Error, path: &str) -> ScimError {
        map_ureq_error(err, path, self.scheme == Scheme::Https)
    }
}

/// The `Authorization` header, marked sensitive so that it is never logged or shown.
fn auth_header(token: &BearerToken, path: &str) -> Result<HeaderValue, ScimError> {
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        ScimError::InvalidToken {
            path: path.to_string(),
        }
    })?;
    auth.set_sensitive(true);
    Ok(auth)
}

/// Translates ureq's error into ours. `tls` says the connection was HTTPS: rustls
/// reports certificate and handshake failures as `io::ErrorKind::InvalidData`.
fn map_ureq_error(err: ureq::Error, path: &str, tls: bool) -> ScimError {
    use std::io::ErrorKind;
    let path = path.to_string();
    match err {
        ureq::Error::Timeout(_) => ScimError::Timeout { path },
        ureq::Error::HostNotFound => ScimError::Connect {
            path,
            reason: "host not found".to_string(),
        },
        ureq::Error::ConnectionFailed => ScimError::Connect {
            path,
            reason: "connection failed".to_string(),
        },
        ureq::Error::Io(e) if e.get_ref().is_some_and(|i| i.is::<NotLoopback>()) => {
            ScimError::NotLoopback {
                path,
                reason: e.to_string(),
            }
        }
        ureq::Error::Io(e) if e.get_ref().is_some_and(|i| i.is::<UntrustedSocket>()) => {
            ScimError::UntrustedSocket {
                path,
                reason: e.to_string(),
            }
        }
        ureq::Error::Io(e) => match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => ScimError::Timeout { path },
            ErrorKind::ConnectionRefused
            | ErrorKind::NotFound
            | ErrorKind::PermissionDenied
            | ErrorKind::AddrNotAvailable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NetworkDown => ScimError::Connect {
                path,
                reason: e.to_string(),
            },
            ErrorKind::InvalidData if tls => ScimError::Tls {
                path,
                reason: e.to_string(),
            },
            _ => ScimError::Transport {
                path,
                reason: e.to_string(),
            },
        },
        ureq::Error::Rustls(e) => ScimError::Tls {
            path,
            reason: e.to_string(),
        },
        ureq::Error::Tls(e) => ScimError::Tls {
            path,
            reason: e.to_string(),
        },
        ureq::Error::BodyExceedsLimit(limit) => ScimError::TooLarge {
            path,
            reason: format!("body larger than {limit} bytes"),
        },
        ureq::Error::LargeResponseHeader(size, limit) => ScimError::TooLarge {
            path,
            reason: format!("response header of {size} bytes (limit {limit})"),
        },
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::RequireHttpsOnly(_) => {
            ScimError::Config(format!("cannot build a request for {path}: {err}"))
        }
        ureq::Error::Protocol(e) => ScimError::Transport {
            path,
            reason: format!("HTTP protocol error: {e}"),
        },
        other => ScimError::Transport {
            path,
            reason: other.to_string(),
        },
    }
}

/// `http://` without `allow-insecure-http`: resolves as usual, then refuses the lot
/// unless every address is loopback ([`check_resolved`], the rule `check-config` uses).
#[derive(Debug)]
struct LoopbackOnlyResolver;

impl Resolver for LoopbackOnlyResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addresses = DefaultResolver::default().resolve(uri, config, timeout)?;
        let host = uri.host().unwrap_or("");
        check_resolved(host, &addresses).map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
        Ok(addresses)
    }
}

/// The certificates of a PEM bundle; an unreadable file or one without any
/// certificate is a configuration error (never a silent fallback to system roots).
fn read_ca_file(file: &Path) -> Result<Vec<Certificate<'static>>, ScimError> {
    let bad = |why: String| ScimError::Config(format!("ca-file {}: {why}", file.display()));
    let pem = std::fs::read(file).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("bad PEM: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(bad("no certificate in the file".to_string()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> ServerAddress {
        crate::config::address::parse_server_address(url)
            .unwrap()
            .address
    }

    #[test]
    fn loopback_only_for_http() {
        for host in ["localhost", "127.0.0.1", "127.1.2.3", "[::1]"] {
            let addr = http(&format!("http://{host}:8080"));
            HttpTransport::new(&addr, None, Duration::from_secs(1), false).unwrap();
        }
        let remote = http("http://10.1.2.3");
        let err = HttpTransport::new(&remote, None, Duration::from_secs(1), false).unwrap_err();
        assert!(matches!(err, ScimError::Config(_)), "{err}");
        HttpTransport::new(&remote, None, Duration::from_secs(1), true).unwrap();
    }

    #[test]
    fn loopback_only_resolver_refuses_any_other_address() {
        let config = Agent::config_builder().build();
        let resolve = |u: &str| {
            LoopbackOnlyResolver.resolve(
                &u.parse::<ureq::http::Uri>().unwrap(),
                &config,
                NextTimeout::default(),
            )
        };
        assert!(resolve("http://127.0.0.1:80/").is_ok());
        assert!(resolve("http://localhost:80/").is_ok());
        let err = resolve("http://10.1.2.3:80/").unwrap_err();
        let err = map_ureq_error(err, "/scim/v2/Users", false);
        assert!(matches!(err, ScimError::NotLoopback { .. }), "{err}");
        assert!(err.to_string().contains("10.1.2.3"), "{err}");
    }

    #[test]
    fn ca_file_must_hold_a_certificate() {
        let dir = std::env::temp_dir().join(format!("scim-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a pem\n").unwrap();
        let addr = http("https://localhost");
        for file in [empty.as_path(), dir.join("missing.pem").as_path()] {
            let err =
                HttpTransport::new(&addr, Some(file), Duration::from_secs(1), false).unwrap_err();
            assert!(matches!(err, ScimError::Config(_)), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
