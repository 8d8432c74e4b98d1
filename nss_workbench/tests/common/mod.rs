//! A fake `workbench-cached`: a Unix listener in a thread answering wire frames from an
//! in-memory directory, with fault modes and counters.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use workbench_wire::codec::Writer;
use workbench_wire::record::encode_gid_list;
use workbench_wire::{
    FrameHeader, GroupRecord, ListPage, PasswdRecord, Request, ShadowRecord, Status,
    FRAME_HEADER_LEN, MAX_REQUEST_LEN,
};

/// Serialises tests: the socket path lives in a process-global environment variable.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A unique socket path in a fresh temporary directory.
pub fn temp_socket_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nss-wb-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        tag
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("socket")
}

pub fn point_module_at(path: &std::path::Path) {
    std::env::set_var(workbench_wire::SOCKET_ENV, path);
}

/// How the fake daemon behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answer from the directory, keep connections open.
    Normal,
    /// Answer one request, then close the connection (an idle timeout or restart).
    ClosePerRequest,
    /// Accept, read the request, never answer.
    Silent,
    /// Answer the first request with these bytes, then close the connection.
    Garbage(&'static [u8]),
    /// Answer every request with this status and an empty payload.
    Fixed(Status),
    /// Answer passwd lookups with a different user than asked.
    WrongEntry,
}

/// The users, groups and shadow entries the fake daemon knows.
#[derive(Default, Clone)]
pub struct Directory {
    /// uid → (name, gid)
    pub users: BTreeMap<u32, (String, u32)>,
    /// gid → (name, members)
    pub groups: BTreeMap<u32, (String, Vec<String>)>,
}

impl Directory {
    pub fn sample() -> Directory {
        let mut d = Directory::default();
        d.users.insert(1001, ("alice".into(), 1001));
        d.users.insert(1002, ("bob".into(), 1002));
        d.groups.insert(1001, ("alice".into(), vec![]));
        d.groups
            .insert(2001, ("devs".into(), vec!["alice".into(), "bob".into()]));
        d.groups.insert(2002, ("ops".into(), vec!["alice".into()]));
        d.groups
            .insert(2003, ("admins".into(), vec!["bob".into(), "alice".into()]));
        d
    }

    pub fn passwd(uid: u32, name: &str, gid: u32) -> Vec<u8> {
        let home = format!("/home/{name}");
        let gecos = format!("User {name}");
        let mut w = Writer::new();
        PasswdRecord {
            name: name.as_bytes(),
            passwd: b"x",
            uid,
            gid,
            gecos: gecos.as_bytes(),
            dir: home.as_bytes(),
            shell: b"/bin/bash",
        }
        .encode(&mut w);
        w.buf
    }

    fn group(gid: u32, name: &str, members: &[String]) -> Vec<u8> {
        let mut w = Writer::new();
        GroupRecord {
            name: name.as_bytes(),
            passwd: b"x",
            gid,
            members: members.iter().map(|m| m.as_bytes()).collect(),
        }
        .encode(&mut w);
        w.buf
    }

    fn shadow(name: &str) -> Vec<u8> {
        let hash = format!("$6$salt${name}");
        let mut w = Writer::new();
        ShadowRecord {
            name: name.as_bytes(),
            pwdp: hash.as_bytes(),
            lstchg: -1,
            min: -1,
            max: -1,
            warn: -1,
            inact: -1,
            expire: -1,
            flag: u64::MAX,
        }
        .encode(&mut w);
        w.buf
    }

    fn user_by_name(&self, name: &[u8]) -> Option<(u32, &(String, u32))> {
        self.users
            .iter()
            .find(|(_, (n, _))| n.as_bytes() == name)
            .map(|(u, e)| (*u, e))
    }

    fn page(
        records: impl Iterator<Item = (u32, Vec<u8>)>,
        after: Option<u32>,
        max: u32,
    ) -> Vec<u8> {
        let all: Vec<(u32, Vec<u8>)> = records
            .filter(|(k, _)| !matches!(after, Some(a) if *k <= a))
            .collect();
        let n = (max as usize).min(all.len());
        let done = n == all.len();
        let last_key = all[..n].last().map(|(k, _)| *k);
        let recs: Vec<&[u8]> = all[..n].iter().map(|(_, r)| r.as_slice()).collect();
        let mut w = Writer::new();
        ListPage {
            records: recs,
            last_key,
            done,
        }
        .encode(&mut w);
        w.buf
    }

