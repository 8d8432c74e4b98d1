//! `buffers passwd|group|shadow KEY`: calls the `*_r` function with buffers of 1, 2, 3 ...
//! bytes. Every call before the first success must fail with ERANGE, the first success
//! must equal a lookup with a 1 MiB buffer, and so must every size after it. Then the same
//! around the threshold with buffers starting 1..7 bytes past an aligned address, so a
//! module that does not align `gr_mem` is caught. Guard bytes after each buffer catch
//! writes past `buflen`; every returned pointer must lie inside the buffer.

use crate::args;
use crate::entry::Entry;
use crate::errno;
use crate::nss::{Answer, Buffer, Query};
use crate::report::Report;

pub const USAGE: &str = "buffers passwd|group|shadow KEY [--max BYTES] [--step N]
    Exit 0 when every too-small buffer gave ERANGE and the first big-enough one the entry.";

/// Sizes past the first success that must also succeed.
const STABLE_SPAN: usize = 32;

pub fn run(raw: &[String]) -> Result<Report, String> {
    let a = args::parse(raw, &["max", "step"], &[])?;
    let [db, key] = a.pos.as_slice() else {
        return Err("buffers takes a database and a key".to_owned());
    };
    if db == "initgroups" {
        return Err("buffers: initgroups has no caller buffer".to_owned());
    }
    let max: usize = a.value("max", 1 << 20)?;
    let step: usize = a.value("step", 1)?;
    if step == 0 {
        return Err("--step must be at least 1".to_owned());
    }
    let q = Query::parse(db, key)?;
    let mut r = Report::new();
    r.set("db", db.as_str());
    r.set("key", key.as_str());
    r.set("function", q.function());

    let reference = match q.run(&mut Buffer::new(1 << 20)).answer {
        Answer::Found(e) => e,
        other => {
            r.fail(format!("reference lookup with 1 MiB: {}", show(&other)));
            return Ok(r);
        }
    };
    let Some((first_ok, erange_count)) = sweep(&mut r, &q, &reference, 1, max, step, 0) else {
        return Ok(r);
    };
    r.set("first_ok_size", first_ok);
    r.set("erange_count", erange_count);
    r.set("entry", reference.to_json());

    for size in first_ok + 1..=first_ok + STABLE_SPAN {
        if let Some(bad) = check_equal(&q, &reference, size, 0) {
            r.fail(format!("size {size} (after success at {first_ok}): {bad}"));
        }
    }
    // The threshold may move by up to the alignment when the buffer is misaligned.
    let mut misaligned = Vec::new();
    for offset in 1..8 {
        let from = first_ok.saturating_sub(8).max(1);
        match sweep(&mut r, &q, &reference, from, first_ok + 8, 1, offset) {
            Some((ok, _)) => misaligned.push(ok),
            None => break,
        }
    }
    r.set("misaligned_first_ok_sizes", misaligned);
    Ok(r)
}

/// Tries sizes from..=max; returns (first size that worked, ERANGE count before it).
fn sweep(
    r: &mut Report,
    q: &Query,
    reference: &Entry,
    from: usize,
    max: usize,
    step: usize,
    offset: usize,
) -> Option<(usize, usize)> {
    let mut erange = 0;
    let mut buf = Buffer::with_offset(from, offset);
    let mut size = from;
    while size <= max {
        buf.resize(size);
        match q.run(&mut buf).answer {
            Answer::Failed(e) if e == libc::ERANGE => erange += 1,
            Answer::Found(e) if &e == reference => return Some((size, erange)),
            Answer::Found(e) => {
                r.fail(format!(
                    "size {size} offset {offset}: entry differs from the 1 MiB lookup: {}",
                    e.to_json()
                ));
                return None;
            }
            other => {
                r.fail(format!(
                    "size {size} offset {offset}: {} where ERANGE was expected",
                    show(&other)
                ));
                return None;
            }
        }
        size += step;
    }
    r.fail(format!("no success up to {max} bytes (offset {offset})"));
    None
}

fn check_equal(q: &Query, reference: &Entry, size: usize, offset: usize) -> Option<String> {
    match q.run(&mut Buffer::with_offset(size, offset)).answer {
        Answer::Found(e) if &e == reference => None,
        Answer::Found(e) => Some(format!("entry differs: {}", e.to_json())),
        other => Some(show(&other)),
    }
}

pub fn show(a: &Answer<Entry>) -> String {
    match a {
        Answer::Found(e) => format!("found {}", e.to_json()),
        Answer::NotFound => "not found".to_owned(),
        Answer::Failed(e) => format!("error {} ({e})", errno::name(*e)),
        Answer::Corrupt(why) => format!("corrupt result: {why}"),
    }
}
