//! The CLI commands that talk to the daemon, and `check-config`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use workbench_wire::request::InvalidateTarget;
use workbench_wire::{Request, Status, DEFAULT_SOCKET_PATH};

use crate::cli::args::InvalidateArg;
use crate::cli::client::{call, call_if};
use crate::config::Config;
use crate::server::reload::push_of;
use crate::tokens::file::{read_token, TokenKind};

const STATUS_TIMEOUT: Duration = Duration::from_secs(10);
const SYNC_TIMEOUT: Duration = Duration::from_secs(330);
/// Past the daemon's own wait for the sync thread (server/reload.rs).
const RELOAD_TIMEOUT: Duration = Duration::from_secs(70);

fn socket_or_default(socket: Option<PathBuf>) -> PathBuf {
    socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH))
}

/// `status [--json]`.
pub fn status(json: bool, socket: Option<PathBuf>) -> ExitCode {
    let socket = socket_or_default(socket);
    match call(&socket, &Request::Status, STATUS_TIMEOUT) {
        Ok((Status::Found, payload)) => {
            let doc: Value = match serde_json::from_slice(&payload) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("workbench-cached: status: bad JSON from the daemon: {e}");
                    return ExitCode::from(1);
                }
            };
            // This node's nsswitch.conf as this process reads it (the CLI runs on the
            // daemon's node): whether Workbench's pwb module answers beside us.
            let pwb = crate::config::nsswitch::pwb_note_for_this_node();
            if json {
                let mut doc = doc;
                if let Some(obj) = doc.as_object_mut() {
                    obj.insert("pwb".into(), serde_json::json!(pwb));
                }
                println!("{doc}");
            } else {
                print!("{}", render_status(&doc));
                for line in &pwb {
                    println!("{line}");
                }
            }
            ExitCode::SUCCESS
        }
        Ok((status, payload)) => fail("status", status, &payload),
        Err(e) => {
            eprintln!("workbench-cached: {e}");
            ExitCode::from(3)
        }
    }
}

/// `sync`: exit 0 and what changed, or non-zero with the reason.
pub fn sync(socket: Option<PathBuf>) -> ExitCode {
    let socket = socket_or_default(socket);
    match call(&socket, &Request::Sync, SYNC_TIMEOUT) {
        Ok((Status::Found, payload)) => {
            let doc: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            print!("{}", render_sync(&doc));
            ExitCode::SUCCESS
        }
        Ok((status, payload)) => {
            let doc: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            if let Some(err) = doc.get("error").and_then(Value::as_str) {
                eprintln!("workbench-cached: sync failed: {err}");
                return ExitCode::from(1);
            }
            fail("sync", status, &payload)
        }
        Err(e) => {
            eprintln!("workbench-cached: {e}");
            ExitCode::from(3)
        }
    }
}

/// `invalidate`.
pub fn invalidate(target: InvalidateArg, socket: Option<PathBuf>) -> ExitCode {
    let socket = socket_or_default(socket);
    let target = match target {
        InvalidateArg::User(n) => InvalidateTarget::User(n.into_bytes()),
        InvalidateArg::Group(n) => InvalidateTarget::Group(n.into_bytes()),
        InvalidateArg::All => InvalidateTarget::All,
    };
    match call(&socket, &Request::Invalidate(target), STATUS_TIMEOUT) {
        Ok((Status::Found, payload)) => {
            let doc: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            let n = doc.get("expired").and_then(Value::as_u64).unwrap_or(0);
            println!("invalidated {n} cached entries; the next lookup refetches them");
            ExitCode::SUCCESS
        }
        Ok((status, payload)) => fail("invalidate", status, &payload),
        Err(e) => {
            eprintln!("workbench-cached: {e}");
            ExitCode::from(3)
        }
    }
}

