//! The figures as a table or as JSON.

use serde_json::{json, Value};

use crate::fleet::{Outcome, Params, Verdict, TARGET_BYTES_RATIO, TARGET_PEAK_RATIO};

fn mb(bytes: f64) -> String {
    format!("{:.2}", bytes / 1e6)
}

pub fn text(p: &Params, outcomes: &[Outcome], verdict: Option<&Verdict>) -> String {
    let mut out = format!(
        "fleet-sim: {} nodes, {} users, {} groups, {}% changed per day, {} h, sync-interval \
         {} s, full-sync-interval {} s, page-size {}, server page cap {}, admin token {}; \
         peaks over {} s windows\n\n",
        p.nodes,
        p.model.users,
        p.model.groups,
        p.model.change_rate * 100.0,
        p.hours,
        p.timing.sync_interval.as_secs(),
        p.timing.full_sync_interval.as_secs(),
        p.model.page_size,
        match p.model.server_max_page {
            0 => "none".to_string(),
            n => n.to_string(),
        },
        if p.model.admin { "yes" } else { "no" },
        p.window.as_secs(),
    );
    out.push_str(&format!(
        "{:<10} {:<7} {:>10} {:>10} {:>12} {:>12} {:>12} {:>13}\n",
        "scenario",
        "design",
        "peak req/s",
        "mean req/s",
        "peak MB/s",
        "mean MB/s",
        "GB/day",
        "peak after ev"
    ));
    for o in outcomes {
        for (design, f) in [("daemon", &o.daemon), ("naive", &o.naive)] {
            out.push_str(&format!(
                "{:<10} {:<7} {:>10.1} {:>10.1} {:>12} {:>12} {:>12.1} {:>13.1}\n",
                o.scenario.name(),
                design,
                f.peak_requests,
                f.mean_requests,
                mb(f.peak_bytes),
                mb(f.mean_bytes),
                f.bytes_per_day / 1e9,
                f.peak_requests_after_event,
            ));
        }
    }
    if let Some(v) = verdict {
        let mark = |ok: bool| if ok { "ok" } else { "MISSED" };
        out.push_str(&format!(
            "\ntargets:\n  bytes/day, daemon / naive (steady): {:.4} (at most {TARGET_BYTES_RATIO}) {}\n  \
             peak req/s after the reboot / steady mean: {:.2} (at most {TARGET_PEAK_RATIO}) {}\n  \
             peak req/s after the outage / steady mean: {:.2} (at most {TARGET_PEAK_RATIO}) {}\n",
            v.bytes_ratio,
            mark(v.bytes_ratio <= TARGET_BYTES_RATIO),
            v.reboot_peak_ratio,
            mark(v.reboot_peak_ratio <= TARGET_PEAK_RATIO),
            v.outage_peak_ratio,
            mark(v.outage_peak_ratio <= TARGET_PEAK_RATIO),
        ));
    }
    out
}

pub fn json(p: &Params, outcomes: &[Outcome], verdict: Option<&Verdict>) -> Value {
    let fig = |f: &crate::fleet::Figures| {
        json!({
            "peak_requests_per_s": f.peak_requests,
            "mean_requests_per_s": f.mean_requests,
            "peak_bytes_per_s": f.peak_bytes,
            "mean_bytes_per_s": f.mean_bytes,
            "bytes_per_day": f.bytes_per_day,
            "peak_requests_per_s_after_event": f.peak_requests_after_event,
        })
    };
    json!({
        "params": {
            "nodes": p.nodes,
            "users": p.model.users,
            "groups": p.model.groups,
            "change_rate": p.model.change_rate,
            "hours": p.hours,
            "sync_interval_s": p.timing.sync_interval.as_secs(),
            "full_sync_interval_s": p.timing.full_sync_interval.as_secs(),
            "page_size": p.model.page_size,
            "server_max_page": p.model.server_max_page,
            "admin_token": p.model.admin,
            "window_s": p.window.as_secs(),
            "event_at_s": p.event_at.as_secs(),
            "outage_s": p.outage.as_secs(),
            "reboot_spread_s": p.reboot_spread.as_secs(),
            "seed": p.seed,
        },
        "scenarios": outcomes.iter().map(|o| json!({
            "scenario": o.scenario.name(),
            "daemon": fig(&o.daemon),
            "naive": fig(&o.naive),
        })).collect::<Vec<_>>(),
        "targets": verdict.map(|v| json!({
            "bytes_ratio": v.bytes_ratio,
            "bytes_ratio_max": TARGET_BYTES_RATIO,
            "reboot_peak_ratio": v.reboot_peak_ratio,
            "outage_peak_ratio": v.outage_peak_ratio,
            "peak_ratio_max": TARGET_PEAK_RATIO,
            "hold": v.holds(),
        })),
    })
}
