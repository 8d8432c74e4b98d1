//! `generations SECONDS GROUP USER... [--threads N]`: torn-read check while the daemon
//! republishes. The test gives every USER the gecos `gen-N` for generation N (N only
//! grows) and alternates GROUP's members between all USERs (N even) and the first USER
//! alone (N odd). Threads mix getpwnam_r, getpwuid_r, getgrnam_r and getgrouplist; every
//! answer must be one whole generation's (a passwd entry with a `gen-N` gecos and its
//! own uid; a member list that is one of the two sets), and no thread may ever see a
//! generation older than one it has already seen.

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::args;
use crate::nss::{self, Answer, Buffer};
use crate::report::Report;

pub const USAGE: &str = "generations SECONDS GROUP USER... [--threads N]";

struct User {
    name: CString,
    uid: u32,
    gid: u32,
}

#[derive(Default)]
struct Tally {
    calls: AtomicU64,
    wrong: AtomicU64,
    backwards: AtomicU64,
    errors: AtomicU64,
    highest: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl Tally {
    fn problem(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut p) = self.problems.lock() {
            if p.len() < 10 {
                p.push(what);
            }
        }
    }
}

fn generation_of(gecos: &[u8]) -> Option<u64> {
    std::str::from_utf8(gecos.strip_prefix(b"gen-")?)
        .ok()?
        .parse()
        .ok()
}

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["threads"], &[])?;
    let [secs, group, names @ ..] = a.pos.as_slice() else {
        return Err("generations takes SECONDS, a group and users".to_owned());
    };
    if names.is_empty() {
        return Err("generations takes at least one user".to_owned());
    }
    let seconds: f64 = args::number("SECONDS", secs)?;
    let nthreads: usize = a.value("threads", 16)?;
    let group = CString::new(group.as_str()).map_err(|_| "NUL in group".to_owned())?;
    let mut r = Report::new();
    let mut buf = Buffer::new(1 << 16);
    let mut users = Vec::new();
    for n in names {
        let name = CString::new(n.as_str()).map_err(|_| "NUL in user".to_owned())?;
        match nss::getpwnam(&name, &mut buf).answer {
            Answer::Found(p) => users.push(User {
                name,
                uid: p.uid,
                gid: p.gid,
            }),
            _ => r.fail(format!("{n}: not found at start")),
        }
    }
    let Answer::Found(g) = nss::getgrnam(&group, &mut buf).answer else {
        r.fail("the group is not found at start");
        return Ok(r);
    };
    let gid = g.gid;
    if !r.ok() {
        return Ok(r);
    }
    let all: Vec<Vec<u8>> = users.iter().map(|u| u.name.as_bytes().to_vec()).collect();
    let first: Vec<Vec<u8>> = all.iter().take(1).cloned().collect();
    let tally = Tally::default();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
    std::thread::scope(|s| {
        for t in 0..nthreads {
            let (users, tally, group, all, first) = (&users, &tally, &group, &all, &first);
            s.spawn(move || {
                let mut buf = Buffer::new(256);
                let mut seen = 0u64;
                let mut i = t;
                while Instant::now() < deadline {
                    tally.calls.fetch_add(1, Ordering::Relaxed);
                    let u = &users[i % users.len()];
                    let op = (i / users.len()) % 4;
                    i += 1;
                    let passwd = match op {
                        0 => Some(nss::growing(&mut buf, |b| nss::getpwnam(&u.name, b)).0),
                        1 => Some(nss::growing(&mut buf, |b| nss::getpwuid(u.uid, b)).0),
                        _ => None,
                    };
                    if let Some(o) = passwd {
                        match o.answer {
                            Answer::Found(p) if p.uid == u.uid && p.name == u.name.as_bytes() => {
                                match generation_of(&p.gecos) {
                                    Some(g) if g < seen => tally.problem(
                                        &tally.backwards,
                                        format!("{:?}: gen {g} after gen {seen}", u.name),
                                    ),
                                    Some(g) => {
                                        seen = g;
                                        tally.highest.fetch_max(g, Ordering::Relaxed);
                                    }
                                    None => tally.problem(
                                        &tally.wrong,
                                        format!("{:?}: gecos {:?}", u.name, p.gecos),
                                    ),
                                }
                            }
                            Answer::Found(p) => {
                                tally.problem(&tally.wrong, format!("{:?}: got {p:?}", u.name))
                            }
                            other => tally.problem(
                                &tally.errors,
                                format!("{:?}: {}", u.name, describe(&other)),
                            ),
                        }
                        continue;
                    }
                    if op == 2 {
                        match nss::growing(&mut buf, |b| nss::getgrnam(group, b)).0.answer {
                            Answer::Found(g)
                                if same_set(&g.members, all) || same_set(&g.members, first) => {}
                            Answer::Found(g) => tally
                                .problem(&tally.wrong, format!("group members {:?}", g.members)),
                            other => {
                                tally.problem(&tally.errors, format!("group: {}", describe(&other)))
                            }
                        }
                    } else {
                        let gl = nss::grouplist(&u.name, u.gid);
                        let member = gl.contains(&gid);
                        // The first user is a member in every generation.
                        if !member && u.name.as_bytes() == all[0].as_slice() {
                            tally.problem(&tally.wrong, format!("{:?}: groups {gl:?}", u.name));
                        }
                    }
                }
            });
        }
    });
    for (k, c) in [
        ("calls", &tally.calls),
        ("wrong", &tally.wrong),
        ("backwards", &tally.backwards),
        ("errors", &tally.errors),
        ("highest_generation", &tally.highest),
    ] {
        r.set(k, c.load(Ordering::Relaxed));
    }
    let problems = tally.problems.into_inner().unwrap_or_default();
    r.set("problems", problems.clone());
    let bad = tally.wrong.load(Ordering::Relaxed)
        + tally.backwards.load(Ordering::Relaxed)
        + tally.errors.load(Ordering::Relaxed);
    if bad > 0 {
        r.fail(format!(
            "{bad} bad answers: {}",
            problems.first().map_or("", String::as_str)
        ));
    }
    Ok(r)
}

fn describe<T>(a: &Answer<T>) -> String {
    match a {
        Answer::Found(_) => "found".to_owned(),
        Answer::NotFound => "not found".to_owned(),
        Answer::Failed(e) => crate::errno::name(*e),
        Answer::Corrupt(why) => format!("corrupt: {why}"),
    }
}

fn same_set(a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}