/// `reload`: root reads the token files with the daemon's reader and rules and sends
/// them (or their states) to the daemon, which also re-reads its configuration. Exit 0
/// when the daemon applied them and the user token is `ok`.
pub fn reload(config: Option<&Path>, socket: Option<PathBuf>) -> ExitCode {
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "workbench-cached: reload: permission denied: reload requires root (it reads \
             the token files)"
        );
        return ExitCode::from(4);
    }
    let loaded = match Config::load(config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("workbench-cached: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let c = loaded.config;
    let socket = socket.unwrap_or_else(|| c.socket_path.clone());
    let user = read_token(&c.user_token_path, TokenKind::User);
    let admin = read_token(&c.admin_token_path, TokenKind::Admin);
    for (kind, path, state) in [
        (TokenKind::User, &c.user_token_path, &user),
        (TokenKind::Admin, &c.admin_token_path, &admin),
    ] {
        if state.token().is_none() {
            eprintln!("workbench-cached: reload: {}", state.message(kind, path));
        }
    }
    let request = Request::Reload {
        user: push_of(&user),
        admin: push_of(&admin),
    };
    // The tokens go only to a listener root created: systemd's socket, or a daemon
    // running as root. Checked before a byte is written.
    let root_listener = |peer: Option<crate::server::peer::Peer>| match peer {
        Some(p) if p.is_root() => Ok(()),
        Some(p) => Err(format!(
            "the socket is served by uid {} (pid {}), not by root; the tokens go only to \
             systemd's socket or a daemon running as root",
            p.uid, p.pid
        )),
        None => Err("the kernel did not name the socket's listener".to_string()),
    };
    match call_if(&socket, &request, RELOAD_TIMEOUT, root_listener) {
        Ok((Status::Found, payload)) => {
            let doc: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
            let user = text(s(&doc, &["tokens", "user"]));
            println!("user token        {user}");
            println!("admin token       {}", text(s(&doc, &["tokens", "admin"])));
            if user == "ok" {
                ExitCode::SUCCESS
            } else {
                eprintln!("workbench-cached: reload: the user token is {user}");
                ExitCode::from(1)
            }
        }
        Ok((status, payload)) => fail("reload", status, &payload),
        Err(e @ crate::cli::client::ClientError::UntrustedListener { .. }) => {
            eprintln!("workbench-cached: reload: {e}");
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("workbench-cached: {e}");
            ExitCode::from(3)
        }
    }
}

/// `check-config`: prints the effective configuration, exits non-zero when invalid.
pub fn check_config(config: Option<&Path>) -> ExitCode {
    // Printed whether or not the configuration is valid: the package's postinst shows
    // it before Workbench has written its configuration.
    let pwb = crate::config::nsswitch::pwb_note_for_this_node();
    let code = match Config::load(config) {
        Ok(loaded) => {
            print!("{}", crate::config::check::render(&loaded));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("workbench-cached: configuration error: {e}");
            ExitCode::from(2)
        }
    };
    for line in &pwb {
        println!("{line}");
    }
    code
}

fn fail(what: &str, status: Status, payload: &[u8]) -> ExitCode {
    let msg = String::from_utf8_lossy(payload);
    match status {
        Status::Denied => {
            eprintln!("workbench-cached: {what}: permission denied: {msg}");
            ExitCode::from(4)
        }
        other => {
            eprintln!("workbench-cached: {what}: {other:?}: {msg}");
            ExitCode::from(1)
        }
    }
}

fn s<'a>(doc: &'a Value, path: &[&str]) -> &'a Value {
    let mut v = doc;
    for p in path {
        v = v.get(*p).unwrap_or(&Value::Null);
    }
    v
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Human-readable `status`.
pub fn render_status(doc: &Value) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: String| out.push_str(&format!("{k:<18}{v}\n"));
    line(&mut out, "server", text(s(doc, &["server", "address"])));
    line(
        &mut out,
        "reachable",
        text(s(doc, &["server", "reachable"])),
    );
    line(
        &mut out,
        "last sync",
        format!(
            "{} ({}s ago)",
            text(s(doc, &["server", "last_sync"])),
            text(s(doc, &["server", "last_sync_age_s"]))
        ),
    );
    line(
        &mut out,
        "last error",
        text(s(doc, &["server", "last_error"])),
    );
    line(
        &mut out,
        "last sync kind",
        format!(
            "{}, {} resources, {} bytes",
            text(s(doc, &["sync", "last_kind"])),
            text(s(doc, &["sync", "last_resources"])),
            text(s(doc, &["sync", "last_bytes"]))
        ),
    );
    line(
        &mut out,
        "incremental",
        text(s(doc, &["sync", "incremental"])),
    );
    line(&mut out, "serving stale", text(s(doc, &["serving_stale"])));
    line(&mut out, "user token", text(s(doc, &["tokens", "user"])));
    line(&mut out, "admin token", text(s(doc, &["tokens", "admin"])));
    line(
        &mut out,
        "cached",
        format!(
            "{} users, {} groups, {} shadow entries",
            text(s(doc, &["cached", "users"])),
            text(s(doc, &["cached", "groups"])),
            text(s(doc, &["cached", "shadow"]))
        ),
    );
    let mut refused = text(s(doc, &["refused", "total"]));
    if let Some(obj) = s(doc, &["refused"]).as_object() {
        let reasons: Vec<String> = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "total")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !reasons.is_empty() {
            refused.push_str(&format!(" ({})", reasons.join(", ")));
        }
    }
    line(&mut out, "refused", refused);
    // How to fix each reason present (workbench-nss.conf(5), REFUSED ENTRIES).
    if let Some(obj) = s(doc, &["refused"]).as_object() {
        for (k, _) in obj.iter().filter(|(k, _)| k.as_str() != "total") {
            if let Some(reason) = crate::directory::model::RefusalReason::from_key(k) {
                out.push_str(&format!("  {k}: {}\n", reason.fix()));
            }
        }
    }
    line(
        &mut out,
        "local accounts",
        format!(
            "{} taken over by Workbench (same name and uid as in /etc/passwd: the local \
             line answers, directory groups kept)",
            text(s(doc, &["local_same_account"]))
        ),
    );
    line(
        &mut out,
        "lookups",
        format!(
            "{} through the socket (hit ratio {:.3}); lookups answered from the \
             in-process map are not counted",
            text(s(doc, &["lookups"])),
            s(doc, &["hit_ratio"]).as_f64().unwrap_or(0.0)
        ),
    );
    let fp = s(doc, &["fast_path"]);
    let map = if s(fp, &["generation"]).is_null() {
        let why = s(fp, &["last_error"]);
        if why.is_null() {
            "no image right now (being built)".to_string()
        } else {
            format!("off: {}", text(why))
        }
    } else {
        format!(
            "generation {}, {} users, {} groups, {} bytes, {} s old; handed out {} times \
             ({} requests), {} republished, {} retired",
            text(s(fp, &["generation"])),
            text(s(fp, &["users"])),
            text(s(fp, &["groups"])),
            text(s(fp, &["size_bytes"])),
            text(s(fp, &["age_s"])),
            text(s(fp, &["images_handed_out"])),
            text(s(fp, &["map_requests"])),
            text(s(fp, &["republishes"])),
            text(s(fp, &["retirements"])),
        )
    };
    line(&mut out, "in-process map", map);
    if let Some(names) = s(doc, &["local_same_account_names"]).as_array() {
        if !names.is_empty() {
            let names: Vec<String> = names.iter().map(text).collect();
            out.push_str(&format!("  local_same_account: {}\n", names.join(" ")));
        }
    }
    if let Some(entries) = s(doc, &["refused_entries"]).as_array() {
        for e in entries {
            out.push_str(&format!(
                "  refused {} {}: {} ({})\n",
                text(s(e, &["kind"])),
                text(s(e, &["scim_id"])),
                text(s(e, &["reason"])),
                text(s(e, &["detail"]))
            ));
        }
    }
    out
}

