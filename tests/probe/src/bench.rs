//! `bench KIND KEY...`: lookups in a loop on every thread, keys round-robin, the latency
//! of each call recorded. `bench-enumerate passwd|group`: time to list every entry.
//! Benchmarks print numbers; `scripts/bench` compares them with the `files` backend.
//!
//! `getgrnam-static` is the non-reentrant `getgrnam()`, whose buffer glibc owns: it
//! starts at 1024 bytes and doubles on ERANGE (then keeps the grown buffer), so it is
//! one thread only. `--prime KEY` makes one untimed call first (NSS loaded, buffers at
//! their starting size); `first_ns` is the first timed call, which for
//! `getgrnam-static` after a prime with a small group is the whole growing sequence.

use std::collections::HashSet;
use std::ffi::CString;
use std::time::{Duration, Instant};

use crate::args;
use crate::histogram::Histogram;
use crate::json::Json;
use crate::nss::{self, Answer, Buffer};
use crate::quick;
use crate::report::Report;

pub const USAGE: &str = "bench getpwnam|getpwuid|getgrnam|getgrnam-static|getgrouplist KEY... \
--seconds S --threads T [--prime KEY] [--allow-notfound]";
pub const ENUMERATE_USAGE: &str = "bench-enumerate passwd|group [--repeat N] [--names]";

/// What real programs start with (sysconf(_SC_GETPW_R_SIZE_MAX) is 1024; most use more).
const BUFFER: usize = 16 << 10;

enum Key {
    Name(CString),
    Id(u32),
    User(CString, u32),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    PwNam,
    PwUid,
    GrNam,
    GrNamStatic,
    GroupList,
}

struct ThreadResult {
    hist: Histogram,
    first_ns: u64,
    errors: u64,
    notfound: u64,
    first_error: Option<String>,
}

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["seconds", "threads", "prime"], &["allow-notfound"])?;
    let Some((kind_name, keys)) = a.pos.split_first() else {
        return Err("bench takes a kind and keys".to_owned());
    };
    let kind = match kind_name.as_str() {
        "getpwnam" => Kind::PwNam,
        "getpwuid" => Kind::PwUid,
        "getgrnam" => Kind::GrNam,
        "getgrnam-static" => Kind::GrNamStatic,
        "getgrouplist" => Kind::GroupList,
        other => return Err(format!("unknown bench kind {other:?}")),
    };
    if keys.is_empty() {
        return Err("bench needs at least one key".to_owned());
    }
    let seconds: f64 = a.value("seconds", 5.0)?;
    let threads: usize = a.value("threads", 1)?;
    if threads == 0 || seconds <= 0.0 {
        return Err("--threads and --seconds must be positive".to_owned());
    }
    if kind == Kind::GrNamStatic && threads != 1 {
        return Err("getgrnam-static is not thread-safe: --threads 1".to_owned());
    }
    let keys = keys
        .iter()
        .map(|k| key(kind, k))
        .collect::<Result<Vec<_>, _>>()?;
    let prime = a.text("prime").map(|k| key(kind, k)).transpose()?;

    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let results: Vec<ThreadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (keys, prime) = (&keys, prime.as_ref());
                s.spawn(move || worker(kind, keys, prime, t, deadline))
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let wall = start.elapsed().as_secs_f64();

    let mut hist = Histogram::new();
    let (mut errors, mut notfound, mut first_error) = (0, 0, None);
    for t in &results {
        hist.merge(&t.hist);
        errors += t.errors;
        notfound += t.notfound;
        if first_error.is_none() {
            first_error.clone_from(&t.first_error);
        }
    }
    let mut r = Report::new();
    r.set("kind", kind_name.as_str());
    r.set("keys", keys.len());
    r.set("threads", threads);
    r.set("seconds", wall);
    r.set("calls", hist.count());
    r.set("calls_per_sec", hist.count() as f64 / wall);
    r.set("p50_ns", hist.quantile(0.50));
    r.set("p90_ns", hist.quantile(0.90));
    r.set("p99_ns", hist.quantile(0.99));
    r.set("p999_ns", hist.quantile(0.999));
    r.set("max_ns", hist.max());
    r.set("mean_ns", hist.mean());
    r.set(
        "first_ns",
        results.iter().map(|t| t.first_ns).max().unwrap_or(0),
    );
    r.set("errors", errors);
    r.set("notfound", notfound);
    if results.len() != threads {
        r.fail("a benchmark thread panicked");
    }
    if errors > 0 {
        r.fail(format!(
            "{errors} failed calls: {}",
            first_error.unwrap_or_default()
        ));
    }
    if notfound > 0 && !a.flag("allow-notfound") {
        r.fail(format!(
            "{notfound} lookups found nothing (--allow-notfound to accept)"
        ));
    }
    Ok(r)
}

fn key(kind: Kind, k: &str) -> Result<Key, String> {
    let name = || CString::new(k).map_err(|_| format!("NUL byte in {k:?}"));
    Ok(match kind {
        Kind::PwUid => Key::Id(args::number("uid", k)?),
        Kind::PwNam | Kind::GrNam | Kind::GrNamStatic => Key::Name(name()?),
        Kind::GroupList => {
            let n = name()?;
            match nss::getpwnam(&n, &mut Buffer::new(1 << 20)).answer {
                Answer::Found(p) => Key::User(n, p.gid),
                _ => return Err(format!("getgrouplist bench: no such user {k:?}")),
            }
        }
    })
}

