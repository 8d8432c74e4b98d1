//! Turns one request into its response frame. Lookups go through the on-demand policy
//! ([`resolve`]), which answers from the in-memory snapshot and, for a miss or an
//! expired entry, may wait on the network, bounded by `LOOKUP_DEADLINE` (2.5 s, below
//! the module's 3 s): a slow server delays only the lookups that need it. Enumeration
//! pages and CLI commands never wait on the network; nothing here touches SQLite.

use std::time::Duration;

use workbench_wire::codec::Writer;
use workbench_wire::request::InvalidateTarget;
use workbench_wire::{ListPage, Request, Status, MAX_RESPONSE_LEN};

use std::sync::Arc;

use crate::cache::page::Page;
use crate::ondemand::query::Query;
use crate::ondemand::resolver::{resolve, Resolution};
use crate::ondemand::state::OnDemand;
use crate::server::peer::Peer;
use crate::server::status_report;
use crate::state::health::TokenHealth;
use crate::state::{Counters, Shared};

/// Longest a CLI `sync` waits for the sync thread.
const SYNC_WAIT: Duration = Duration::from_secs(300);

/// Builds the full response frame for `request` from `peer`.
pub fn answer(request: &Request, peer: Option<Peer>, od: &Arc<OnDemand>) -> Vec<u8> {
    let shared = &od.shared;
    match request {
        Request::Status => {
            let root = peer.is_some_and(|p| p.is_root());
            let doc = status_report::build(od, root);
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
            invalidate(target, od)
        }
        Request::Reload { user, admin } => {
            if !peer.is_some_and(|p| p.is_root()) {
                return Status::Denied.frame(b"reload requires root");
            }
            crate::server::reload::apply(user, admin, shared)
        }
        lookup => answer_lookup(lookup, peer, od),
    }
}

fn answer_lookup(request: &Request, peer: Option<Peer>, od: &Arc<OnDemand>) -> Vec<u8> {
    let shared = &od.shared;
    Counters::bump(&shared.counters.lookups);
    if request.wants_shadow() && !peer.is_some_and(|p| p.may_read_shadow(shared.shadow_gid())) {
        Counters::bump(&shared.counters.shadow_denied);
        return Status::Denied.frame(b"shadow data requires uid 0 or the shadow group");
    }
    if request.wants_shadow() {
        if let Some(refusal) = shadow_unavailable(shared) {
            return refusal;
        }
    }
    if let Some(page) = answer_list(request, shared) {
        return Status::Found.frame(&page);
    }
    let query = match query_of(request) {
        Keyed::Query(q) => q,
        // Not UTF-8, so not a directory name.
        Keyed::Impossible => return Status::NotFound.frame(&[]),
        Keyed::NotALookup => return Status::BadRequest.frame(b"not a lookup"),
    };
    // A peer the kernel would not name shares one budget, never root's.
    let uid = peer.map_or(u32::MAX, |p| p.uid);
    match resolve(od, &query, uid) {
        Resolution::Found(answer) => {
            Counters::bump(&shared.counters.hits);
            Status::Found.frame(&answer)
        }
        Resolution::NotFound => Status::NotFound.frame(&[]),
        // Never "not found" for a transient failure: it would poison nscd and make
        // users vanish while the server is merely unreachable.
        Resolution::TryAgain => Status::TryAgain.frame(b"server unreachable and nothing cached"),
    }
}

enum Keyed {
    Query(Query),
    Impossible,
    NotALookup,
}

fn query_of(request: &Request) -> Keyed {
    let name = |n: &[u8], f: fn(String) -> Query| match std::str::from_utf8(n) {
        Ok(s) => Keyed::Query(f(s.to_string())),
        Err(_) => Keyed::Impossible,
    };
    match request {
        Request::PasswdByName(n) => name(n, Query::PasswdByName),
        Request::InitGroups(n) => name(n, Query::InitGroups),
        Request::ShadowByName(n) => name(n, Query::Shadow),
        Request::PasswdByUid(u) => Keyed::Query(Query::PasswdByUid(*u)),
        Request::GroupByName(n) => name(n, Query::GroupByName),
        Request::GroupByGid(g) => Keyed::Query(Query::GroupByGid(*g)),
        _ => Keyed::NotALookup,
    }
}

