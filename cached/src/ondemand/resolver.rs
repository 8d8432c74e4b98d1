//! The lookup policy (design.md §6). A hit never waits for the network unless the entry
//! is past its `positive-ttl`; then the refetch is bounded by [`LOOKUP_DEADLINE`] and
//! the stale entry is served if the server fails (up to `max-stale`). A miss is fetched
//! once (single flight), remembered when the server says "none", and answered `TRYAGAIN`
//! — never "not found" — when the server cannot be asked, or when the asking peer uid
//! has used up its share of requests ([`uid_budget`](super::uid_budget)).
//!
//! [`resolve`] returns the answer itself (the encoded record, or why there is none), read
//! from the served copy once the policy has run: the caller never looks it up again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fetch::{fetch, FetchOutcome};
use super::freshness::{classify_entry, Age, EntryId};
use super::key::LookupKey;
use super::query::Query;
use super::single_flight::Joined;
use super::state::OnDemand;
use crate::cache::snapshot::Snapshot;
use crate::directory::rules::is_reserved;
use crate::posix::names::is_valid_posix_name;
use crate::state::Counters;

/// How long a lookup may wait for the server: below the module's 3 s deadline, so the
/// module always gets an answer (possibly `TRYAGAIN`) rather than timing out.
pub const LOOKUP_DEADLINE: Duration = Duration::from_millis(2500);

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The encoded record (or gid list) to send.
    Found(Vec<u8>),
    /// Authoritatively absent.
    NotFound,
    /// The server could not be asked and nothing usable is cached.
    TryAgain,
}

/// Where the policy left one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Served as it was when the lookup began (fresh, refreshed in the background, or
    /// stale because the server failed): the answer read then stands.
    AsRead,
    /// In the served copy after a fetch: read the answer again.
    Present,
    NotFound,
    TryAgain,
}

/// Names and ids that can never be directory entries are answered without the network
/// (this includes `pam_unix_non_existent:`-style probes: `:` is not a POSIX name, and
/// `reserved-names`, which sudo asks for on every run: `%admin`, `%wheel`).
fn impossible(od: &OnDemand, key: &LookupKey) -> bool {
    let config = od.shared.config();
    match key {
        LookupKey::UserName(n) | LookupKey::GroupName(n) | LookupKey::Shadow(n) => {
            !is_valid_posix_name(n) || is_reserved(n, &config.reserved_names)
        }
        LookupKey::Uid(id) => *id < config.min_uid || *id == u32::MAX,
        LookupKey::Gid(id) => *id < config.min_gid || *id == u32::MAX,
    }
}

/// Where `key` stands in `snap`: present (with its freshness id, `None` for entries
/// that are never refetched on their own, such as user private groups), or absent.
fn locate(snap: &Snapshot, key: &LookupKey) -> Option<Option<EntryId>> {
    // Index probes only: nothing is decoded on the lookup path.
    let group = |gid: u32| {
        snap.is_scim_group(gid)
            .map(|scim| scim.then_some(EntryId::Group(gid)))
    };
    match key {
        // A taken-over local account is known (its memberships are served; its passwd
        // line is the local one), so it never costs a server request.
        LookupKey::UserName(n) => snap.uid_of(n).map(|u| Some(EntryId::User(u))),
        LookupKey::Uid(u) => snap.has_uid(*u).then_some(Some(EntryId::User(*u))),
        LookupKey::GroupName(n) => snap.gid_of(n).and_then(group),
        LookupKey::Gid(g) => group(*g),
        LookupKey::Shadow(n) => (snap.has_shadow(n) || snap.is_same_account(n)).then_some(None),
    }
}

fn present_if_located(od: &OnDemand, key: &LookupKey) -> Presence {
    if locate(&od.shared.snapshot(), key).is_some() {
        Presence::Present
    } else {
        Presence::NotFound
    }
}

/// Resolves `query` for a peer with uid `uid` (charged for any request to the server).
/// May wait on the network for a miss or an expired entry, bounded by
/// [`LOOKUP_DEADLINE`].
pub fn resolve(od: &Arc<OnDemand>, query: &Query, uid: u32) -> Resolution {
    let key = query.key();
    let (located, read) = {
        let snap = od.shared.snapshot();
        (locate(&snap, &key), query.read(&snap))
    };
    let presence = match located {
        Some(id) => resolve_hit(od, &key, id, uid),
        None => resolve_miss(od, &key, uid),
    };
    let answer = match presence {
        Presence::AsRead => read,
        Presence::Present => query.read(&od.shared.snapshot()),
        Presence::NotFound => return Resolution::NotFound,
        Presence::TryAgain => return Resolution::TryAgain,
    };
    match (answer, query) {
        (Some(bytes), _) => Resolution::Found(bytes),
        // The user exists; its hash may still need fetching (a user added since the
        // last full copy).
        (None, Query::Shadow(name)) => {
            {
                let snap = od.shared.snapshot();
                if let Some(bytes) = query.read(&snap) {
                    // Another lookup fetched it meanwhile.
                    return Resolution::Found(bytes);
                }
                if snap.is_same_account(name) {
                    // A taken-over account's hash is the local shadow line's.
                    return Resolution::NotFound;
                }
            }
            let key = LookupKey::Shadow(name.clone());
            match resolve_miss(od, &key, uid) {
                Presence::AsRead | Presence::Present => query
                    .read(&od.shared.snapshot())
                    .map_or(Resolution::NotFound, Resolution::Found),
                Presence::NotFound => Resolution::NotFound,
                Presence::TryAgain => Resolution::TryAgain,
            }
        }
        (None, _) => Resolution::NotFound,
    }
}