/// Human-readable `sync` report.
pub fn render_sync(doc: &Value) -> String {
    let mut out = format!(
        "sync ok: {} users, {} groups in {} ms, {} bytes read\n",
        text(s(doc, &["users"])),
        text(s(doc, &["groups"])),
        text(s(doc, &["duration_ms"])),
        text(s(doc, &["bytes"]))
    );
    out.push_str(&format!(
        "{} sync, {} resources fetched",
        text(s(doc, &["kind"])),
        text(s(doc, &["resources"]))
    ));
    match s(doc, &["full_reason"]).as_str() {
        Some(reason) => out.push_str(&format!(" ({})\n", text(&Value::from(reason)))),
        None => out.push('\n'),
    }
    for kind in ["users", "groups"] {
        for change in ["added", "removed", "changed"] {
            if let Some(list) = s(doc, &["changes", kind, change]).as_array() {
                if !list.is_empty() {
                    let names: Vec<String> = list.iter().map(text).collect();
                    let total = s(doc, &["changes", kind, "counts", change])
                        .as_u64()
                        .unwrap_or(names.len() as u64);
                    let more = total.saturating_sub(names.len() as u64);
                    let tail = if more > 0 {
                        format!(" … and {more} more")
                    } else {
                        String::new()
                    };
                    out.push_str(&format!("{kind} {change}: {}{tail}\n", names.join(" ")));
                }
            }
        }
    }
    if let Some(w) = s(doc, &["warning"]).as_str() {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
