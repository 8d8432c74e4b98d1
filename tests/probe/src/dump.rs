//! `dump passwd|group|initgroups`: one lookup per key read from stdin, one line per
//! answer on stdout (found entries as JSON, `KEY notfound` or
//! `KEY error ERRNO` otherwise), so that two runs (through the map and with
//! `WORKBENCH_NSS_NO_MAP=1`) can be compared byte for byte. All-digit keys are ids.

use std::ffi::CString;
use std::io::{BufRead, BufWriter, Write};

use crate::errno;
use crate::json::Json;
use crate::nss::{self, Answer, Buffer, Query};
use crate::report::Report;

pub const USAGE: &str = "dump passwd|group|initgroups   (keys on stdin, one answer line each)";

pub fn run(raw: &[String]) -> Result<Report, String> {
    let [db] = raw else {
        return Err("dump takes a database".to_owned());
    };
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut buf = Buffer::new(1024);
    let mut count = 0u64;
    for key in stdin.lock().lines() {
        let key = key.map_err(|e| e.to_string())?;
        if key.is_empty() {
            continue;
        }
        let line = if db == "initgroups" {
            initgroups(&key, &mut buf)?
        } else {
            let q = Query::parse(db, &key)?;
            let (o, _) = nss::growing(&mut buf, |b| q.run(b));
            match o.answer {
                Answer::Found(e) => entry_line(&e.to_json()),
                Answer::NotFound => format!("{key} notfound"),
                Answer::Failed(e) => format!("{key} error {}", errno::name(e)),
                Answer::Corrupt(why) => format!("{key} corrupt {why}"),
            }
        };
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
        count += 1;
    }
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    let mut r = Report::new();
    r.set("answers", count);
    Ok(r)
}

fn initgroups(user: &str, buf: &mut Buffer) -> Result<String, String> {
    let name = CString::new(user).map_err(|_| "NUL byte in a key".to_owned())?;
    let (pw, _) = nss::growing(buf, |b| nss::getpwnam(&name, b));
    let Answer::Found(p) = pw.answer else {
        return Ok(format!("{user} nouser"));
    };
    let mut gids = nss::grouplist(&name, p.gid);
    gids.sort_unstable();
    let gids: Vec<String> = gids.iter().map(u32::to_string).collect();
    Ok(format!("{user}: {}", gids.join(",")))
}

/// The entry as one JSON line.
fn entry_line(entry: &Json) -> String {
    entry.to_string()
}