/// May `uid` make a server request for `key`? Joining one already in flight is free.
fn within_budget(od: &OnDemand, key: &LookupKey, uid: u32) -> bool {
    od.flights.in_flight(key) || od.budget().admit(uid)
}

fn resolve_hit(od: &Arc<OnDemand>, key: &LookupKey, id: Option<EntryId>, uid: u32) -> Presence {
    let Some(id) = id else {
        return Presence::AsRead;
    };
    let config = od.shared.config();
    let copy_time = od.shared.health().last_sync;
    let age = od.freshness().age(id, copy_time);
    // Refresh by id: every valid entry has one, while a user named after its `userName`
    // cannot be found again by name.
    let by_id = match id {
        EntryId::User(uid) => LookupKey::Uid(uid),
        EntryId::Group(gid) => LookupKey::Gid(gid),
    };
    match classify_entry(id, age, config.positive_ttl) {
        Age::Fresh => Presence::AsRead,
        Age::RefreshAhead => {
            refresh_in_background(od, &by_id, uid);
            // Served as cached until the refresh answers: by the map too, so that the
            // entry's other lookups do not all come here meanwhile.
            od.hold(id, copy_time);
            Presence::AsRead
        }
        Age::Expired => {
            if !od.gate().open() {
                return stale_or_try_again(od, age, config.max_stale);
            }
            if !within_budget(od, &by_id, uid) {
                Counters::bump(&od.shared.counters.ondemand_over_budget);
                return stale_or_try_again(od, age, config.max_stale);
            }
            match run_fetch(od, &by_id) {
                // Gone under this id; by name it may have another id now.
                Some(Ok(FetchOutcome::Absent)) => match key {
                    LookupKey::UserName(_) | LookupKey::GroupName(_) => resolve_miss(od, key, uid),
                    _ => Presence::NotFound,
                },
                Some(Ok(_)) => present_if_located(od, key),
                Some(Err(_)) | None => stale_or_try_again(od, age, config.max_stale),
            }
        }
    }
}

fn stale_or_try_again(od: &OnDemand, age: Duration, max_stale: Duration) -> Presence {
    if age < max_stale {
        Counters::bump(&od.shared.counters.stale_answers);
        Presence::AsRead
    } else {
        Counters::bump(&od.shared.counters.try_again);
        Presence::TryAgain
    }
}

fn resolve_miss(od: &Arc<OnDemand>, key: &LookupKey, uid: u32) -> Presence {
    if impossible(od, key) {
        return Presence::NotFound;
    }
    let config = od.shared.config();
    if od.negative().contains(key, config.negative_ttl) {
        return Presence::NotFound;
    }
    if !od.gate().open() {
        Counters::bump(&od.shared.counters.try_again);
        return Presence::TryAgain;
    }
    if !within_budget(od, key, uid) {
        // This uid alone waits; others' misses still reach the server.
        Counters::bump(&od.shared.counters.ondemand_over_budget);
        Counters::bump(&od.shared.counters.try_again);
        return Presence::TryAgain;
    }
    match run_fetch(od, key) {
        Some(Ok(FetchOutcome::Present)) => present_if_located(od, key),
        Some(Ok(FetchOutcome::Absent)) => Presence::NotFound,
        // The server cannot filter: the full copy is the answer, if there is one.
        Some(Ok(FetchOutcome::Unknown)) => {
            if od.shared.health().last_sync.is_some() {
                Presence::NotFound
            } else {
                Counters::bump(&od.shared.counters.try_again);
                Presence::TryAgain
            }
        }
        // It exists but clashes with a cached entry until the requested sync settles
        // both: TRYAGAIN, never "not found" for a user the server just confirmed.
        Some(Ok(FetchOutcome::Conflict)) | Some(Err(_)) | None => {
            Counters::bump(&od.shared.counters.try_again);
            Presence::TryAgain
        }
    }
}

/// Runs (or joins) the fetch for `key`; `None` if the leader did not finish in time.
fn run_fetch(od: &OnDemand, key: &LookupKey) -> Option<super::fetch::FetchResult> {
    let deadline = Instant::now() + LOOKUP_DEADLINE;
    match od.flights.run(key, deadline, || fetch(od, key)) {
        Joined::Led(r) => Some(r),
        Joined::Followed(r) => {
            Counters::bump(&od.shared.counters.shared_flights);
            Some(r)
        }
        Joined::TimedOut => None,
    }
}

fn refresh_in_background(od: &Arc<OnDemand>, key: &LookupKey, uid: u32) {
    // A uid past its share gets no refresh: the entry is still fresh enough to serve.
    if od.flights.in_flight(key) || !od.gate().open() || !od.budget().admit(uid) {
        return;
    }
    let (od, key) = (Arc::clone(od), key.clone());
    let spawned = std::thread::Builder::new()
        .name("refresh".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _ = od
                .flights
                .run(&key, Instant::now() + LOOKUP_DEADLINE, || fetch(&od, &key));
        });
    if let Err(e) = spawned {
        log::warn!("cannot start a refresh thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_and_reserved_names_never_reach_the_server() {
        let config =
            crate::config::Config::from_pairs(&[("server-address", "https://h/")]).expect("config");
        let od = OnDemand::new(crate::state::Shared::new(config));
        for key in [
            LookupKey::GroupName("admin".into()),
            LookupKey::GroupName("wheel".into()),
            LookupKey::UserName("root".into()),
            LookupKey::Shadow("sudo".into()),
            LookupKey::UserName("pam_unix_non_existent:".into()),
            LookupKey::Uid(999),
        ] {
            assert!(impossible(&od, &key), "{key}");
        }
        for key in [
            LookupKey::UserName("alice".into()),
            LookupKey::GroupName("devs".into()),
            LookupKey::Gid(1000),
        ] {
            assert!(!impossible(&od, &key), "{key}");
        }
    }
}
