//! `bigroup NAME`: the non-reentrant `getgrnam`, whose internal buffer glibc starts at
//! 1024 bytes and doubles on ERANGE, so a module that mishandles ERANGE for large groups
//! shows up here. The member list must match `getgrnam_r` with a growing buffer.

use std::ffi::CString;

use crate::args;
use crate::json::Json;
use crate::nss::{self, Answer, Buffer};
use crate::report::Report;

pub const USAGE: &str = "bigroup NAME [--expect-members N]";

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["expect-members"], &[])?;
    let [name] = a.pos.as_slice() else {
        return Err("bigroup takes one group name".to_owned());
    };
    let expect: Option<usize> = a.opt_value("expect-members")?;
    let cname = CString::new(name.as_str()).map_err(|_| "NUL byte in name".to_owned())?;
    let mut r = Report::new();
    r.set("name", name.as_str());
    let t0 = std::time::Instant::now();
    let group = match nss::getgrnam_static(&cname).answer {
        Answer::Found(g) => g,
        Answer::NotFound => {
            r.fail("getgrnam: not found");
            return Ok(r);
        }
        Answer::Failed(e) => {
            r.set("errno_name", crate::errno::name(e));
            r.fail(format!("getgrnam failed with errno {e}"));
            return Ok(r);
        }
        Answer::Corrupt(why) => {
            r.fail(format!("getgrnam: {why}"));
            return Ok(r);
        }
    };
    r.set("elapsed_ms", t0.elapsed().as_secs_f64() * 1e3);
    r.set("gid", group.gid);
    r.set("members", group.members.len());
    let bytes: usize = group.members.iter().map(|m| m.len() + 1).sum();
    r.set("member_bytes", bytes);
    r.set(
        "first_members",
        Json::Arr(
            group
                .members
                .iter()
                .take(3)
                .map(|m| Json::bytes(m))
                .collect(),
        ),
    );
    if let Some(n) = expect {
        if group.members.len() != n {
            r.fail(format!("{} members, expected {n}", group.members.len()));
        }
    }
    let (again, retries) = nss::growing(&mut Buffer::new(1024), |b| nss::getgrnam(&cname, b));
    r.set("reentrant_erange_retries", retries);
    match again.answer {
        Answer::Found(g) if g == group => r.set("matches_reentrant", true),
        other => {
            r.set("matches_reentrant", false);
            r.fail(format!(
                "getgrnam_r disagrees: {}",
                crate::buffers::show(&other.map(crate::entry::Entry::Group))
            ));
        }
    }
    Ok(r)
}