/// Enumeration pages, straight from the snapshot (`enumerate=0`: always empty).
fn answer_list(request: &Request, shared: &Shared) -> Option<Vec<u8>> {
    let (after, max) = match request {
        Request::PasswdList { after, max }
        | Request::GroupList { after, max }
        | Request::ShadowList { after, max } => (*after, *max as usize),
        _ => return None,
    };
    if !shared.config().enumerate {
        return Some(list(Page::empty()));
    }
    let snap = shared.snapshot();
    let mut shadow_records = Vec::new();
    // Cut by bytes too: the module refuses a frame over MAX_RESPONSE_LEN, and records
    // differ in size by orders of magnitude (a short page is fine: it pages on).
    let max_bytes = MAX_RESPONSE_LEN as usize;
    let page = match request {
        Request::PasswdList { .. } => snap.passwd_page(after, max, max_bytes),
        Request::GroupList { .. } => snap.group_page(after, max, max_bytes),
        _ => snap.shadow_page(after, max, max_bytes, &mut shadow_records),
    };
    // Encoded under the read lock: the page borrows the snapshot's records.
    Some(list(page))
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
    let mut ticket = 0;
    shared.request(|r| {
        r.tickets_issued += 1;
        ticket = r.tickets_issued;
        r.sync_now = true;
    });
    let mut guard = shared.sync_requests();
    let deadline = std::time::Instant::now() + SYNC_WAIT;
    while guard.tickets_done < ticket {
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

fn invalidate(target: &InvalidateTarget, od: &OnDemand) -> Vec<u8> {
    let dropped = crate::ondemand::invalidate::expire_entries(od, target);
    if *target == InvalidateTarget::All {
        od.shared.request(|r| r.sync_now = true);
    }
    Status::Found.frame(
        serde_json::json!({ "expired": dropped })
            .to_string()
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::directory::model::{Directory, PosixUser};
    use workbench_wire::request::MAX_LIST_PAGE;
    use workbench_wire::{PasswdRecord, FRAME_HEADER_LEN};

    fn user(uid: u32, gecos_len: usize) -> PosixUser {
        PosixUser {
            scim_id: uid.to_string(),
            name: format!("u{uid}"),
            uid,
            gid: uid,
            gecos: "g".repeat(gecos_len),
            home: format!("/home/u{uid}"),
            shell: "/bin/bash".into(),
            active: true,
        }
    }

    /// Walks `getent passwd` as the module does, checking every reply against the frame
    /// limit; returns the uids listed and the number of pages.
    fn enumerate(od: &Arc<OnDemand>) -> (Vec<u32>, usize) {
        let mut after = None;
        let mut uids = Vec::new();
        for pages in 1.. {
            let frame = answer(
                &Request::PasswdList {
                    after,
                    max: MAX_LIST_PAGE,
                },
                None,
                od,
            );
            let payload = &frame[FRAME_HEADER_LEN..];
            assert!(
                payload.len() <= MAX_RESPONSE_LEN as usize,
                "{}",
                payload.len()
            );
            assert_eq!(frame[FRAME_HEADER_LEN - 1], Status::Found as u8);
            let page = ListPage::decode(payload).unwrap();
            for r in &page.records {
                uids.push(PasswdRecord::decode(r).unwrap().uid);
            }
            if page.done {
                return (uids, pages);
            }
            assert!(page.last_key > after, "the cursor must move");
            after = page.last_key;
        }
        unreachable!()
    }

    #[test]
    fn enumeration_replies_are_cut_by_bytes_and_list_everything() {
        let od = OnDemand::new(Shared::new(
            Config::from_pairs(&[("server-address", "https://wb")]).unwrap(),
        ));
        // Far larger records than validation lets through, mixed with small ones: 1024
        // of the large ones (what one request may ask for) would be 1.5 GiB.
        let mut users: Vec<PosixUser> = (0..40u32)
            .map(|i| user(10_000 + i, if i % 3 == 0 { 100 } else { 1_500_000 }))
            .collect();
        users.extend((0..2_000u32).map(|i| user(20_000 + i, 1024)));
        let expected: Vec<u32> = users.iter().map(|u| u.uid).collect();
        od.shared.serve(Directory {
            users,
            ..Directory::default()
        });
        let (uids, pages) = enumerate(&od);
        assert_eq!(uids, expected);
        // Cut by count alone, the first reply would hold all 40 large-or-small records
        // (39 MB) and the payload check above would fail; 26 records of 1.5 MB need at
        // least three 16 MiB replies.
        assert!(pages >= 3, "{pages}");
    }

    #[test]
    fn a_record_larger_than_a_reply_is_left_out_not_a_stuck_enumeration() {
        let od = OnDemand::new(Shared::new(
            Config::from_pairs(&[("server-address", "https://wb")]).unwrap(),
        ));
        let too_big = MAX_RESPONSE_LEN as usize;
        od.shared.serve(Directory {
            users: vec![user(1000, 10), user(1001, too_big), user(1002, 10)],
            ..Directory::default()
        });
        let (uids, _) = enumerate(&od);
        assert_eq!(uids, [1000, 1002]);
    }
}
