//! The lookup policy (design.md §6). A hit never waits for the network unless the entry
//! is past its `positive-ttl`; then the refetch is bounded by [`LOOKUP_DEADLINE`] and
//! the stale entry is served if the server fails (up to `max-stale`). A miss is fetched
//! once (single flight), remembered when the server says "none", and answered `TRYAGAIN`
//! — never "not found" — when the server cannot be asked, or when the asking peer uid
//! has used up its share of requests ([`uid_budget`](super::uid_budget)).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fetch::{fetch, FetchOutcome};
use super::freshness::{classify, Age, EntryId};
use super::key::LookupKey;
use super::single_flight::Joined;
use crate::cache::index::Index;
use crate::daemon::state::{Counters, Shared};
use crate::directory::rules::is_reserved;
use crate::directory::validate::is_valid_posix_name;

/// How long a lookup may wait for the server: below the module's 3 s deadline, so the
/// module always gets an answer (possibly `TRYAGAIN`) rather than timing out.
pub const LOOKUP_DEADLINE: Duration = Duration::from_millis(2500);

/// The outcome of resolving one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The entry is in the (possibly just updated) served copy.
    Found,
    /// Authoritatively absent.
    NotFound,
    /// The server could not be asked and nothing usable is cached.
    TryAgain,
}

/// Names and ids that can never be directory entries are answered without the network
/// (this includes `pam_unix_non_existent:`-style probes: `:` is not a POSIX name, and
/// `reserved-names`, which sudo asks for on every run: `%admin`, `%wheel`).
fn impossible(shared: &Shared, key: &LookupKey) -> bool {
    let config = shared.config();
    match key {
        LookupKey::UserName(n) | LookupKey::GroupName(n) | LookupKey::Shadow(n) => {
            !is_valid_posix_name(n) || is_reserved(n, &config.reserved_names)
        }
        LookupKey::Uid(id) => *id < config.min_uid || *id == u32::MAX,
        LookupKey::Gid(id) => *id < config.min_gid || *id == u32::MAX,
    }
}

/// Where `key` stands in `index`: present (with its freshness id, `None` for entries
/// that are never refetched on their own, such as user private groups), or absent.
fn locate(index: &Index, key: &LookupKey) -> Option<Option<EntryId>> {
    match key {
        // A taken-over local account is known (its memberships are served; its passwd
        // line is the local one), so it never costs a server request.
        LookupKey::UserName(n) => index
            .uid_of(n)
            .or_else(|| index.same_account_uid(n))
            .map(|u| Some(EntryId::User(u))),
        LookupKey::Uid(u) => (index.passwd_by_uid(*u).is_some() || index.is_same_account_uid(*u))
            .then_some(Some(EntryId::User(*u))),
        LookupKey::GroupName(n) => index
            .gid_of(n)
            .map(|g| (!index.is_private_group(g)).then_some(EntryId::Group(g))),
        LookupKey::Gid(g) => index
            .group_by_gid(*g)
            .map(|_| (!index.is_private_group(*g)).then_some(EntryId::Group(*g))),
        LookupKey::Shadow(n) => index
            .shadow_by_name(n)
            .map(|_| None)
            .or_else(|| index.same_account_uid(n).map(|_| None)),
    }
}

/// Resolves `key` for a peer with uid `uid` (charged for any request to the server);
/// afterwards, `Found` means `shared.index()` answers it.
pub fn resolve(shared: &Arc<Shared>, key: &LookupKey, uid: u32) -> Resolution {
    let index = shared.index();
    match locate(&index, key) {
        Some(id) => resolve_hit(shared, key, id, uid),
        None => resolve_miss(shared, key, uid),
    }
}

/// May `uid` make a server request for `key`? Joining one already in flight is free.
fn within_budget(shared: &Shared, key: &LookupKey, uid: u32) -> bool {
    let od = &shared.ondemand;
    od.flights.in_flight(key) || od.budget().admit(uid)
}