fn worker(
    kind: Kind,
    keys: &[Key],
    prime: Option<&Key>,
    t: usize,
    deadline: Instant,
) -> ThreadResult {
    let mut res = ThreadResult {
        hist: Histogram::new(),
        first_ns: 0,
        errors: 0,
        notfound: 0,
        first_error: None,
    };
    let mut buf = Buffer::new(BUFFER);
    if let Some(k) = prime {
        // Untimed; its answer does not count.
        let _ = call(kind, k, &mut buf);
    }
    let mut i = t;
    while let Some(k) = keys.get(i % keys.len()) {
        i += 1;
        let t0 = Instant::now();
        let answer = call(kind, k, &mut buf);
        let t1 = Instant::now();
        let ns = u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX);
        if res.hist.count() == 0 {
            res.first_ns = ns;
        }
        res.hist.record(ns);
        match answer {
            Answer::Found(()) => {}
            Answer::NotFound => res.notfound += 1,
            Answer::Failed(e) => {
                res.errors += 1;
                res.first_error.get_or_insert_with(|| crate::errno::name(e));
            }
            Answer::Corrupt(why) => {
                res.errors += 1;
                res.first_error.get_or_insert(why);
            }
        }
        if t1 >= deadline {
            break;
        }
    }
    res
}

/// One lookup of `k`, the way the kind's callers make it.
fn call(kind: Kind, k: &Key, buf: &mut Buffer) -> Answer<()> {
    match (kind, k) {
        (Kind::PwNam, Key::Name(n)) => nss::growing(buf, |b| quick::getpwnam(n, b)).0.answer,
        (Kind::PwUid, Key::Id(u)) => nss::growing(buf, |b| quick::getpwuid(*u, b)).0.answer,
        (Kind::GrNam, Key::Name(n)) => nss::growing(buf, |b| quick::getgrnam(n, b)).0.answer,
        (Kind::GrNamStatic, Key::Name(n)) => quick::getgrnam_static(n),
        (Kind::GroupList, Key::User(n, g)) => {
            let gl = nss::grouplist(n, *g);
            if gl.is_empty() {
                Answer::NotFound
            } else {
                Answer::Found(())
            }
        }
        _ => Answer::Corrupt("key does not fit the kind".to_owned()),
    }
}

/// `bench-enumerate passwd|group`.
pub fn enumerate(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["repeat"], &["names"])?;
    let [db] = a.pos.as_slice() else {
        return Err("bench-enumerate takes passwd or group".to_owned());
    };
    let repeat: usize = a.value("repeat", 1)?;
    let passwd = match db.as_str() {
        "passwd" => true,
        "group" => false,
        other => return Err(format!("cannot enumerate {other:?}")),
    };
    let mut r = Report::new();
    r.set("db", db.as_str());
    let mut times = Vec::new();
    let mut counts = Vec::new();
    let mut erange = 0;
    let mut names: Vec<Vec<u8>> = Vec::new();
    for round in 0..repeat.max(1) {
        let t0 = Instant::now();
        let listed = match list(passwd, &mut erange) {
            Ok(l) => l,
            Err(e) => {
                r.fail(e);
                return Ok(r);
            }
        };
        times.push(t0.elapsed().as_nanos());
        counts.push(listed.len());
        if round == 0 {
            names = listed;
        }
    }
    times.sort_unstable();
    let median = times.get(times.len() / 2).copied().unwrap_or(0);
    let count = counts.first().copied().unwrap_or(0);
    let unique: HashSet<&Vec<u8>> = names.iter().collect();
    r.set("count", count);
    r.set("duplicates", names.len() - unique.len());
    r.set("repeat", times.len());
    r.set("elapsed_ns", u64::try_from(median).unwrap_or(u64::MAX));
    r.set(
        "per_entry_ns",
        u64::try_from(median / (count.max(1) as u128)).unwrap_or(u64::MAX),
    );
    r.set("erange_retries", erange);
    if counts.iter().any(|c| *c != count) {
        r.set("counts", counts);
        r.fail("the number of entries changed between rounds");
    }
    if a.flag("names") {
        r.set(
            "names",
            Json::Arr(names.iter().map(|n| Json::bytes(n)).collect()),
        );
    }
    Ok(r)
}

/// One setXXent / getXXent_r loop / endXXent pass; the buffer starts small so ERANGE
/// retries (which must not advance the enumeration) happen.
fn list(passwd: bool, erange: &mut u64) -> Result<Vec<Vec<u8>>, String> {
    let mut buf = Buffer::new(256);
    let mut out = Vec::new();
    // SAFETY: plain libc calls; the enumeration state is per process and we are the only
    // thread enumerating.
    unsafe {
        if passwd {
            libc::setpwent()
        } else {
            libc::setgrent()
        }
    };
    let result = loop {
        let answer = if passwd {
            nss::getpwent(&mut buf).answer.map(|p| p.name)
        } else {
            nss::getgrent(&mut buf).answer.map(|g| g.name)
        };
        match answer {
            Answer::Found(n) => out.push(n),
            Answer::Failed(e) if e == libc::ERANGE => {
                *erange += 1;
                if !buf.grow() {
                    break Err("entry larger than the maximum buffer".to_owned());
                }
            }
            Answer::Failed(e) if e == libc::ENOENT => break Ok(out),
            Answer::NotFound => break Ok(out),
            Answer::Failed(e) => {
                break Err(format!(
                    "enumeration failed after {} entries: {}",
                    out.len(),
                    crate::errno::name(e)
                ))
            }
            Answer::Corrupt(why) => break Err(format!("after {} entries: {why}", out.len())),
        }
    };
    // SAFETY: as above.
    unsafe {
        if passwd {
            libc::endpwent()
        } else {
            libc::endgrent()
        }
    };
    result
}
