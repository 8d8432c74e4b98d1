//! `lookup passwd|group|shadow|initgroups KEY`: one call, reported precisely (see the
//! status table in nss.rs), so tests can tell NOTFOUND from TRYAGAIN/EAGAIN from
//! UNAVAIL/ENOENT or EACCES.

use std::ffi::CString;
use std::time::Instant;

use crate::args;
use crate::errno;
use crate::json::Json;
use crate::nss::{self, Answer, Buffer, Query};
use crate::report::Report;

pub const USAGE: &str = "lookup passwd|group|shadow|initgroups KEY [--expect STATUS] \
[--buffer BYTES] [--gid GID]
    STATUS: found, notfound, error, corrupt, or an errno name (EAGAIN, ENOENT, EACCES...).
    Exit 0 when the status matches --expect (default: found).";

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["expect", "buffer", "gid"], &[])?;
    let [db, key] = a.pos.as_slice() else {
        return Err("lookup takes a database and a key".to_owned());
    };
    let expect = a.text("expect").unwrap_or("found").to_owned();
    let size: usize = a.value("buffer", 1 << 20)?;
    let mut r = Report::new();
    r.set("db", db.as_str());
    r.set("key", key.as_str());
    let status = if db == "initgroups" {
        initgroups(&mut r, key, a.opt_value("gid")?)?
    } else {
        let q = Query::parse(db, key)?;
        r.set("function", q.function());
        let mut buf = Buffer::new(size);
        let t0 = Instant::now();
        let o = q.run(&mut buf);
        r.set("elapsed_ms", t0.elapsed().as_secs_f64() * 1e3);
        describe(&mut r, &o.answer.map(|e| e.to_json()), o.errno)
    };
    if !status.contains(&expect) {
        r.fail(format!("expected {expect}, got {}", status.join("/")));
    }
    Ok(r)
}

/// Adds status/ret/errno fields; returns the names the outcome matches (status and, for
/// an error, the errno name).
fn describe(r: &mut Report, answer: &Answer<Json>, err: i32) -> Vec<String> {
    match answer {
        Answer::Found(entry) => {
            r.set("status", "found");
            r.set("ret", 0);
            r.set("entry", entry.clone());
            vec!["found".to_owned()]
        }
        Answer::NotFound => {
            r.set("status", "notfound");
            r.set("ret", 0);
            // glibc clears errno for NOTFOUND; anything else is worth seeing.
            r.set("errno", err);
            if err != 0 {
                r.set("errno_name", errno::name(err));
            }
            vec!["notfound".to_owned()]
        }
        Answer::Failed(ret) => {
            r.set("status", "error");
            r.set("ret", *ret);
            r.set("errno", *ret);
            r.set("errno_name", errno::name(*ret));
            r.set("errno_after", err);
            vec!["error".to_owned(), errno::name(*ret)]
        }
        Answer::Corrupt(why) => {
            r.set("status", "corrupt");
            r.set("detail", why.as_str());
            vec!["corrupt".to_owned()]
        }
    }
}

fn initgroups(r: &mut Report, user: &str, gid: Option<u32>) -> Result<Vec<String>, String> {
    let name = CString::new(user).map_err(|_| "NUL byte in user name".to_owned())?;
    r.set("function", "getgrouplist");
    let mut buf = Buffer::new(1 << 20);
    let t0 = Instant::now();
    let pw = nss::getpwnam(&name, &mut buf);
    let base = match (&pw.answer, gid) {
        (_, Some(g)) => g,
        (Answer::Found(p), None) => p.gid,
        (other, None) => {
            // Without --gid the user's primary group comes from passwd.
            r.set("elapsed_ms", t0.elapsed().as_secs_f64() * 1e3);
            r.set("stage", "getpwnam_r");
            return Ok(describe(r, &other.clone().map(|p| p.to_json()), pw.errno));
        }
    };
    let groups = nss::grouplist(&name, base);
    r.set("elapsed_ms", t0.elapsed().as_secs_f64() * 1e3);
    let names: Vec<Json> = groups
        .iter()
        .map(
            |g| match nss::growing(&mut buf, |b| nss::getgrgid(*g, b)).0.answer {
                Answer::Found(gr) => Json::bytes(&gr.name),
                _ => Json::Null,
            },
        )
        .collect();
    r.set("status", "found");
    r.set("gid", base);
    r.set("groups", groups);
    r.set("group_names", Json::Arr(names));
    Ok(vec!["found".to_owned()])
}
