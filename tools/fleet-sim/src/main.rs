//! `fleet-sim [--nodes N] [--users N] [--groups N] [--change-rate F] [--hours H]
//! [--sync-interval S] [--full-sync-interval S] [--page-size N] [--server-max-page N]
//! [--no-admin] [--window S] [--seed N] [--json]`: prints, per scenario (steady, a
//! fleet-wide reboot, a 30-minute outage, the first day), the server's peak and mean
//! requests and bytes per second for this daemon and for the naive design, and whether
//! the targets hold (exit 1 if not).

use std::process::ExitCode;
use std::time::Duration;

use cached::config::keys;
use fleet_sim::fleet::{run, Params, Scenario, Verdict};
use fleet_sim::model::Model;
use fleet_sim::node::Timing;
use fleet_sim::report;

/// A key's default as the daemon has it (`config/keys.rs`), in whole units.
fn default_of(key: &str) -> u64 {
    keys::lookup(key)
        .and_then(|k| k.default_text())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

const USAGE: &str = "usage: fleet-sim [--nodes N] [--users N] [--groups N] [--change-rate F] \
[--hours H] [--sync-interval S] [--full-sync-interval S] [--page-size N] [--server-max-page N] \
[--no-admin] [--window S] [--seed N] [--json]";

fn parse(args: &[String]) -> Result<(Params, bool), String> {
    let mut p = Params {
        nodes: 5_000,
        model: Model {
            users: 100_000,
            groups: 10_000,
            change_rate: 0.01,
            page_size: default_of(keys::PAGE_SIZE) as u32,
            server_max_page: 0,
            admin: true,
        },
        timing: Timing {
            sync_interval: Duration::from_secs(default_of(keys::SYNC_INTERVAL)),
            full_sync_interval: Duration::from_secs(default_of(keys::FULL_SYNC_INTERVAL)),
        },
        hours: 24,
        event_at: Duration::ZERO,
        reboot_spread: Duration::from_secs(60),
        outage: Duration::from_secs(30 * 60),
        window: Duration::from_secs(60),
        seed: 1,
    };
    let mut json = false;
    let mut groups_set = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--json" {
            json = true;
            continue;
        }
        if flag == "--no-admin" {
            p.model.admin = false;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_string());
        }
        let value = it.next().ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let n = || -> Result<u64, String> {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("{flag}: {value:?} is not a positive whole number"))
        };
        match flag.as_str() {
            "--nodes" => p.nodes = n()?,
            "--users" => p.model.users = n()?,
            "--groups" => {
                p.model.groups = n()?;
                groups_set = true;
            }
            "--change-rate" => {
                p.model.change_rate = value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=100.0).contains(r))
                    .ok_or(format!("--change-rate: {value:?} is not a share per day"))?
            }
            "--hours" => p.hours = n()?,
            "--sync-interval" => p.timing.sync_interval = Duration::from_secs(n()?),
            "--full-sync-interval" => p.timing.full_sync_interval = Duration::from_secs(n()?),
            "--page-size" => p.model.page_size = u32::try_from(n()?).map_err(|e| e.to_string())?,
            "--server-max-page" => {
                p.model.server_max_page = u32::try_from(n()?).map_err(|e| e.to_string())?
            }
            "--window" => p.window = Duration::from_secs(n()?),
            "--seed" => p.seed = n()?,
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if !groups_set {
        p.model.groups = (p.model.users / 10).max(1);
    }
    // The events in the middle of the run, so that there is steady state before them
    // and recovery after.
    p.event_at = Duration::from_secs(p.hours * 3600 / 2);
    Ok((p, json))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (p, json) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let outcomes: Vec<_> = Scenario::ALL.iter().map(|s| run(&p, *s)).collect();
    let verdict = Verdict::of(&outcomes);
    if json {
        println!("{:#}", report::json(&p, &outcomes, verdict.as_ref()));
    } else {
        print!("{}", report::text(&p, &outcomes, verdict.as_ref()));
    }
    if verdict.is_some_and(|v| v.holds()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
