//! Answers one request from the in-memory index. Never touches the network or SQLite,
//! so a lookup is never blocked by a sync, a slow server or another client.

use std::time::Duration;

use workbench_wire::codec::Writer;
use workbench_wire::record::encode_gid_list;
use workbench_wire::request::InvalidateTarget;
use workbench_wire::{ListPage, Request, Status};

use crate::cache::index::{Index, Page};
use crate::daemon::health::TokenHealth;
use crate::daemon::state::{Counters, Shared};
use crate::daemon::status_report;
use crate::server::peer::Peer;

/// Longest a CLI `sync` waits for the sync thread.
const SYNC_WAIT: Duration = Duration::from_secs(300);

/// Builds the full response frame for `request` from `peer`.
pub fn answer(request: &Request, peer: Option<Peer>, shared: &Shared) -> Vec<u8> {
    match request {
        Request::Status => {
            let root = peer.is_some_and(|p| p.is_root());
            let doc = status_report::build(shared, root);
            Status::Found.frame(doc.to_string().as_bytes())
        }
        Request::Sync => {
            if !peer.is_some_and(|p| p.is_root()) {
                return Status::Denied.frame(b"sync requires root");
            }
            run_sync(shared)
        }
        Request::Invalidate(target) => {
            if !peer.is_some_and(|p| p.is_root()) {
                return Status::Denied.frame(b"invalidate requires root");
            }
            invalidate(target, shared)
        }
        lookup => answer_lookup(lookup, peer, shared),
    }
}

fn answer_lookup(request: &Request, peer: Option<Peer>, shared: &Shared) -> Vec<u8> {
    Counters::bump(&shared.counters.lookups);
    if request.wants_shadow() && !peer.is_some_and(|p| p.may_read_shadow(shared.shadow_gid())) {
        Counters::bump(&shared.counters.shadow_denied);
        return Status::Denied.frame(b"shadow data requires uid 0 or the shadow group");
    }
    let index = shared.index();
    let found: Option<Vec<u8>> = match request {
        Request::PasswdByName(name) => utf8(name)
            .and_then(|n| index.passwd_by_name(n))
            .map(<[u8]>::to_vec),
        Request::PasswdByUid(uid) => index.passwd_by_uid(*uid).map(<[u8]>::to_vec),
        Request::GroupByName(name) => utf8(name)
            .and_then(|n| index.group_by_name(n))
            .map(<[u8]>::to_vec),
        Request::GroupByGid(gid) => index.group_by_gid(*gid).map(<[u8]>::to_vec),
        Request::InitGroups(name) => utf8(name).and_then(|n| index.memberships(n)).map(|gids| {
            let mut w = Writer::new();
            encode_gid_list(gids, &mut w);
            w.buf
        }),
        Request::ShadowByName(name) => {
            if let Some(refusal) = shadow_unavailable(shared) {
                return refusal;
            }
            utf8(name)
                .and_then(|n| index.shadow_by_name(n))
                .map(<[u8]>::to_vec)
        }
        Request::PasswdList { after, max } => {
            if !shared.config().enumerate {
                Some(list(Page {
                    records: vec![],
                    last_key: None,
                    done: true,
                }))
            } else {
                Some(list(index.passwd_page(*after, *max as usize)))
            }
        }
        Request::GroupList { after, max } => {
            if !shared.config().enumerate {
                Some(list(Page {
                    records: vec![],
                    last_key: None,
                    done: true,
                }))
            } else {
                Some(list(index.group_page(*after, *max as usize)))
            }
        }
        Request::ShadowList { after, max } => {
            if let Some(refusal) = shadow_unavailable(shared) {
                return refusal;
            }
            if !shared.config().enumerate {
                Some(list(Page {
                    records: vec![],
                    last_key: None,
                    done: true,
                }))
            } else {
                Some(list(index.shadow_page(*after, *max as usize)))
            }
        }
        Request::Status | Request::Sync | Request::Invalidate(_) => None,
    };
    match found {
        Some(payload) => {
            Counters::bump(&shared.counters.hits);
            Status::Found.frame(&payload)
        }
        None if has_authoritative_copy(shared, &index) => Status::NotFound.frame(&[]),
        // Never "not found" when we have never seen the directory: that would poison
        // nscd and make users vanish while the server is merely unreachable.
        None => Status::TryAgain.frame(b"no directory copy yet"),
    }
}

/// Shadow data is served only while the admin token is `ok`: a missing, rejected or
/// insecure admin token means the administrator has withdrawn (or never granted) access
/// to hashes, so cached hashes are not handed out either. Passwd and group data are
/// unaffected.
fn shadow_unavailable(shared: &Shared) -> Option<Vec<u8>> {
    let state = shared.health().admin_token;
    (state != TokenHealth::Ok)
        .then(|| Status::Unavailable.frame(format!("admin token {}", state.as_str()).as_bytes()))
}

/// Names on the wire are bytes; a directory name is always ASCII, so anything else is
/// simply not in the index.
fn utf8(name: &[u8]) -> Option<&str> {
    std::str::from_utf8(name).ok()
}

fn has_authoritative_copy(shared: &Shared, _index: &Index) -> bool {
    shared.health().last_sync.is_some()
}

fn list(page: Page<'_>) -> Vec<u8> {
    let mut w = Writer::new();
    ListPage {
        records: page.records,
        last_key: page.last_key,
        done: page.done,
    }
    .encode(&mut w);
    w.buf
}

/// Asks the sync thread for a sync and waits for its report.
fn run_sync(shared: &Shared) -> Vec<u8> {
    let start_generation = shared.sync_requests().generation;
    shared.request(|r| r.sync_now = true);
    let mut guard = shared.sync_requests();
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    while guard.generation == start_generation {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || shared.is_shutting_down() {
            return Status::TryAgain.frame(b"sync did not finish in time");
        }
        guard = match shared.sync_wake.wait_timeout(guard, left) {
            Ok((g, _)) => g,
            Err(p) => p.into_inner().0,
        };
    }
    match &guard.last_report {
        Some((true, report)) => Status::Found.frame(report.to_string().as_bytes()),
        Some((false, report)) => Status::TryAgain.frame(report.to_string().as_bytes()),
        None => Status::TryAgain.frame(b"no sync report"),
    }
}

fn invalidate(target: &InvalidateTarget, shared: &Shared) -> Vec<u8> {
    let dropped = crate::daemon::invalidate::drop_entries(shared, target);
    shared.request(|r| r.sync_now = true);
    Status::Found.frame(
        serde_json::json!({ "dropped": dropped })
            .to_string()
            .as_bytes(),
    )
}
