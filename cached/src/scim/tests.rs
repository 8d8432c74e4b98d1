//! End-to-end tests of the SCIM client against canned servers on loopback, a Unix
//! socket, and (when the `openssl` CLI exists) TLS with a private CA.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::budget::SyncBudget;
use super::test_server::{chunked, json as json_reply, reply, temp_path, Reply, TestServer};
use super::{GroupFilter, ScimClient, ScimError, UserFilter};
use crate::config::address::parse_server_address;
use crate::config::{Config, ServerAddress};
use crate::tokens::secret::BearerToken;
use std::os::unix::fs::PermissionsExt;

const TOKEN: &str = "tok-5ecret-do-not-leak-7f3a";

fn token() -> BearerToken {
    BearerToken::new(TOKEN.to_string())
}

/// The address as `server-address` would give it (one parser for every path).
fn parsed(text: &str) -> ServerAddress {
    parse_server_address(text).unwrap().address
}

fn config(server_address: ServerAddress, page_size: u32) -> Config {
    Config {
        server_address,
        server_address_text: String::new(),
        user_token_path: PathBuf::from("/nonexistent/user"),
        admin_token_path: PathBuf::from("/nonexistent/admin"),
        socket_path: PathBuf::from("/nonexistent/socket"),
        cache_path: PathBuf::from("/nonexistent/cache.db"),
        ca_file: None,
        positive_ttl: Duration::from_secs(300),
        negative_ttl: Duration::from_secs(30),
        max_stale: Duration::from_secs(604800),
        sync_interval: Duration::from_secs(600),
        full_sync_interval: Duration::from_secs(86400),
        request_timeout: Duration::from_secs(1),
        page_size,
        min_uid: 1000,
        min_gid: 1000,
        default_shell: "/bin/bash".into(),
        home_root: "/home".into(),
        home_must_be_under: Vec::new(),
        reserved_names: Default::default(),
        local_primary_gids: Default::default(),
        user_private_groups: true,
        enumerate: true,
        shadow_group: "shadow".into(),
        allow_insecure_http: false,
        log_level: log::LevelFilter::Info,
        sync_max_bytes: 1 << 30,
        sync_deadline: Duration::from_secs(600),
    }
}

fn tcp_client(server: &TestServer, page_size: u32) -> ScimClient {
    let address = parsed(&format!("http://127.0.0.1:{}", server.port()));
    ScimClient::new(&config(address, page_size)).unwrap()
}

fn user(n: u64) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": n.to_string(),
        "userName": format!("user{n}@example.com"),
    })
}

fn list(total: u64, start: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// A well-behaved paging server over `total` users that returns at most `cap` per page.
fn paging_reply(req: &super::test_server::Request, total: u64, cap: u64) -> Reply {
    let start = req.query_u64("startIndex").unwrap_or(1).max(1);
    let count = req.query_u64("count").unwrap_or(cap).min(cap);
    let end = (start + count).min(total + 1);
    let page = (start..end).map(user).collect();
    json_reply(200, &list(total, start, page))
}

/// The error must not be a success, must be the expected kind, and must not leak.
fn assert_clean(err: &ScimError) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    assert!(!shown.contains("Bearer"), "header leaked: {shown}");
}