fn resolve_hit(shared: &Arc<Shared>, key: &LookupKey, id: Option<EntryId>, uid: u32) -> Resolution {
    let Some(id) = id else {
        return Resolution::Found;
    };
    let config = shared.config();
    let copy_time = shared.health().last_sync;
    let age = shared.ondemand.freshness().age(id, copy_time);
    // Refresh by id: every valid entry has one, while a user named after its `userName`
    // cannot be found again by name.
    let by_id = match id {
        EntryId::User(uid) => LookupKey::Uid(uid),
        EntryId::Group(gid) => LookupKey::Gid(gid),
    };
    match classify(age, config.positive_ttl) {
        Age::Fresh => Resolution::Found,
        Age::RefreshAhead => {
            refresh_in_background(shared, &by_id, uid);
            Resolution::Found
        }
        Age::Expired => {
            if !shared.ondemand.gate().open() {
                return stale_or_try_again(shared, age, config.max_stale);
            }
            if !within_budget(shared, &by_id, uid) {
                Counters::bump(&shared.counters.ondemand_over_budget);
                return stale_or_try_again(shared, age, config.max_stale);
            }
            match run_fetch(shared, &by_id) {
                // Gone under this id; by name it may have another id now.
                Some(Ok(FetchOutcome::Absent)) => match key {
                    LookupKey::UserName(_) | LookupKey::GroupName(_) => {
                        resolve_miss(shared, key, uid)
                    }
                    _ => Resolution::NotFound,
                },
                Some(Ok(_)) => {
                    if locate(&shared.index(), key).is_some() {
                        Resolution::Found
                    } else {
                        Resolution::NotFound
                    }
                }
                Some(Err(_)) | None => stale_or_try_again(shared, age, config.max_stale),
            }
        }
    }
}

fn stale_or_try_again(shared: &Shared, age: Duration, max_stale: Duration) -> Resolution {
    if age < max_stale {
        Counters::bump(&shared.counters.stale_answers);
        Resolution::Found
    } else {
        Counters::bump(&shared.counters.try_again);
        Resolution::TryAgain
    }
}

fn resolve_miss(shared: &Arc<Shared>, key: &LookupKey, uid: u32) -> Resolution {
    if impossible(shared, key) {
        return Resolution::NotFound;
    }
    let config = shared.config();
    if shared
        .ondemand
        .negative()
        .contains(key, config.negative_ttl)
    {
        return Resolution::NotFound;
    }
    if !shared.ondemand.gate().open() {
        Counters::bump(&shared.counters.try_again);
        return Resolution::TryAgain;
    }
    if !within_budget(shared, key, uid) {
        // This uid alone waits; others' misses still reach the server.
        Counters::bump(&shared.counters.ondemand_over_budget);
        Counters::bump(&shared.counters.try_again);
        return Resolution::TryAgain;
    }
    match run_fetch(shared, key) {
        Some(Ok(FetchOutcome::Present)) => {
            if locate(&shared.index(), key).is_some() {
                Resolution::Found
            } else {
                Resolution::NotFound
            }
        }
        Some(Ok(FetchOutcome::Absent)) => Resolution::NotFound,
        // The server cannot filter: the full copy is the answer, if there is one.
        Some(Ok(FetchOutcome::Unknown)) => {
            if shared.health().last_sync.is_some() {
                Resolution::NotFound
            } else {
                Counters::bump(&shared.counters.try_again);
                Resolution::TryAgain
            }
        }
        // It exists but clashes with a cached entry until the requested sync settles
        // both: TRYAGAIN, never "not found" for a user the server just confirmed.
        Some(Ok(FetchOutcome::Conflict)) | Some(Err(_)) | None => {
            Counters::bump(&shared.counters.try_again);
            Resolution::TryAgain
        }
    }
}

/// Runs (or joins) the fetch for `key`; `None` if the leader did not finish in time.
fn run_fetch(shared: &Shared, key: &LookupKey) -> Option<super::fetch::FetchResult> {
    let deadline = Instant::now() + LOOKUP_DEADLINE;
    match shared
        .ondemand
        .flights
        .run(key, deadline, || fetch(shared, key))
    {
        Joined::Led(r) => Some(r),
        Joined::Followed(r) => {
            Counters::bump(&shared.counters.shared_flights);
            Some(r)
        }
        Joined::TimedOut => None,
    }
}

fn refresh_in_background(shared: &Arc<Shared>, key: &LookupKey, uid: u32) {
    let od = &shared.ondemand;
    // A uid past its share gets no refresh: the entry is still fresh enough to serve.
    if od.flights.in_flight(key) || !od.gate().open() || !od.budget().admit(uid) {
        return;
    }
    let (shared, key) = (Arc::clone(shared), key.clone());
    let spawned = std::thread::Builder::new()
        .name("refresh".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            let _ = shared
                .ondemand
                .flights
                .run(&key, Instant::now() + LOOKUP_DEADLINE, || {
                    fetch(&shared, &key)
                });
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
        let shared = Shared::new(config);
        for key in [
            LookupKey::GroupName("admin".into()),
            LookupKey::GroupName("wheel".into()),
            LookupKey::UserName("root".into()),
            LookupKey::Shadow("sudo".into()),
            LookupKey::UserName("pam_unix_non_existent:".into()),
            LookupKey::Uid(999),
        ] {
            assert!(impossible(&shared, &key), "{key}");
        }
        for key in [
            LookupKey::UserName("alice".into()),
            LookupKey::GroupName("devs".into()),
            LookupKey::Gid(1000),
        ] {
            assert!(!impossible(&shared, &key), "{key}");
        }
    }
}
