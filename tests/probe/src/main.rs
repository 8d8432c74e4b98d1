//! `nss-probe`: drives glibc's own NSS functions (getpwnam_r & co.) so that tests and
//! benchmarks go through real NSS dispatch, whatever nsswitch.conf says answers.
//! Every subcommand prints one JSON object; exit 0 = check passed, 1 = failed, 2 = usage.

mod args;
mod bench;
mod bigroup;
mod buffers;
mod dump;
mod entry;
mod errno;
mod fork;
mod generations;
mod histogram;
mod json;
mod lookup;
mod nss;
mod quick;
mod report;
mod session;
mod threads;

use json::Json;
use report::Report;

type Command = fn(&[String]) -> Result<Report, String>;

const COMMANDS: &[(&str, Command, &str)] = &[
    ("buffers", buffers::run, buffers::USAGE),
    ("bigroup", bigroup::run, bigroup::USAGE),
    ("fork", fork::run, fork::USAGE),
    ("threads", threads::run, threads::USAGE),
    ("lookup", lookup::run, lookup::USAGE),
    ("bench", bench::run, bench::USAGE),
    ("bench-enumerate", bench::enumerate, bench::ENUMERATE_USAGE),
    ("session", session::run, session::USAGE),
    ("dump", dump::run, dump::USAGE),
    ("generations", generations::run, generations::USAGE),
];

fn usage() -> String {
    let mut s = String::from("usage: nss-probe SUBCOMMAND ...\n");
    for (_, _, u) in COMMANDS {
        s.push_str("  ");
        s.push_str(u);
        s.push('\n');
    }
    s
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprint!("{}", usage());
        std::process::exit(2);
    };
    let Some((name, run, help)) = COMMANDS.iter().find(|(n, _, _)| n == cmd) else {
        println!(
            "{}",
            Json::obj(vec![
                ("ok", Json::Bool(false)),
                (
                    "usage_error",
                    Json::Str(format!("unknown subcommand {cmd:?}"))
                ),
            ])
        );
        eprint!("{}", usage());
        std::process::exit(2);
    };
    match run(rest) {
        Ok(report) => {
            let ok = report.ok();
            println!("{}", report.into_json(name));
            std::process::exit(if ok { 0 } else { 1 });
        }
        Err(e) => {
            println!(
                "{}",
                Json::obj(vec![
                    ("check", Json::str(name)),
                    ("ok", Json::Bool(false)),
                    ("usage_error", Json::Str(e.clone())),
                ])
            );
            eprintln!("nss-probe {name}: {e}\nusage: nss-probe {help}");
            std::process::exit(2);
        }
    }
}
