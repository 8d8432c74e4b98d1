//! The `status --json` document (design.md §4). Field names are a contract: operators
//! script against them. Never includes a token or a hash.

use std::sync::atomic::Ordering;

use serde_json::{json, Map, Value};

use crate::ondemand::state::OnDemand;
use crate::text::rfc3339::{age_secs, rfc3339};

/// Builds the document; `root` adds per-entry refusal details.
pub fn build(od: &OnDemand, root: bool) -> Value {
    let shared = &od.shared;
    let config = shared.config();
    let (counts, same_account) = {
        let snap = shared.snapshot();
        (snap.counts(), snap.same_account_names())
    };
    let health = shared.health().clone();
    let c = &shared.counters;
    let lookups = c.lookups.load(Ordering::Relaxed);
    let hits = c.hits.load(Ordering::Relaxed);
    let mut refused = Map::new();
    refused.insert(
        "total".into(),
        json!(health.refused.values().copied().sum::<u64>()),
    );
    for (reason, n) in &health.refused {
        refused.insert((*reason).into(), json!(n));
    }
    let serving_stale = health.last_sync.is_some()
        && health.last_error.is_some()
        && health.last_attempt > health.last_sync;
    let mut doc = json!({
        "server": {
            "address": config.server_address_text,
            "reachable": health.reachable,
            "last_sync": health.last_sync.map(rfc3339),
            "last_sync_age_s": health.last_sync.map(age_secs),
            "last_attempt": health.last_attempt.map(rfc3339),
            "last_error": health.last_error,
            "consecutive_failures": health.consecutive_failures,
            "dropped_syncs": {
                "over_max_bytes": c.dropped_syncs.over_max_bytes.load(Ordering::Relaxed),
                "past_deadline": c.dropped_syncs.past_deadline.load(Ordering::Relaxed),
                "incomplete": c.dropped_syncs.incomplete.load(Ordering::Relaxed),
                "too_large": c.dropped_syncs.too_large.load(Ordering::Relaxed),
            },
        },
        // Complete or incremental syncs (design.md §8), and what the last applied one
        // fetched.
        "sync": {
            "incremental": health.incremental.as_deref().unwrap_or("unknown"),
            "last_kind": health.last_sync_report.as_ref().map(|r| r.kind),
            "last_full_reason": health.last_sync_report.as_ref().and_then(|r| r.full_reason.clone()),
            "last_bytes": health.last_sync_report.as_ref().map(|r| r.bytes),
            "last_resources": health.last_sync_report.as_ref().map(|r| r.resources),
            "full_sync_interval_s": config.full_sync_interval.as_secs(),
        },
        "tokens": {
            "user": health.user_token.as_str(),
            "admin": health.admin_token.as_str(),
        },
        "cached": {
            "users": counts.users,
            "groups": counts.groups,
            "shadow": counts.shadow,
        },
        "refused": Value::Object(refused),
        // Local accounts taken over by Workbench (same name and uid): not refused, not
        // counted in cached.users (the local line answers), directory groups kept.
        "local_same_account": same_account.len(),
        "serving_stale": serving_stale,
        "empty_sync_pending": health.empty_pending,
        "lookups": lookups,
        "hits": hits,
        "hit_ratio": if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
        "bad_requests": c.bad_requests.load(Ordering::Relaxed),
        "connections_refused": c.connections_refused.load(Ordering::Relaxed),
        "connections": {
            "refused_per_uid": c.connections_refused_per_uid.load(Ordering::Relaxed),
            "evicted_idle": c.connections_evicted_idle.load(Ordering::Relaxed),
        },
        "shadow_denied": c.shadow_denied.load(Ordering::Relaxed),
        "shadow_not_first": c.shadow_not_first.load(Ordering::Relaxed),
        "ondemand": {
            "scim_lookups": c.scim_lookups.load(Ordering::Relaxed),
            "scim_lookup_failures": c.scim_lookup_failures.load(Ordering::Relaxed),
            "shared_flights": c.shared_flights.load(Ordering::Relaxed),
            "stale_answers": c.stale_answers.load(Ordering::Relaxed),
            "try_again": c.try_again.load(Ordering::Relaxed),
            "over_budget": c.ondemand_over_budget.load(Ordering::Relaxed),
            "negative_cached": od.negative().len(),
            "backoff_failures": od.gate().failures(),
        },
        // The in-process map (design.md §5a): lookups it answers never reach the daemon,
        // so the daemon counts what it sees: modules asking for the image, images
        // published and retired, and images modules refused.
        "fast_path": fast_path_status(&shared.fastpath.status()),
        "daemon": {
            "pid": std::process::id(),
            "uptime_s": age_secs(shared.started),
            "version": env!("CARGO_PKG_VERSION"),
        },
    });
    if root {
        let entries: Vec<Value> = health
            .refused_detail
            .iter()
            .map(|(kind, id, reason, detail)| {
                json!({"kind": kind, "scim_id": id, "reason": reason, "detail": detail})
            })
            .collect();
        if let Some(obj) = doc.as_object_mut() {
            obj.insert("refused_entries".into(), Value::Array(entries));
            obj.insert("local_same_account_names".into(), json!(same_account));
        }
    }
    doc
}

fn fast_path_status(m: &crate::fastpath::MapStatus) -> Value {
    let refused: serde_json::Map<String, Value> = m
        .refused
        .iter()
        .map(|(r, n)| ((*r).to_string(), json!(n)))
        .collect();
    json!({
        "enabled": m.enabled,
        "generation": m.generation,
        "size_bytes": m.size_bytes,
        "users": m.users,
        "groups": m.groups,
        "age_s": m.age_seconds,
        "map_requests": m.requests,
        "images_handed_out": m.handed_out,
        "republishes": m.republishes,
        "retirements": m.retirements,
        "revocations": m.revocations,
        "last_build_cpu_ms": m.last_build_ms,
        "refused_by_modules": Value::Object(refused),
        "last_error": m.last_error,
    })
}
