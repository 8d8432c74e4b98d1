//! `fork NAME`: look NAME up, fork, and look it up again in child and parent at the same
//! time. A module that reuses a connection inherited over fork() gets answers crossed
//! between the two processes; this catches it as a wrong uid/name or an error.

use std::ffi::CString;

use crate::args;
use crate::entry::Passwd;
use crate::nss::{self, Answer, Buffer};
use crate::report::Report;

pub const USAGE: &str = "fork NAME [--rounds N] [--lookups N]";

/// Child exit codes.
const CHILD_OK: i32 = 0;
const CHILD_WRONG: i32 = 1;
const CHILD_ERROR: i32 = 2;

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["rounds", "lookups"], &[])?;
    let [name] = a.pos.as_slice() else {
        return Err("fork takes one user name".to_owned());
    };
    let rounds: usize = a.value("rounds", 3)?;
    let lookups: usize = a.value("lookups", 50)?;
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
    let mut parent_failures = 0;
    let mut child_codes = Vec::new();
    for _ in 0..rounds {
        // SAFETY: the probe is single-threaded here, so the child may go on calling libc
        // as an ordinary C program would.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            r.fail(format!("fork failed: errno {}", crate::errno::get()));
            break;
        }
        if pid == 0 {
            let code = lookups_agree(&cname, &reference, lookups);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) };
        }
        if lookups_agree(&cname, &reference, lookups) != CHILD_OK {
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
    Ok(r)
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
