//! Tiny canned HTTP servers for the SCIM client's tests, on 127.0.0.1:0 or a temporary
//! Unix socket. Each connection gets one request and one reply, then is closed. Every
//! request is recorded so tests can check what the client really sent. The server
//! stops when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Bounds so that a confused test can never spin or grow forever.
const MAX_CONNECTIONS: usize = 200;
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub request_line: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| percent_decode(v))
        })
    }

    pub fn query_u64(&self, key: &str) -> Option<u64> {
        self.query(key)?.parse().ok()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// What the server does with a request.
pub enum Reply {
    /// Write these bytes, then close.
    Bytes(Vec<u8>),
    /// Write the first bytes, then the rest one byte at a time with a pause between.
    Drip(Vec<u8>, Vec<u8>, Duration),
    /// Say nothing for this long, then close.
    Hang(Duration),
}

/// A complete response with `Content-Length`.
pub fn reply(status: u16, extra_headers: &str, body: &[u8]) -> Reply {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/scim+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    Reply::Bytes(out)
}

pub fn json(status: u16, body: &serde_json::Value) -> Reply {
    reply(status, "", body.to_string().as_bytes())
}

/// A chunked response, cut in chunks of `chunk` bytes.
pub fn chunked(status: u16, body: &[u8], chunk: usize) -> Reply {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/scim+json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for piece in body.chunks(chunk) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    Reply::Bytes(out)
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

enum Endpoint {
    Tcp(u16),
    Unix(PathBuf),
}

/// A running server; stops accepting when dropped.
pub struct TestServer {
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    endpoint: Endpoint,
}

impl TestServer {
    pub fn tcp(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = TestServer::new(Endpoint::Tcp(port));
        let (requests, stop) = (server.requests.clone(), server.stop.clone());
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for conn in listener.incoming().take(MAX_CONNECTIONS) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (handler, requests) = (handler.clone(), requests.clone());
                thread::spawn(move || serve(conn, &*handler, &requests));
            }
        });
        server
    }

    pub fn unix(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> TestServer {
        // In a directory of its own: the client refuses a socket in a directory others
        // can write, such as /tmp.
        let dir = temp_path("sockdir");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = TestServer::new(Endpoint::Unix(path));
        let (requests, stop) = (server.requests.clone(), server.stop.clone());
        let handler: Arc<Handler> = Arc::new(handler);
        thread::spawn(move || {
            for conn in listener.incoming().take(MAX_CONNECTIONS) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (handler, requests) = (handler.clone(), requests.clone());
                thread::spawn(move || serve(conn, &*handler, &requests));
            }
        });
        server
    }

    fn new(endpoint: Endpoint) -> TestServer {
        TestServer {
            requests: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
            endpoint,
        }
    }

    pub fn port(&self) -> u16 {
        match self.endpoint {
            Endpoint::Tcp(port) => port,
            Endpoint::Unix(_) => panic!("not a TCP server"),
        }
    }

    pub fn socket(&self) -> PathBuf {
        match &self.endpoint {
            Endpoint::Unix(path) => path.clone(),
            Endpoint::Tcp(_) => panic!("not a Unix server"),
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and ends.
        match &self.endpoint {
            Endpoint::Tcp(port) => drop(TcpStream::connect(("127.0.0.1", *port))),
            Endpoint::Unix(path) => {
                drop(UnixStream::connect(path));
                let _ = std::fs::remove_file(path);
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
    }
}

/// A fresh path under the temp directory (not created).
pub fn temp_path(what: &str) -> PathBuf {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("scim-test-{}-{n}.{what}", std::process::id()))
}

/// A connection the server can bound in time.
trait Conn: Read + Write {
    fn set_timeout(&self, timeout: Duration);
    /// Send EOF (FIN) but keep reading, so unread client data cannot turn the close
    /// into a reset that would discard the response.
    fn shutdown_write(&self);
}

impl Conn for TcpStream {
    fn set_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).unwrap();
        self.set_write_timeout(Some(timeout)).unwrap();
    }
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Conn for UnixStream {
    fn set_timeout(&self, timeout: Duration) {
        self.set_read_timeout(Some(timeout)).unwrap();
        self.set_write_timeout(Some(timeout)).unwrap();
    }
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

fn serve<S: Conn>(mut conn: S, handler: &Handler, requests: &Mutex<Vec<Request>>) {
    conn.set_timeout(Duration::from_secs(10));
    let Some(request) = read_head(&mut conn) else {
        return;
    };
    requests.lock().unwrap().push(request.clone());
    match handler(&request) {
        Reply::Bytes(bytes) => {
            let _ = conn.write_all(&bytes);
            let _ = conn.flush();
            conn.shutdown_write();
        }
        Reply::Drip(head, rest, pause) => {
            let _ = conn.write_all(&head);
            for byte in rest {
                if conn.write_all(&[byte]).is_err() {
                    return;
                }
                thread::sleep(pause);
            }
        }
        Reply::Hang(duration) => thread::sleep(duration),
    }
    // Linger until the client closes (bounded by the read timeout).
    let mut sink = [0u8; 1024];
    let _ = conn.read(&mut sink);
}

fn read_head<S: Read>(conn: &mut S) -> Option<Request> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_REQUEST_HEAD || conn.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next()?.to_string();
    let target = request_line.split(' ').nth(1)?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Some(Request {
        request_line,
        target,
        headers,
    })
}
