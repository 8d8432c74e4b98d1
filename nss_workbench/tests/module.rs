//! The exported entry points against a fake daemon on a temporary socket.
//!
//! Every test holds `common::serial()`: the socket path is a process-global environment
//! variable.

mod common;

use std::ffi::{CStr, CString};
use std::mem::zeroed;
use std::time::{Duration, Instant};

use libc::{c_char, c_int, c_long, gid_t};
use nss_workbench::exports::*;
use nss_workbench::NssStatus;
use workbench_wire::{Request, Status};

use common::{serial, Directory, FakeDaemon, Mode};

fn cs(p: *const c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

fn getpwnam(name: &[u8], buflen: usize) -> (NssStatus, c_int, Option<libc::passwd>, Vec<u8>) {
    let name = CString::new(name).unwrap();
    let mut pw: libc::passwd = unsafe { zeroed() };
    let mut buf = vec![0u8; buflen];
    let mut err: c_int = -7;
    let st = unsafe {
        _nss_workbench_getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            buflen,
            &mut err,
        )
    };
    let got = (st == NssStatus::Success).then_some(pw);
    (st, err, got, buf)
}

fn pw_name(name: &[u8]) -> Result<(String, u32, u32, String), (NssStatus, c_int)> {
    let (st, err, pw, _buf) = getpwnam(name, 1024);
    match pw {
        // The strings live in `_buf`, still alive here.
        Some(pw) => Ok((cs(pw.pw_name), pw.pw_uid, pw.pw_gid, cs(pw.pw_dir))),
        None => Err((st, err)),
    }
}

fn pw_uid(uid: u32) -> Result<String, (NssStatus, c_int)> {
    let mut pw: libc::passwd = unsafe { zeroed() };
    let mut buf = vec![0u8; 1024];
    let mut err: c_int = -7;
    let st = unsafe {
        _nss_workbench_getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut err)
    };
    if st == NssStatus::Success {
        assert_eq!(err, -7, "errnop touched on success");
        Ok(cs(pw.pw_name))
    } else {
        Err((st, err))
    }
}

fn gr_members(p: *mut *mut c_char) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let m = unsafe { *p.add(i) };
        if m.is_null() {
            return out;
        }
        out.push(cs(m));
        i += 1;
    }
}

const UNAVAIL_ENOENT: (NssStatus, c_int) = (NssStatus::Unavail, libc::ENOENT);
const TRYAGAIN_EAGAIN: (NssStatus, c_int) = (NssStatus::TryAgain, libc::EAGAIN);
const NOTFOUND_ENOENT: (NssStatus, c_int) = (NssStatus::NotFound, libc::ENOENT);

#[test]
fn keyed_lookups_found_and_not_found() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, Directory::sample());
    assert_eq!(
        pw_name(b"alice").unwrap(),
        ("alice".into(), 1001, 1001, "/home/alice".into())
    );
    assert_eq!(pw_uid(1002).unwrap(), "bob");
    assert_eq!(pw_name(b"nobody-here"), Err(NOTFOUND_ENOENT));
    assert_eq!(pw_uid(5), Err(NOTFOUND_ENOENT));

    // Groups by name and gid.
    let mut gr: libc::group = unsafe { zeroed() };
    let mut buf = vec![0u8; 1024];
    let mut err = 0;
    let name = CString::new("devs").unwrap();
    let st = unsafe {
        _nss_workbench_getgrnam_r(
            name.as_ptr(),
            &mut gr,
            buf.as_mut_ptr().cast(),
            1024,
            &mut err,
        )
    };
    assert_eq!(st, NssStatus::Success);
    assert_eq!((cs(gr.gr_name), gr.gr_gid), ("devs".into(), 2001));
    assert_eq!(gr_members(gr.gr_mem), vec!["alice", "bob"]);
    let st = unsafe {
        _nss_workbench_getgrgid_r(2002, &mut gr, buf.as_mut_ptr().cast(), 1024, &mut err)
    };
    assert_eq!(st, NssStatus::Success);
    assert_eq!(cs(gr.gr_name), "ops");
    let st = unsafe {
        _nss_workbench_getgrgid_r(9999, &mut gr, buf.as_mut_ptr().cast(), 1024, &mut err)
    };
    assert_eq!((st, err), NOTFOUND_ENOENT);

    // Passwd and group: all over one kept connection.
    assert_eq!(d.stats.connections(), 1);

    // Shadow (issue 10): on a fresh connection of its own, never the kept one.
    let mut sp: libc::spwd = unsafe { zeroed() };
    let name = CString::new("alice").unwrap();
    let st = unsafe {
        _nss_workbench_getspnam_r(
            name.as_ptr(),
            &mut sp,
            buf.as_mut_ptr().cast(),
            1024,
            &mut err,
        )
    };
    assert_eq!(st, NssStatus::Success);
    assert_eq!(cs(sp.sp_pwdp), "$6$salt$alice");
    assert_eq!(sp.sp_lstchg, -1);
    assert_eq!(d.stats.connections(), 2);

    // The kept connection is still the one passwd uses.
    assert_eq!(pw_uid(1002).unwrap(), "bob");
    assert_eq!(d.stats.connections(), 2);
}