fn ids(resources: &[Value]) -> Vec<String> {
    resources
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn paging_follows_short_pages_and_sends_the_token() {
    let server = TestServer::tcp(|req| paging_reply(req, 10, 3));
    let users = tcp_client(&server, 5).fetch_all_users(&token()).unwrap();
    assert_eq!(
        ids(&users),
        (1..=10).map(|n| n.to_string()).collect::<Vec<_>>()
    );
    let requests = server.requests();
    let starts: Vec<u64> = requests
        .iter()
        .map(|r| r.query_u64("startIndex").unwrap())
        .collect();
    assert_eq!(starts, [1, 4, 7, 10]);
    for r in &requests {
        assert!(r.request_line.starts_with("GET /scim/v2/Users?"), "{r:?}");
        assert_eq!(r.query_u64("count"), Some(5));
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
        assert_eq!(r.header("accept"), Some("application/scim+json"));
    }
}

#[test]
fn id_listings_ask_for_large_pages_and_follow_a_server_capping_them() {
    use crate::scim::delta::ID_PAGE_SIZE;
    // A server capping pages at 4,000 (below what is asked) over 10,001 users.
    let server = TestServer::tcp(|req| {
        let start = req.query_u64("startIndex").unwrap_or(1).max(1);
        let count = req.query_u64("count").unwrap().min(4_000);
        let end = (start + count).min(10_001 + 1);
        let page = (start..end).map(|n| json!({"id": n.to_string()})).collect();
        json_reply(200, &list(10_001, start, page))
    });
    let mut budget = SyncBudget::unlimited();
    let ids = tcp_client(&server, 500)
        .list_ids(&token(), "Users", &mut budget)
        .unwrap();
    assert_eq!(ids.len(), 10_001);
    let requests = server.requests();
    let starts: Vec<u64> = requests
        .iter()
        .map(|r| r.query_u64("startIndex").unwrap())
        .collect();
    // Three requests where page-size pages would have made 21.
    assert_eq!(starts, [1, 4_001, 8_001]);
    for r in &requests {
        assert_eq!(r.query_u64("count"), Some(u64::from(ID_PAGE_SIZE)), "{r:?}");
        assert_eq!(r.query("attributes").as_deref(), Some("id"), "{r:?}");
    }
    // A page-size above it is kept.
    assert_eq!(crate::scim::delta::id_page_size(20_000), 20_000);
}

#[test]
fn empty_directory_and_groups_endpoint() {
    let server = TestServer::tcp(|_| json_reply(200, &json!({"totalResults": 0})));
    let groups = tcp_client(&server, 500).fetch_all_groups(&token()).unwrap();
    assert!(groups.is_empty());
    assert!(server.requests()[0]
        .target
        .starts_with("/scim/v2/Groups?startIndex=1&count=500"));
}

#[test]
fn total_results_changing_mid_copy_is_incomplete() {
    let server = TestServer::tcp(|req| {
        let start = req.query_u64("startIndex").unwrap();
        let total = if start == 1 { 10 } else { 11 };
        let page = (start..start + 5).map(user).collect();
        json_reply(200, &list(total, start, page))
    });
    let err = tcp_client(&server, 5)
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Incomplete { .. }), "{err}");
    assert!(err.is_transient());
    assert_clean(&err);
}

#[test]
fn empty_page_before_total_is_incomplete() {
    let server = TestServer::tcp(|req| {
        let start = req.query_u64("startIndex").unwrap();
        let page = if start == 1 {
            (1..=3).map(user).collect()
        } else {
            vec![]
        };
        json_reply(200, &list(10, start, page))
    });
    let err = tcp_client(&server, 3)
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Incomplete { .. }), "{err}");
    assert!(err.to_string().contains("after 3 of 10"), "{err}");
    assert_clean(&err);
}

#[test]
fn missing_resources_or_ignored_start_index_is_incomplete() {
    let server = TestServer::tcp(|_| json_reply(200, &json!({"totalResults": 4})));
    let err = tcp_client(&server, 2)
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Incomplete { .. }), "{err}");

    // A server that ignores startIndex would hand out page one forever.
    let server = TestServer::tcp(|_| json_reply(200, &list(4, 1, vec![user(1), user(2)])));
    let err = tcp_client(&server, 2)
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Incomplete { .. }), "{err}");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn unauthorized_and_forbidden() {
    for status in [401, 403] {
        let server = TestServer::tcp(move |_| reply(status, "", b""));
        let err = tcp_client(&server, 5)
            .fetch_all_users(&token())
            .unwrap_err();
        assert_eq!(
            err,
            ScimError::Unauthorized {
                path: "/scim/v2/Users?startIndex=1&count=5".into(),
                status
            }
        );
        assert!(err.is_auth() && !err.is_transient());
        assert_clean(&err);
    }
}

#[test]
fn server_error_carries_the_scim_detail() {
    let server = TestServer::tcp(|_| {
        json_reply(
            500,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "500", "detail": "database unavailable"}),
        )
    });
    let err = tcp_client(&server, 5)
        .fetch_all_users(&token())
        .unwrap_err();
    match &err {
        ScimError::Http {
            status: 500,
            scim_detail: Some(detail),
            ..
        } => assert_eq!(detail, "database unavailable"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.is_transient());
    assert!(err.to_string().contains("database unavailable"));
    assert_clean(&err);
}

