//! `session`: one long-lived process answering lookups read from stdin, one JSON line
//! each, so a test can change things between two calls of the same process (the map it
//! holds, the daemon behind it). Lines: `passwd|group|initgroups KEY [--expect S]` as for
//! `lookup`, or `resources` (this process's mappings of the map image and open fds).

use std::io::{BufRead, Write};

use crate::json::Json;
use crate::lookup;
use crate::report::Report;

pub const USAGE: &str = "session   (lines on stdin: `passwd|group|initgroups KEY`, `resources`)";

pub fn run(raw: &[String]) -> Result<Report, String> {
    if !raw.is_empty() {
        return Err("session takes no arguments".to_owned());
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let mut served = 0u64;
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let json = match words.first().map(String::as_str) {
            None => continue,
            Some("resources") => resources(),
            Some(_) => match lookup::run(&words) {
                Ok(r) => r.into_json("lookup"),
                Err(e) => Json::obj(vec![("usage_error", Json::Str(e))]),
            },
        };
        served += 1;
        writeln!(out, "{json}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    let mut r = Report::new();
    r.set("lines", served);
    Ok(r)
}

fn resources() -> Json {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mapped = maps
        .lines()
        .filter(|l| l.contains("workbench-nss-map"))
        .count();
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let map_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| {
                std::fs::read_link(e.path())
                    .is_ok_and(|t| t.to_string_lossy().contains("workbench-nss-map"))
            })
            .count()
    });
    Json::obj(vec![
        ("map_mappings", Json::from(mapped as u64)),
        ("fds", Json::from(fds as u64)),
        ("map_fds", Json::from(map_fds as u64)),
    ])
}