#[test]
fn non_utf8_names_are_sent_as_bytes() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, Directory::sample());
    assert_eq!(pw_name(b"caf\xe9"), Err(NOTFOUND_ENOENT));
    assert_eq!(
        d.stats.requests(),
        vec![Request::PasswdByName(b"caf\xe9".to_vec())]
    );
}

#[test]
fn oversized_name_is_not_found_without_a_round_trip() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, Directory::sample());
    let long = vec![b'a'; 10_000];
    assert_eq!(pw_name(&long), Err(NOTFOUND_ENOENT));
    assert_eq!(d.stats.request_count(), 0);
}

#[test]
fn no_daemon_is_unavail() {
    let _g = serial();
    // Socket file missing.
    let path = common::temp_socket_path("missing");
    common::point_module_at(&path);
    assert_eq!(pw_name(b"alice"), Err(UNAVAIL_ENOENT));
    assert_eq!(pw_uid(1001), Err(UNAVAIL_ENOENT));
    // Socket file present but nobody listening (ECONNREFUSED).
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(listener);
    assert!(path.exists());
    assert_eq!(pw_name(b"alice"), Err(UNAVAIL_ENOENT));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn garbage_responses_are_try_again() {
    let _g = serial();
    let cases: [&'static [u8]; 5] = [
        b"hello, this is not a frame",
        // Oversized frame header (len = 0xffffffff).
        &[0xff, 0xff, 0xff, 0xff, 1, 0],
        // Unknown status tag.
        &[0, 0, 0, 0, 1, 99],
        // Found, but the payload is not a record.
        &[3, 0, 0, 0, 1, 0, 1, 2, 3],
        // Truncated: announces 100 bytes, sends 2, then closes.
        &[100, 0, 0, 0, 1, 0, 1, 2],
    ];
    for bytes in cases {
        let _d = FakeDaemon::start(Mode::Garbage(bytes), Directory::sample());
        let t = Instant::now();
        assert_eq!(pw_name(b"alice"), Err(TRYAGAIN_EAGAIN), "{bytes:?}");
        // Refused on sight, not by running into the deadline.
        assert!(t.elapsed() < Duration::from_secs(1), "{bytes:?}");
    }
}

#[test]
fn answer_for_another_user_is_try_again() {
    let _g = serial();
    let _d = FakeDaemon::start(Mode::WrongEntry, Directory::sample());
    assert_eq!(pw_name(b"alice"), Err(TRYAGAIN_EAGAIN));
    assert_eq!(pw_uid(1001), Err(TRYAGAIN_EAGAIN));
}

#[test]
fn wire_statuses_map_to_nss() {
    let _g = serial();
    let cases = [
        (Status::TryAgain, TRYAGAIN_EAGAIN),
        (Status::Denied, (NssStatus::Unavail, libc::EACCES)),
        (Status::Unavailable, UNAVAIL_ENOENT),
        (Status::NotFound, NOTFOUND_ENOENT),
        (Status::BadRequest, TRYAGAIN_EAGAIN),
    ];
    for (status, expected) in cases {
        let _d = FakeDaemon::start(Mode::Fixed(status), Directory::sample());
        let mut sp: libc::spwd = unsafe { zeroed() };
        let mut buf = vec![0u8; 256];
        let mut err = 0;
        let name = CString::new("alice").unwrap();
        let st = unsafe {
            _nss_workbench_getspnam_r(
                name.as_ptr(),
                &mut sp,
                buf.as_mut_ptr().cast(),
                256,
                &mut err,
            )
        };
        assert_eq!((st, err), expected, "{status:?}");
    }
}

#[test]
fn silent_daemon_times_out_as_try_again() {
    let _g = serial();
    let _d = FakeDaemon::start(Mode::Silent, Directory::sample());
    let t = Instant::now();
    assert_eq!(pw_name(b"alice"), Err(TRYAGAIN_EAGAIN));
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(2500), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn stale_reused_connection_is_retried_once() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::ClosePerRequest, Directory::sample());
    for _ in 0..3 {
        assert_eq!(pw_uid(1001).unwrap(), "alice");
    }
    // Each lookup found the previous connection closed and opened a new one.
    assert_eq!(d.stats.connections(), 3);
    assert_eq!(d.stats.request_count(), 3);
}

