//! Everything the on-demand path keeps between lookups, with the daemon's shared state:
//! the handle the socket server and the sync thread hold ([`OnDemand`]).

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use std::time::{Duration, SystemTime};

use crate::cache::snapshot::Snapshot;
use crate::fastpath::clock::monotonic_secs;
use crate::fastpath::image::{fresh_until, Entry};
use crate::fastpath::publisher::Served;
use crate::schedule::refresh_ahead::fresh_for;
use crate::schedule::refresh_hold::held_for;
use crate::state::Shared;

use super::fetch::FetchResult;
use super::freshness::{classify_entry, Age, EntryId, Freshness};
use super::gate::FailureGate;
use super::key::LookupKey;
use super::negative::NegativeCache;
use super::single_flight::SingleFlight;
use super::uid_budget::UidBudget;
use crate::scim::client::ScimClient;
use crate::tokens::secret::BearerToken;

/// Tokens as the sync thread last read them (usable ones only).
#[derive(Debug, Default, Clone)]
pub struct UsableTokens {
    pub user: Option<BearerToken>,
    pub admin: Option<BearerToken>,
}

/// On-demand state, one per daemon, beside the state every thread shares.
pub struct OnDemand {
    /// Configuration, the served snapshot, health, counters.
    pub shared: Arc<Shared>,
    pub negative: Mutex<NegativeCache>,
    pub flights: SingleFlight<LookupKey, FetchResult>,
    pub gate: Mutex<FailureGate>,
    /// Each peer uid's share of the requests the gate lets through.
    pub budget: Mutex<UidBudget>,
    pub freshness: Mutex<Freshness>,
    /// Client with the short on-demand timeout; rebuilt with the configuration.
    pub client: RwLock<Option<Arc<ScimClient>>>,
    pub tokens: RwLock<UsableTokens>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl OnDemand {
    pub fn new(shared: Arc<Shared>) -> Arc<OnDemand> {
        Arc::new(OnDemand {
            shared,
            negative: Mutex::default(),
            flights: SingleFlight::default(),
            gate: Mutex::default(),
            budget: Mutex::default(),
            freshness: Mutex::default(),
            client: RwLock::default(),
            tokens: RwLock::default(),
        })
    }
    pub fn negative(&self) -> MutexGuard<'_, NegativeCache> {
        lock(&self.negative)
    }
    pub fn gate(&self) -> MutexGuard<'_, FailureGate> {
        lock(&self.gate)
    }
    pub fn budget(&self) -> MutexGuard<'_, UidBudget> {
        lock(&self.budget)
    }
    pub fn freshness(&self) -> MutexGuard<'_, Freshness> {
        lock(&self.freshness)
    }
    /// Records that the server confirmed `id` at `at`: for the socket path's policy and
    /// for the map, whose entry stays fresh exactly as long as the policy says.
    ///
    /// A map entry is renewed only if it still says what is served: a refetch that
    /// renamed a user keeps its uid, and the image's old entry under that uid must not
    /// be made fresh again. The served copy stays read-locked until the entry is
    /// written, so no change can come in between (a change revokes under the write
    /// lock).
    pub fn confirm(&self, id: EntryId, at: SystemTime) {
        self.freshness().confirm(id, at);
        let age = SystemTime::now()
            .duration_since(at)
            .unwrap_or(Duration::ZERO);
        let ttl = self.shared.config().positive_ttl;
        let raw = match id {
            EntryId::User(u) | EntryId::Group(u) => u,
        };
        let until = fresh_until(age, fresh_for(raw, ttl), monotonic_secs());
        let snap = self.shared.snapshot();
        let served = served(&snap, id);
        self.shared
            .fastpath
            .set_expiry(map_entry(id), until, served.as_ref());
        drop(snap);
    }

    /// Keeps the map answering `id` while its refresh-ahead runs
    /// ([`refresh_hold`](crate::schedule::refresh_hold)): only while the daemon itself
    /// still serves it as cached (refresh-ahead, not expired), never past its TTL, and
    /// only if the map's entry is what is served. `copy_time` is the last full copy's
    /// time as the lookup read it.
    ///
    /// The served copy is read-locked and the freshness table locked until the entry is
    /// written: an `invalidate` (which marks entries expired under the freshness lock,
    /// then retires the image) or a change (which revokes under the snapshot's write
    /// lock) comes wholly before, and is seen here, or wholly after, and wins.
    pub fn hold(&self, id: EntryId, copy_time: Option<SystemTime>) {
        let ttl = self.shared.config().positive_ttl;
        let snap = self.shared.snapshot();
        let freshness = self.freshness();
        let age = freshness.age(id, copy_time);
        if classify_entry(id, age, ttl) != Age::RefreshAhead {
            return;
        }
        let until = fresh_until(age, held_for(age, ttl), monotonic_secs());
        let served = served(&snap, id);
        self.shared
            .fastpath
            .set_expiry(map_entry(id), until, served.as_ref());
        drop(freshness);
        drop(snap);
    }
    pub fn client(&self) -> Option<Arc<ScimClient>> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(Arc::clone)
    }
    pub fn set_client(&self, client: Option<ScimClient>) {
        *self.client.write().unwrap_or_else(|p| p.into_inner()) = client.map(Arc::new);
    }
    /// After a full copy is served: every remembered "none" that the copy now answers is
    /// dropped (a just-in-time user arriving in a sync is served on the next lookup, not
    /// left to expire).
    pub fn forget_answered(&self) {
        let mut negative = self.negative();
        let snap = self.shared.snapshot();
        let dropped = negative.forget_present(|key| key.answered_by(&snap));
        if dropped > 0 {
            log::debug!("{dropped} remembered 'no such entry' answers dropped: the copy has them");
        }
    }

    /// After a merge: the "none" remembered for the entries it put in is dropped.
    pub fn forget_put(&self, change: &crate::directory::change::Change) {
        let mut negative = self.negative();
        for key in LookupKey::put_by(change) {
            negative.remove(&key);
        }
    }

    pub fn tokens(&self) -> UsableTokens {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    pub fn set_tokens(&self, tokens: UsableTokens) {
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens;
    }
}

