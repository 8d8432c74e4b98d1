//! `threads SECONDS KEY...`: 16 threads mixing getpwnam_r, getpwuid_r, getgrnam_r and
//! getgrouplist for SECONDS, each answer checked against a reference taken at start.
//! Each KEY is tried as a user and as a group. Buffers start small and grow on ERANGE,
//! as real programs' do, and shrink again now and then so the ERANGE path stays busy.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::args;
use crate::entry::{Group, Passwd};
use crate::nss::{self, Answer, Buffer, Outcome};
use crate::report::Report;

pub const USAGE: &str = "threads SECONDS KEY... [--threads N]";

const SMALL_BUFFER: usize = 128;
const MAX_PROBLEMS: usize = 10;

struct UserRef {
    name: CString,
    by_name: Passwd,
    by_uid: Passwd,
    groups: Vec<u32>,
}

struct GroupRef {
    name: CString,
    entry: Group,
}

#[derive(Clone, Copy)]
enum Op {
    PwNam(usize),
    PwUid(usize),
    GrNam(usize),
    GroupList(usize),
}

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    errors: AtomicU64,
    wrong: AtomicU64,
    erange: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl Tally {
    fn problem(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut p) = self.problems.lock() {
            if p.len() < MAX_PROBLEMS {
                p.push(what);
            }
        }
    }
}

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["threads"], &[])?;
    let Some((secs, keys)) = a.pos.split_first() else {
        return Err("threads takes SECONDS and at least one key".to_owned());
    };
    if keys.is_empty() {
        return Err("threads takes at least one key".to_owned());
    }
    let seconds: f64 = args::number("SECONDS", secs)?;
    let nthreads: usize = a.value("threads", 16)?;
    let mut r = Report::new();
    let (users, groups) = references(&mut r, keys)?;
    if !r.ok() {
        return Ok(r);
    }
    let mut ops = Vec::new();
    for i in 0..users.len() {
        ops.extend([Op::PwNam(i), Op::PwUid(i), Op::GroupList(i)]);
    }
    ops.extend((0..groups.len()).map(Op::GrNam));

    let tally = Tally::default();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    std::thread::scope(|s| {
        for t in 0..nthreads {
            let (ops, users, groups, tally) = (&ops, &users, &groups, &tally);
            s.spawn(move || worker(t, ops, users, groups, tally, deadline));
        }
    });
    r.set("threads", nthreads);
    r.set("seconds", seconds);
    r.set("users", users.len());
    r.set("groups", groups.len());
    let calls = tally.calls.load(Ordering::Relaxed);
    let errors = tally.errors.load(Ordering::Relaxed);
    let wrong = tally.wrong.load(Ordering::Relaxed);
    r.set("calls", calls);
    r.set("errors", errors);
    r.set("wrong", wrong);
    r.set("erange_retries", tally.erange.load(Ordering::Relaxed));
    let problems = tally.problems.into_inner().unwrap_or_default();
    r.set("problems", problems.clone());
    if errors > 0 || wrong > 0 {
        r.fail(format!(
            "{errors} errors, {wrong} wrong answers: {}",
            problems.first().map_or("", String::as_str)
        ));
    }
    if calls == 0 {
        r.fail("no calls completed");
    }
    Ok(r)
}

fn references(r: &mut Report, keys: &[String]) -> Result<(Vec<UserRef>, Vec<GroupRef>), String> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut buf = Buffer::new(1 << 20);
    for key in keys {
        let name = CString::new(key.as_str()).map_err(|_| format!("NUL byte in {key:?}"))?;
        let mut known = false;
        if let Answer::Found(p) = nss::getpwnam(&name, &mut buf).answer {
            let by_uid = match nss::getpwuid(p.uid, &mut buf).answer {
                Answer::Found(u) => u,
                _ => {
                    r.fail(format!("{key}: getpwuid_r({}) failed at start", p.uid));
                    continue;
                }
            };
            let mut gl = nss::grouplist(&name, p.gid);
            gl.sort_unstable();
            users.push(UserRef {
                name: name.clone(),
                by_name: p,
                by_uid,
                groups: gl,
            });
            known = true;
        }
        if let Answer::Found(g) = nss::getgrnam(&name, &mut buf).answer {
            groups.push(GroupRef { name, entry: g });
            known = true;
        }
        if !known {
            r.fail(format!("{key}: neither a user nor a group at start"));
        }
    }
    Ok((users, groups))
}

fn worker(
    t: usize,
    ops: &[Op],
    users: &[UserRef],
    groups: &[GroupRef],
    tally: &Tally,
    deadline: Instant,
) {
    let mut buf = Buffer::new(SMALL_BUFFER);
    let mut i = t;
    while Instant::now() < deadline {
        if i & 63 == 0 {
            buf.resize(SMALL_BUFFER);
        }
        let Some(op) = ops.get(i % ops.len()) else {
            return;
        };
        i += 1;
        tally.calls.fetch_add(1, Ordering::Relaxed);
        match *op {
            Op::PwNam(u) => {
                let u = &users[u];
                let (o, n) = nss::growing(&mut buf, |b| nss::getpwnam(&u.name, b));
                tally.erange.fetch_add(u64::from(n), Ordering::Relaxed);
                check(tally, "getpwnam_r", &u.name, o, &u.by_name);
            }
            Op::PwUid(u) => {
                let u = &users[u];
                let (o, n) = nss::growing(&mut buf, |b| nss::getpwuid(u.by_name.uid, b));
                tally.erange.fetch_add(u64::from(n), Ordering::Relaxed);
                check(tally, "getpwuid_r", &u.name, o, &u.by_uid);
            }
            Op::GrNam(g) => {
                let g = &groups[g];
                let (o, n) = nss::growing(&mut buf, |b| nss::getgrnam(&g.name, b));
                tally.erange.fetch_add(u64::from(n), Ordering::Relaxed);
                check(tally, "getgrnam_r", &g.name, o, &g.entry);
            }
            Op::GroupList(u) => {
                let u = &users[u];
                let mut gl = nss::grouplist(&u.name, u.by_name.gid);
                gl.sort_unstable();
                if gl != u.groups {
                    tally.problem(
                        &tally.wrong,
                        format!("getgrouplist({:?}): {gl:?} != {:?}", u.name, u.groups),
                    );
                }
            }
        }
    }
}

fn check<T: PartialEq + std::fmt::Debug>(
    tally: &Tally,
    func: &str,
    key: &CString,
    o: Outcome<T>,
    reference: &T,
) {
    match o.answer {
        Answer::Found(ref v) if v == reference => {}
        Answer::Found(v) => tally.problem(&tally.wrong, format!("{func}({key:?}): got {v:?}")),
        Answer::NotFound => tally.problem(&tally.errors, format!("{func}({key:?}): not found")),
        Answer::Failed(e) => tally.problem(
            &tally.errors,
            format!("{func}({key:?}): {}", crate::errno::name(e)),
        ),
        Answer::Corrupt(why) => tally.problem(&tally.errors, format!("{func}({key:?}): {why}")),
    }
}