#[test]
fn connection_is_reused_across_lookups() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, Directory::sample());
    for _ in 0..10 {
        assert_eq!(pw_uid(1001).unwrap(), "alice");
    }
    assert_eq!(d.stats.connections(), 1);
    assert_eq!(d.stats.request_count(), 10);
}

#[test]
fn fork_child_never_reuses_the_parent_connection() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, Directory::sample());
    assert_eq!(pw_uid(1001).unwrap(), "alice");
    let parent = unsafe { libc::getpid() };
    let child = unsafe { libc::fork() };
    assert!(child >= 0);
    if child == 0 {
        // Only async-signal-safe-ish work here; report through the exit code.
        let ok = pw_uid(1002).map(|n| n == "bob").unwrap_or(false)
            && pw_uid(1001).map(|n| n == "alice").unwrap_or(false);
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed"
    );
    // The parent still uses its own connection.
    assert_eq!(pw_uid(1002).unwrap(), "bob");
    let pids = d.stats.peer_pids();
    assert_eq!(pids, vec![parent, child], "one connection each");
    assert_eq!(d.stats.request_count(), 4);
}

#[test]
fn credential_change_never_reuses_the_connection() {
    // Changing the effective gid needs root; as root the euid stays 0 throughout, so the
    // fake daemon's socket stays reachable.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, Directory::sample());
    // In a child, so the test process's own credentials never change.
    let child = unsafe { libc::fork() };
    assert!(child >= 0);
    if child == 0 {
        let ok = pw_uid(1001).is_ok()
            && pw_uid(1001).is_ok()
            && unsafe { libc::setegid(65534) } == 0
            && pw_uid(1002).is_ok()
            && unsafe { libc::setegid(0) } == 0
            && pw_uid(1001).is_ok();
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed"
    );
    // One connection per credential period: the first two lookups share one.
    assert_eq!(d.stats.peer_pids(), vec![child, child, child]);
    assert_eq!(d.stats.request_count(), 4);
}

fn big_directory(users: u32) -> Directory {
    let mut d = Directory::default();
    for i in 0..users {
        d.users
            .insert(10_000 + i, (format!("user{i:05}"), 10_000 + i));
    }
    d
}

fn getpwent(buflen: usize) -> (NssStatus, c_int, Option<(String, u32)>) {
    let mut pw: libc::passwd = unsafe { zeroed() };
    let mut buf = vec![0u8; buflen];
    let mut err = 0;
    let st =
        unsafe { _nss_workbench_getpwent_r(&mut pw, buf.as_mut_ptr().cast(), buflen, &mut err) };
    let got = (st == NssStatus::Success).then(|| (cs(pw.pw_name), pw.pw_uid));
    (st, err, got)
}