#[test]
fn malformed_json_is_malformed() {
    for body in [
        &b"{\"totalResults\": 3, \"Resources\": [{\"id\""[..],
        b"<html></html>",
    ] {
        let body = body.to_vec();
        let server = TestServer::tcp(move |_| reply(200, "", &body));
        let err = tcp_client(&server, 5)
            .fetch_all_users(&token())
            .unwrap_err();
        assert!(matches!(err, ScimError::Malformed { .. }), "{err}");
        assert_clean(&err);
    }
}

#[test]
fn truncated_body_is_an_error() {
    let server = TestServer::tcp(|_| {
        let body = list(1, 1, vec![user(1)]).to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len() + 100
        );
        Reply::Bytes([head.as_bytes(), body.as_bytes()].concat())
    });
    let err = tcp_client(&server, 5)
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Transport { .. }), "{err}");
    assert!(err.is_transient());
    assert_clean(&err);
}

#[test]
fn silent_server_times_out_within_request_timeout() {
    let server = TestServer::tcp(|_| Reply::Hang(Duration::from_secs(5)));
    let client = tcp_client(&server, 5);
    let started = Instant::now();
    let err = client.fetch_all_users(&token()).unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, ScimError::Timeout { .. }), "{err}");
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_clean(&err);
}

#[test]
fn slow_body_is_bounded_by_the_same_timeout() {
    let server = TestServer::tcp(|_| {
        let body = list(1, 1, vec![user(1)]).to_string().into_bytes();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        Reply::Drip(head.into_bytes(), body, Duration::from_millis(100))
    });
    let started = Instant::now();
    let err = tcp_client(&server, 5)
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn redirect_is_not_followed() {
    let server = TestServer::tcp(|req| {
        if req.target.starts_with("/elsewhere") {
            json_reply(200, &list(0, 1, vec![]))
        } else {
            reply(302, "Location: /elsewhere\r\n", b"")
        }
    });
    let err = tcp_client(&server, 5)
        .fetch_all_users(&token())
        .unwrap_err();
    match &err {
        ScimError::Redirect {
            status: 302,
            location: Some(location),
            ..
        } => assert_eq!(location, "/elsewhere"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
    assert_clean(&err);
}

#[test]
fn large_resources_fit_but_oversized_bodies_do_not() {
    // One 10 MB displayName must still fit in a page.
    let server = TestServer::tcp(|_| {
        let mut big = user(1);
        big["displayName"] = json!("x".repeat(10 * 1024 * 1024));
        json_reply(200, &list(1, 1, vec![big]))
    });
    // 10 MB through a debug build on a loaded 2-core machine can take more than the 1 s
    // the other tests allow: this test is about size, not time.
    let mut slow = config(parsed(&format!("http://127.0.0.1:{}", server.port())), 5);
    slow.request_timeout = Duration::from_secs(60);
    let users = ScimClient::new(&slow)
        .unwrap()
        .fetch_all_users(&token())
        .unwrap();
    assert_eq!(users[0]["displayName"].as_str().unwrap().len(), 10 << 20);

    let server = TestServer::tcp(|_| {
        let size = super::transport::MAX_BODY_BYTES as usize + 1024;
        let mut body = b"{\"totalResults\":1,\"x\":\"".to_vec();
        body.resize(size, b'x');
        reply(200, "", &body)
    });
    // 64 MiB through a debug build takes longer than the 1 s the other tests allow.
    let address = parsed(&format!("http://127.0.0.1:{}", server.port()));
    let mut cfg = config(address, 5);
    cfg.request_timeout = Duration::from_secs(60);
    let started = Instant::now();
    let err = ScimClient::new(&cfg)
        .unwrap()
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::TooLarge { .. }), "{err}");
    eprintln!("oversized body refused after {:?}", started.elapsed());
}

#[test]
fn unix_socket_with_chunked_body() {
    let server = TestServer::unix(|req| {
        let start = req.query_u64("startIndex").unwrap();
        let page: Vec<Value> = (start..(start + 2).min(6)).map(user).collect();
        chunked(200, list(5, start, page).to_string().as_bytes(), 7)
    });
    let address = ServerAddress::Unix {
        socket: server.socket(),
        base_path: "/scim/v2".into(),
    };
    let client = ScimClient::new(&config(address, 2)).unwrap();
    let users = client.fetch_all_users(&token()).unwrap();
    assert_eq!(ids(&users), ["1", "2", "3", "4", "5"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert!(r.target.starts_with("/scim/v2/Users?"), "{r:?}");
        assert_eq!(r.header("authorization"), Some(&*format!("Bearer {TOKEN}")));
    }
}

#[test]
fn unix_socket_errors() {
    let address = ServerAddress::Unix {
        socket: temp_path("missing"),
        base_path: "/".into(),
    };
    let err = ScimClient::new(&config(address, 2))
        .unwrap()
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Connect { .. }), "{err}");
    assert!(err.is_transient());
    assert_clean(&err);

    let server = TestServer::unix(|_| Reply::Hang(Duration::from_secs(5)));
    let address = ServerAddress::Unix {
        socket: server.socket(),
        base_path: "/scim/v2".into(),
    };
    let started = Instant::now();
    let err = ScimClient::new(&config(address, 2))
        .unwrap()
        .fetch_all_users(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn unix_socket_in_a_directory_others_can_write_is_refused() {
    let server = TestServer::unix(|_| json_reply(200, &list(0, 1, vec![])));
    let dir = server.socket().parent().unwrap().to_path_buf();
    let address = ServerAddress::Unix {
        socket: server.socket(),
        base_path: "/scim/v2".into(),
    };
    let client = ScimClient::new(&config(address, 2)).unwrap();
    for mode in [0o777, 0o1777, 0o757] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = client.fetch_all_users(&token()).unwrap_err();
        assert!(matches!(err, ScimError::UntrustedSocket { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("writable by others")
                && msg.contains(&format!("chmod o-w {}", dir.display())),
            "{msg}"
        );
        assert_clean(&err);
    }
    assert!(server.requests().is_empty(), "the token was sent");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
    client.fetch_all_users(&token()).unwrap();
}

#[test]
fn http_name_must_resolve_to_loopback_only() {
    let server = TestServer::tcp(|_| json_reply(200, &list(0, 1, vec![])));
    let address = parsed(&format!("http://localhost:{}", server.port()));
    ScimClient::new(&config(address, 2))
        .unwrap()
        .fetch_all_users(&token())
        .unwrap();
}

#[test]
fn connection_refused_is_connect() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let address = parsed(&format!("http://127.0.0.1:{port}"));
    let err = ScimClient::new(&config(address, 5))
        .unwrap()
        .fetch_all_groups(&token())
        .unwrap_err();
    assert!(matches!(err, ScimError::Connect { .. }), "{err}");
    assert_clean(&err);
}

#[test]
fn lookups_send_an_encoded_filter() {
    let server = TestServer::tcp(|req| {
        let filter = req.query("filter").unwrap();
        if filter.contains("posixUserId eq 1001") || filter.starts_with("userName eq ") {
            json_reply(200, &list(1, 1, vec![user(1)]))
        } else {
            json_reply(200, &list(0, 1, vec![]))
        }
    });
    let client = tcp_client(&server, 500);
    let found = client
        .lookup_user(&token(), UserFilter::UserName("a b+c@example.com"))
        .unwrap();
    assert_eq!(ids(&found), ["1"]);
    let found = client
        .lookup_user(&token(), UserFilter::PosixUserId(1001))
        .unwrap();
    assert_eq!(ids(&found), ["1"]);
    let none = client
        .lookup_group(&token(), GroupFilter::PosixGroupName("nobody"))
        .unwrap();
    assert!(none.is_empty());

    let requests = server.requests();
    assert_eq!(
        requests[0].query("filter").unwrap(),
        r#"userName eq "a b+c@example.com""#
    );
    assert!(
        requests[0]
            .target
            .contains("filter=userName%20eq%20%22a%20b%2Bc%40example.com%22&"),
        "{}",
        requests[0].target
    );
    assert_eq!(
        requests[1].query("filter").unwrap(),
        "urn:rstudio:params:scim:schemas:extension:workbench:1.0:User:posixUserId eq 1001"
    );
    assert!(requests[2].target.starts_with("/scim/v2/Groups?filter="));
    assert_eq!(
        requests[2].query("filter").unwrap(),
        "urn:rstudio:params:scim:schemas:extension:workbench:1.0:Group:posixGroupName eq \"nobody\""
    );
}

#[test]
fn unusable_filters_are_bad_filter() {
    // 400 on a filtered request.
    let server = TestServer::tcp(|_| {
        json_reply(
            400,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "400", "scimType": "invalidFilter"}),
        )
    });
    let err = tcp_client(&server, 5)
        .lookup_user(&token(), UserFilter::PosixUserName("alice"))
        .unwrap_err();
    assert!(err.is_bad_filter(), "{err}");
    assert!(err.to_string().contains("invalidFilter"), "{err}");
    assert_clean(&err);

    // A server ignoring the filter answers with the whole directory.
    let server = TestServer::tcp(|req| paging_reply(req, 1000, 50));
    let err = tcp_client(&server, 5)
        .lookup_group(&token(), GroupFilter::PosixGroupId(2000))
        .unwrap_err();
    assert!(err.is_bad_filter(), "{err}");

    // A value no filter can carry never reaches the server.
    let err = tcp_client(&server, 5)
        .lookup_user(&token(), UserFilter::UserName("a\nb"))
        .unwrap_err();
    assert!(err.is_bad_filter(), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn token_unfit_for_a_header_is_refused_locally() {
    let server = TestServer::tcp(|req| paging_reply(req, 1, 1));
    let bad = BearerToken::new(format!("{TOKEN}\r\nX-Injected: 1"));
    let err = tcp_client(&server, 5).fetch_all_users(&bad).unwrap_err();
    assert!(matches!(err, ScimError::InvalidToken { .. }), "{err}");
    assert!(err.is_auth());
    assert_clean(&err);
    assert!(server.requests().is_empty());
}

#[test]
fn client_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ScimClient>();
}

/// TLS against a private CA made at test time with the `openssl` CLI.
mod tls {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;

    fn openssl(args: &[&str], dir: &std::path::Path) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA and a server certificate for localhost/127.0.0.1 signed by it.
    fn make_pki(dir: &std::path::Path) {
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=scim test CA",
        ]);
        openssl(&ca, dir);
        let mut csr = vec!["req", "-new", "-nodes"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        openssl(&csr, dir);
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "ext.cnf",
                "-out",
                "server.pem",
            ],
            dir,
        );
    }

    /// `openssl s_server` relaying `response` to the first client; returns it and its
    /// port. stdin stays open (in the returned child) until the test ends, so the
    /// server never closes before the client has read.
    fn s_server(dir: &std::path::Path, response: &[u8]) -> (Child, u16) {
        let mut child = Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-naccept",
                "1",
                "-cert",
                "server.pem",
                "-key",
                "server.key",
            ])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let port = loop {
            let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            if let Some(addr) = line.strip_prefix("ACCEPT ") {
                break addr.rsplit(':').next().unwrap().parse().unwrap();
            }
        };
        child.stdin.as_mut().unwrap().write_all(response).unwrap();
        (child, port)
    }

    fn https_config(port: u16, ca_file: Option<PathBuf>) -> Config {
        let mut cfg = config(parsed(&format!("https://localhost:{port}/scim/v2")), 5);
        cfg.ca_file = ca_file;
        cfg.request_timeout = Duration::from_secs(5);
        cfg
    }

    #[test]
    fn https_with_private_ca() {
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("SKIPPED https_with_private_ca: the openssl CLI is not installed");
            return;
        }
        let dir = temp_path("pki");
        std::fs::create_dir_all(&dir).unwrap();
        make_pki(&dir);
        let body = list(1, 1, vec![user(7)]).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/scim+json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );

        // Trusted through ca-file: a complete copy.
        let (mut child, port) = s_server(&dir, response.as_bytes());
        let client = ScimClient::new(&https_config(port, Some(dir.join("ca.pem")))).unwrap();
        let result = client.fetch_all_users(&token());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(ids(&result.unwrap()), ["7"]);

        // Without ca-file the system roots do not know the private CA.
        let (mut child, port) = s_server(&dir, response.as_bytes());
        let client = ScimClient::new(&https_config(port, None)).unwrap();
        let result = client.fetch_all_users(&token());
        let _ = child.kill();
        let _ = child.wait();
        let err = result.unwrap_err();
        assert!(matches!(err, ScimError::Tls { .. }), "{err}");
        eprintln!("without ca-file: {err}");
        assert_clean(&err);

        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// A paging server over `total` users that claims `total` and pages correctly: only a