    /// The response frame for `req`.
    pub fn answer(&self, req: &Request) -> Vec<u8> {
        let found = |p: Vec<u8>| Status::Found.frame(&p);
        let none = || Status::NotFound.frame(b"");
        match req {
            Request::PasswdByName(n) => match self.user_by_name(n) {
                Some((uid, (name, gid))) => found(Self::passwd(uid, name, *gid)),
                None => none(),
            },
            Request::PasswdByUid(uid) => match self.users.get(uid) {
                Some((name, gid)) => found(Self::passwd(*uid, name, *gid)),
                None => none(),
            },
            Request::GroupByName(n) => {
                match self
                    .groups
                    .iter()
                    .find(|(_, (g, _))| g.as_bytes() == n.as_slice())
                {
                    Some((gid, (name, m))) => found(Self::group(*gid, name, m)),
                    None => none(),
                }
            }
            Request::GroupByGid(gid) => match self.groups.get(gid) {
                Some((name, m)) => found(Self::group(*gid, name, m)),
                None => none(),
            },
            Request::InitGroups(n) => match self.user_by_name(n) {
                Some((_, (name, primary))) => {
                    let mut gids = vec![*primary];
                    for (gid, (_, m)) in &self.groups {
                        if m.iter().any(|x| x == name) {
                            gids.push(*gid);
                            // A duplicate the module must skip.
                            gids.push(*gid);
                        }
                    }
                    let mut w = Writer::new();
                    encode_gid_list(&gids, &mut w);
                    found(w.buf)
                }
                None => none(),
            },
            Request::ShadowByName(n) => match self.user_by_name(n) {
                Some((_, (name, _))) => found(Self::shadow(name)),
                None => none(),
            },
            Request::PasswdList { after, max } => found(Self::page(
                self.users
                    .iter()
                    .map(|(u, (n, g))| (*u, Self::passwd(*u, n, *g))),
                *after,
                *max,
            )),
            Request::GroupList { after, max } => found(Self::page(
                self.groups
                    .iter()
                    .map(|(g, (n, m))| (*g, Self::group(*g, n, m))),
                *after,
                *max,
            )),
            Request::ShadowList { after, max } => found(Self::page(
                self.users.iter().map(|(u, (n, _))| (*u, Self::shadow(n))),
                *after,
                *max,
            )),
            _ => Status::BadRequest.frame(b""),
        }
    }
}

/// Counters the tests assert on.
#[derive(Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub requests: Mutex<Vec<Request>>,
    /// Peer pid of every accepted connection (SO_PEERCRED).
    pub peer_pids: Mutex<Vec<libc::pid_t>>,
}

impl Stats {
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
    pub fn peer_pids(&self) -> Vec<libc::pid_t> {
        self.peer_pids.lock().unwrap().clone()
    }
}

pub struct FakeDaemon {
    pub path: PathBuf,
    pub stats: Arc<Stats>,
}

impl FakeDaemon {
    /// Starts a daemon and points the module at it.
    pub fn start(mode: Mode, dir: Directory) -> FakeDaemon {
        let path = temp_socket_path("daemon");
        let listener = UnixListener::bind(&path).unwrap();
        let stats = Arc::new(Stats::default());
        let st = Arc::clone(&stats);
        let dir = Arc::new(dir);
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                st.connections.fetch_add(1, Ordering::SeqCst);
                st.peer_pids.lock().unwrap().push(peer_pid(&conn));
                let st = Arc::clone(&st);
                let dir = Arc::clone(&dir);
                thread::spawn(move || serve(conn, mode, &dir, &st));
            }
        });
        point_module_at(&path);
        FakeDaemon { path, stats }
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if let Some(d) = self.path.parent() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn peer_pid(s: &UnixStream) -> libc::pid_t {
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0);
    cred.pid
}

fn read_request(s: &mut UnixStream) -> Option<Request> {
    let mut hdr = [0u8; FRAME_HEADER_LEN];
    s.read_exact(&mut hdr).ok()?;
    let h = FrameHeader::parse(&hdr, MAX_REQUEST_LEN).ok()?;
    let mut payload = vec![0u8; h.len as usize];
    s.read_exact(&mut payload).ok()?;
    Request::decode(h.tag, &payload).ok()
}

fn serve(mut s: UnixStream, mode: Mode, dir: &Directory, st: &Stats) {
    while let Some(req) = read_request(&mut s) {
        st.requests.lock().unwrap().push(req.clone());
        let reply = match mode {
            Mode::Normal | Mode::ClosePerRequest => dir.answer(&req),
            Mode::Silent => {
                // Hold the connection open until the client gives up.
                let mut sink = [0u8; 64];
                while s.read(&mut sink).map(|n| n > 0).unwrap_or(false) {}
                return;
            }
            Mode::Garbage(bytes) => bytes.to_vec(),
            Mode::Fixed(status) => status.frame(b""),
            Mode::WrongEntry => Status::Found.frame(&Directory::passwd(4242, "mallory", 4242)),
        };
        if s.write_all(&reply).is_err() {
            return;
        }
        if matches!(mode, Mode::ClosePerRequest | Mode::Garbage(_)) {
            return;
        }
    }
}