/// What the served copy holds for `id` (a user's record and gids, a group's record).
fn served(snap: &Snapshot, id: EntryId) -> Option<Served<'_>> {
    match id {
        EntryId::User(uid) => snap.passwd_record_by_uid(uid).map(|record| {
            let gids = workbench_wire::PasswdRecord::decode(record)
                .ok()
                .and_then(|p| {
                    std::str::from_utf8(p.name)
                        .ok()
                        .and_then(|n| snap.memberships(n))
                });
            Served { record, gids }
        }),
        EntryId::Group(gid) => snap
            .group_record_by_gid(gid)
            .map(|record| Served { record, gids: None }),
    }
}

/// The map's name for a freshness entry (only SCIM groups are ever confirmed).
pub fn map_entry(id: EntryId) -> Entry {
    match id {
        EntryId::User(uid) => Entry::User(uid),
        EntryId::Group(gid) => Entry::Group(gid, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::{Directory, PosixUser};
    use crate::fastpath::image::build;
    use crate::schedule::refresh_hold::REFRESH_HOLD;

    /// A daemon serving ann (uid 1001), whose map entry has ended (expiry 0).
    fn serving_ann() -> Arc<OnDemand> {
        let config = crate::config::Config::from_pairs(&[
            ("server-address", "https://h/"),
            ("positive-ttl", "60"),
        ])
        .expect("config");
        let od = OnDemand::new(Shared::new(config));
        let mut dir = Directory::default();
        dir.users.push(PosixUser {
            scim_id: "u-ann".into(),
            name: "ann".into(),
            uid: 1001,
            gid: 1001,
            gecos: String::new(),
            home: "/home/ann".into(),
            shell: "/bin/bash".into(),
            active: true,
        });
        od.shared.serve(dir);
        let publisher = &od.shared.fastpath;
        let changes = publisher.changes();
        let (bytes, counts) = build(&od.shared.snapshot(), 1, [1, 2], true, |_| 0).expect("image");
        assert!(publisher
            .publish(&bytes, counts, changes, Duration::ZERO)
            .expect("publish"));
        od
    }

    fn ann_confirmed_ago(od: &OnDemand, ago: Duration) -> Option<SystemTime> {
        let copy = Some(SystemTime::now() - Duration::from_secs(3600));
        od.freshness()
            .confirm(EntryId::User(1001), SystemTime::now() - ago);
        copy
    }

    fn ann_expiry(od: &OnDemand) -> u32 {
        od.shared
            .fastpath
            .expiry_of(Entry::User(1001))
            .expect("ann in the image")
    }

    #[test]
    fn an_entry_being_refreshed_is_held_in_the_map_for_a_few_seconds() {
        let od = serving_ann();
        let ttl = Duration::from_secs(60);
        let copy = ann_confirmed_ago(&od, fresh_for(1001, ttl) + Duration::from_secs(1));
        let now = monotonic_secs();
        od.hold(EntryId::User(1001), copy);
        let until = u64::from(ann_expiry(&od));
        assert!(
            until > now && until <= now + REFRESH_HOLD.as_secs() + 1,
            "{until} {now}"
        );
    }

    #[test]
    fn a_fresh_or_expired_entry_is_not_held() {
        let od = serving_ann();
        let ttl = Duration::from_secs(60);
        let copy = ann_confirmed_ago(&od, Duration::ZERO);
        od.hold(EntryId::User(1001), copy);
        assert_eq!(
            ann_expiry(&od),
            0,
            "fresh: the daemon renews it only on a refresh"
        );
        let copy = ann_confirmed_ago(&od, ttl);
        od.hold(EntryId::User(1001), copy);
        assert_eq!(ann_expiry(&od), 0, "expired: the daemon refetches it");
    }

    #[test]
    fn a_hold_never_reaches_past_the_ttl() {
        let od = serving_ann();
        let ttl = Duration::from_secs(60);
        let copy = ann_confirmed_ago(&od, ttl - Duration::from_millis(1500));
        let now = monotonic_secs();
        od.hold(EntryId::User(1001), copy);
        let until = u64::from(ann_expiry(&od));
        // 1.5 s left: rounded down, at most one second from now.
        assert!(until <= now + 1, "{until} {now}");
    }
}