/// sync's budget ends a copy of a directory that large.
fn endless_paging(req: &super::test_server::Request) -> Reply {
    paging_reply(req, super::paging::MAX_RESOURCES, 50)
}

#[test]
fn byte_budget_ends_a_copy_that_pages_forever() {
    let server = TestServer::tcp(endless_paging);
    let client = tcp_client(&server, 50);
    let mut budget = SyncBudget::new(64 * 1024, Duration::from_secs(60));
    let err = client
        .fetch_all_users_shaped(&token(), &mut budget, |v| v)
        .unwrap_err();
    assert!(
        matches!(err, ScimError::OverBudget { max_bytes, .. } if max_bytes == 64 * 1024),
        "{err}"
    );
    assert!(err.is_transient());
    assert!(err.to_string().contains("sync-max-bytes"), "{err}");
    assert_clean(&err);
    // Each page is ~5 KB: the copy stopped within the budget, not at totalResults.
    let pages = server.requests().len();
    assert!((10..=16).contains(&pages), "{pages} pages");
    assert!(budget.remaining_bytes() == 0);
}

#[test]
fn byte_budget_is_shared_by_the_copies_of_one_sync() {
    let server = TestServer::tcp(|req| paging_reply(req, 40, 50));
    let client = tcp_client(&server, 50);
    let mut probe = SyncBudget::unlimited();
    client
        .fetch_all_users_shaped(&token(), &mut probe, |v| v)
        .unwrap();
    let one_copy = probe.used_bytes();
    assert!(one_copy > 1000, "{one_copy}");

    // Enough for one copy, not for two.
    let mut budget = SyncBudget::new(one_copy + one_copy / 2, Duration::from_secs(60));
    client
        .fetch_all_users_shaped(&token(), &mut budget, |v| v)
        .unwrap();
    assert_eq!(budget.used_bytes(), one_copy);
    let err = client
        .fetch_all_groups_shaped(&token(), &mut budget, |v| v)
        .unwrap_err();
    assert!(matches!(err, ScimError::OverBudget { .. }), "{err}");
}