#[test]
fn enumeration_across_pages_with_erange_retries() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, big_directory(600));
    assert_eq!(_nss_workbench_setpwent(0), NssStatus::Success);
    let mut seen = Vec::new();
    loop {
        // Too small: ERANGE, and the cursor must not move.
        let (st, err, _) = getpwent(8);
        if st == NssStatus::NotFound {
            assert_eq!(err, libc::ENOENT);
            break;
        }
        assert_eq!((st, err), (NssStatus::TryAgain, libc::ERANGE));
        let (st, _, got) = getpwent(1024);
        assert_eq!(st, NssStatus::Success);
        seen.push(got.unwrap());
        if seen.len() == 300 {
            // A keyed lookup in the middle does not disturb the enumeration.
            assert_eq!(pw_uid(10_000).unwrap(), "user00000");
        }
    }
    let expected: Vec<(String, u32)> = (0..600)
        .map(|i| (format!("user{i:05}"), 10_000 + i))
        .collect();
    assert_eq!(seen, expected);
    // At the end it stays at the end.
    assert_eq!(getpwent(1024).0, NssStatus::NotFound);
    let pages = d
        .stats
        .requests()
        .into_iter()
        .filter(|r| matches!(r, Request::PasswdList { .. }))
        .count();
    assert_eq!(pages, 3, "256 + 256 + 88");

    // setpwent restarts; endpwent then getpwent without setpwent starts over too.
    assert_eq!(_nss_workbench_setpwent(1), NssStatus::Success);
    assert_eq!(getpwent(1024).2.unwrap().1, 10_000);
    assert_eq!(getpwent(1024).2.unwrap().1, 10_001);
    assert_eq!(_nss_workbench_endpwent(), NssStatus::Success);
    assert_eq!(getpwent(1024).2.unwrap().1, 10_000);
    _nss_workbench_endpwent();
}

#[test]
fn group_and_shadow_enumeration() {
    let _g = serial();
    let _d = FakeDaemon::start(Mode::Normal, Directory::sample());
    _nss_workbench_setgrent(0);
    let mut names = Vec::new();
    loop {
        let mut gr: libc::group = unsafe { zeroed() };
        let mut buf = vec![0u8; 512];
        let mut err = 0;
        let st =
            unsafe { _nss_workbench_getgrent_r(&mut gr, buf.as_mut_ptr().cast(), 512, &mut err) };
        if st != NssStatus::Success {
            assert_eq!((st, err), NOTFOUND_ENOENT);
            break;
        }
        names.push(cs(gr.gr_name));
    }
    _nss_workbench_endgrent();
    assert_eq!(names, vec!["alice", "devs", "ops", "admins"]);

    _nss_workbench_setspent(0);
    let mut names = Vec::new();
    loop {
        let mut sp: libc::spwd = unsafe { zeroed() };
        let mut buf = vec![0u8; 512];
        let mut err = 0;
        let st =
            unsafe { _nss_workbench_getspent_r(&mut sp, buf.as_mut_ptr().cast(), 512, &mut err) };
        if st != NssStatus::Success {
            assert_eq!((st, err), NOTFOUND_ENOENT);
            break;
        }
        names.push(cs(sp.sp_namp));
    }
    _nss_workbench_endspent();
    assert_eq!(names, vec!["alice", "bob"]);
}

#[test]
fn enumeration_failure_is_not_end_of_list() {
    let _g = serial();
    let _d = FakeDaemon::start(Mode::Fixed(Status::TryAgain), Directory::sample());
    _nss_workbench_setpwent(0);
    let (st, err, _) = getpwent(1024);
    assert_eq!((st, err), TRYAGAIN_EAGAIN);
    _nss_workbench_endpwent();
}

#[test]
fn huge_group_is_served_with_growing_buffers_and_one_round_trip() {
    let _g = serial();
    let mut dir = Directory::sample();
    let members: Vec<String> = (0..20_000).map(|i| format!("member{i:05}")).collect();
    dir.groups.insert(3000, ("huge".into(), members.clone()));
    let d = FakeDaemon::start(Mode::Normal, dir);

    let name = CString::new("huge").unwrap();
    let mut buflen = 1024;
    let mut attempts = 0;
    let (gr, _buf) = loop {
        let mut gr: libc::group = unsafe { zeroed() };
        let mut buf = vec![0u8; buflen];
        let mut err = 0;
        let st = unsafe {
            _nss_workbench_getgrnam_r(
                name.as_ptr(),
                &mut gr,
                buf.as_mut_ptr().cast(),
                buflen,
                &mut err,
            )
        };
        attempts += 1;
        if st == NssStatus::Success {
            break (gr, buf);
        }
        assert_eq!((st, err), (NssStatus::TryAgain, libc::ERANGE));
        buflen *= 2;
    };
    assert!(attempts > 5);
    assert_eq!(gr.gr_gid, 3000);
    assert_eq!(gr_members(gr.gr_mem), members);
    assert_eq!(gr.gr_mem as usize % std::mem::align_of::<*mut c_char>(), 0);
    assert_eq!(
        d.stats.request_count(),
        1,
        "ERANGE retries are replayed locally"
    );
}

struct GroupList {
    start: c_long,
    size: c_long,
    groups: *mut gid_t,
}

