//! `fork NAME`: look NAME up, fork, and look it up again in child and parent at the same
//! time. A module that reuses a connection inherited over fork() gets answers crossed
//! between the two processes; this catches it as a wrong uid/name or an error.
//! With `--threads T`, T threads keep looking NAME up while the main thread forks, so
//! that forks land in the middle of other threads' lookups and map refreshes; a child
//! that hangs is ended by an alarm and reported as killed by a signal.

use std::ffi::CString;

use crate::args;
use crate::entry::Passwd;
use crate::nss::{self, Answer, Buffer};
use crate::report::Report;

pub const USAGE: &str = "fork NAME [--rounds N] [--lookups N] [--threads T]";

/// Child exit codes.
const CHILD_OK: i32 = 0;
const CHILD_WRONG: i32 = 1;
const CHILD_ERROR: i32 = 2;

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["rounds", "lookups", "threads"], &[])?;
    let [name] = a.pos.as_slice() else {
        return Err("fork takes one user name".to_owned());
    };
    let rounds: usize = a.value("rounds", 3)?;
    let lookups: usize = a.value("lookups", 50)?;
    let threads: usize = a.value("threads", 0)?;
    let cname = CString::new(name.as_str()).map_err(|_| "NUL byte in name".to_owned())?;
    let mut r = Report::new();
    r.set("name", name.as_str());
    let mut buf = Buffer::new(16 << 10);
    let reference = match nss::growing(&mut buf, |b| nss::getpwnam(&cname, b))
        .0
        .answer
    {
        Answer::Found(p) => p,
        other => {
            r.fail(format!(
                "lookup before fork: {}",
                crate::buffers::show(&other.map(crate::entry::Entry::Passwd))
            ));
            return Ok(r);
        }
    };
    r.set("uid", reference.uid);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let thread_failures = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (stop, failures, cname, reference) = (&stop, &thread_failures, &cname, &reference);
            scope.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if lookups_agree(cname, reference, 20) != CHILD_OK {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
        forks(&mut r, &cname, &reference, rounds, lookups, threads > 0);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let failed = thread_failures.load(std::sync::atomic::Ordering::Relaxed);
    r.set("threads", threads);
    r.set("thread_failures", failed);
    if failed > 0 {
        r.fail(format!("{failed} background lookup round(s) failed"));
    }
    Ok(r)
}

fn forks(
    r: &mut Report,
    cname: &CString,
    reference: &Passwd,
    rounds: usize,
    lookups: usize,
    threaded: bool,
) {
    let mut parent_failures = 0;
    let mut child_codes = Vec::new();
    for _ in 0..rounds {
        // SAFETY: without --threads the probe is single-threaded here, so the child may go
        // on calling libc as an ordinary C program would; with threads, glibc's own fork
        // handlers make malloc and NSS usable in the child, which is what this checks.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            r.fail(format!("fork failed: errno {}", crate::errno::get()));
            break;
        }
        if pid == 0 {
            if threaded {
                // SAFETY: alarm has no preconditions; SIGALRM's default action ends a
                // child that hangs (a lock held by a thread that does not exist here).
                unsafe { libc::alarm(20) };
            }
            let code = lookups_agree(cname, reference, lookups);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) };
        }
        if lookups_agree(cname, reference, lookups) != CHILD_OK {
            parent_failures += 1;
        }
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out pointer.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        let code = if waited != pid {
            -1
        } else if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            // Killed by a signal: report it negated (e.g. -11 for SIGSEGV).
            -libc::WTERMSIG(status)
        };
        child_codes.push(code);
    }
    r.set("rounds", rounds);
    r.set("lookups_per_process", lookups);
    r.set("parent_failures", parent_failures);
    r.set("child_exit_codes", child_codes.clone());
    if parent_failures > 0 {
        r.fail(format!(
            "{parent_failures} parent round(s) saw a wrong or failed lookup"
        ));
    }
    for c in child_codes {
        match c {
            CHILD_OK => {}
            CHILD_WRONG => r.fail("a child got a wrong answer"),
            CHILD_ERROR => r.fail("a child lookup failed"),
            c if c < 0 => r.fail(format!("a child died (signal {})", -c)),
            c => r.fail(format!("a child exited with {c}")),
        }
    }
}

/// Alternates getpwnam_r and getpwuid_r; returns one of the CHILD_* codes.
fn lookups_agree(name: &CString, reference: &Passwd, n: usize) -> i32 {
    let mut buf = Buffer::new(16 << 10);
    for i in 0..n {
        let o = if i % 2 == 0 {
            nss::growing(&mut buf, |b| nss::getpwnam(name, b)).0
        } else {
            nss::growing(&mut buf, |b| nss::getpwuid(reference.uid, b)).0
        };
        match o.answer {
            Answer::Found(p) if p.uid == reference.uid && p.name == reference.name => {}
            Answer::Found(_) => return CHILD_WRONG,
            _ => return CHILD_ERROR,
        }
    }
    CHILD_OK
}