#[test]
fn one_huge_page_is_cut_at_the_budget_not_read_whole() {
    let server = TestServer::tcp(|_| {
        let mut body = b"{\"totalResults\":1,\"x\":\"".to_vec();
        body.resize(8 << 20, b'x');
        reply(200, "", &body)
    });
    let mut budget = SyncBudget::new(1 << 20, Duration::from_secs(60));
    let started = Instant::now();
    let err = tcp_client(&server, 5)
        .fetch_all_users_shaped(&token(), &mut budget, |v| v)
        .unwrap_err();
    assert!(matches!(err, ScimError::OverBudget { .. }), "{err}");
    eprintln!("huge page refused after {:?}", started.elapsed());
}

#[test]
fn deadline_ends_a_copy_of_slow_pages_each_within_request_timeout() {
    // Every page arrives well within request-timeout (1 s), but there is no end.
    let server = TestServer::tcp(|req| {
        std::thread::sleep(Duration::from_millis(150));
        endless_paging(req)
    });
    let client = tcp_client(&server, 50);
    let mut budget = SyncBudget::new(u64::MAX, Duration::from_millis(900));
    let started = Instant::now();
    let err = client
        .fetch_all_users_shaped(&token(), &mut budget, |v| v)
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, ScimError::PastDeadline { deadline, .. } if deadline == Duration::from_millis(900)),
        "{err}"
    );
    assert!(err.to_string().contains("sync-deadline"), "{err}");
    assert!(took < Duration::from_millis(2000), "{took:?}");
    assert!(server.requests().len() >= 3);
}

#[test]
fn deadline_cuts_a_drip_that_request_timeout_would_allow() {
    let server = TestServer::tcp(|_| {
        let body = list(1, 1, vec![user(1)]).to_string().into_bytes();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        Reply::Drip(head.into_bytes(), body, Duration::from_millis(50))
    });
    let address = parsed(&format!("http://127.0.0.1:{}", server.port()));
    let mut cfg = config(address, 5);
    cfg.request_timeout = Duration::from_secs(60);
    let client = ScimClient::new(&cfg).unwrap();
    let mut budget = SyncBudget::new(u64::MAX, Duration::from_secs(1));
    let started = Instant::now();
    let err = client
        .fetch_all_users_shaped(&token(), &mut budget, |v| v)
        .unwrap_err();
    assert!(matches!(err, ScimError::PastDeadline { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // Nothing more is asked once the deadline has passed.
    let err = client
        .fetch_all_groups_shaped(&token(), &mut budget, |v| v)
        .unwrap_err();
    assert!(matches!(err, ScimError::PastDeadline { .. }), "{err}");
    assert_eq!(server.requests().len(), 1);
}