impl GroupList {
    fn new(primary: gid_t, size: c_long) -> GroupList {
        let groups = unsafe { libc::malloc(size as usize * 4) }.cast::<gid_t>();
        unsafe { *groups = primary };
        GroupList {
            start: 1,
            size,
            groups,
        }
    }
    fn initgroups(&mut self, user: &str, primary: gid_t, limit: c_long) -> (NssStatus, c_int) {
        let user = CString::new(user).unwrap();
        let mut err = 0;
        let st = unsafe {
            _nss_workbench_initgroups_dyn(
                user.as_ptr(),
                primary,
                &mut self.start,
                &mut self.size,
                &mut self.groups,
                limit,
                &mut err,
            )
        };
        (st, err)
    }
    fn gids(&self) -> Vec<gid_t> {
        unsafe { std::slice::from_raw_parts(self.groups, self.start as usize) }.to_vec()
    }
}

impl Drop for GroupList {
    fn drop(&mut self) {
        unsafe { libc::free(self.groups.cast()) };
    }
}

#[test]
fn initgroups_appends_and_grows() {
    let _g = serial();
    let _d = FakeDaemon::start(Mode::Normal, Directory::sample());
    let mut l = GroupList::new(1001, 1);
    assert_eq!(l.initgroups("alice", 1001, -1).0, NssStatus::Success);
    assert_eq!(l.gids(), vec![1001, 2001, 2002, 2003]);
    assert_eq!(l.size, 4);

    let mut l = GroupList::new(1001, 1);
    assert_eq!(l.initgroups("alice", 1001, 3).0, NssStatus::Success);
    assert_eq!(l.gids(), vec![1001, 2001, 2002]);
    assert_eq!(l.size, 3);

    let mut l = GroupList::new(1001, 1);
    assert_eq!(l.initgroups("nobody-here", 1001, 0), NOTFOUND_ENOENT);
    assert_eq!(l.gids(), vec![1001]);
}

#[test]
fn null_pointers_are_refused_without_crashing() {
    let _g = serial();
    let d = FakeDaemon::start(Mode::Normal, Directory::sample());
    let mut pw: libc::passwd = unsafe { zeroed() };
    let mut buf = vec![0u8; 256];
    let mut err = 0;
    let name = CString::new("alice").unwrap();
    let einval = (NssStatus::Unavail, libc::EINVAL);
    let st = unsafe {
        _nss_workbench_getpwnam_r(
            std::ptr::null(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            256,
            &mut err,
        )
    };
    assert_eq!((st, err), einval);
    let st = unsafe {
        _nss_workbench_getpwnam_r(
            name.as_ptr(),
            std::ptr::null_mut(),
            buf.as_mut_ptr().cast(),
            256,
            &mut err,
        )
    };
    assert_eq!((st, err), einval);
    let st = unsafe {
        _nss_workbench_getpwnam_r(name.as_ptr(), &mut pw, std::ptr::null_mut(), 256, &mut err)
    };
    assert_eq!((st, err), einval);
    let st = unsafe {
        _nss_workbench_getpwnam_r(
            name.as_ptr(),
            &mut pw,
            buf.as_mut_ptr().cast(),
            256,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(st, NssStatus::Unavail);
    let mut start: c_long = 0;
    let mut size: c_long = 0;
    let st = unsafe {
        _nss_workbench_initgroups_dyn(
            name.as_ptr(),
            1,
            &mut start,
            &mut size,
            std::ptr::null_mut(),
            0,
            &mut err,
        )
    };
    assert_eq!((st, err), einval);
    assert_eq!(d.stats.request_count(), 0);
}

#[test]
fn fork_child_starts_its_own_enumeration() {
    let _g = serial();
    let _d = FakeDaemon::start(Mode::Normal, big_directory(5));
    _nss_workbench_setpwent(0);
    assert_eq!(getpwent(1024).2.unwrap().1, 10_000);
    assert_eq!(getpwent(1024).2.unwrap().1, 10_001);
    let child = unsafe { libc::fork() };
    assert!(child >= 0);
    if child == 0 {
        let first = getpwent(1024).2.map(|e| e.1);
        unsafe { libc::_exit(if first == Some(10_000) { 0 } else { 1 }) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child did not restart"
    );
    // The parent's cursor is where it was.
    assert_eq!(getpwent(1024).2.unwrap().1, 10_002);
    _nss_workbench_endpwent();
}
