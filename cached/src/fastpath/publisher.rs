//! The current generation of the image, and its life: published once sealed, handed to
//! modules on request, kept alive by a heartbeat, retired the moment the served data
//! changes, when `invalidate --all` runs, or when the daemon stops.
//!
//! Retiring is synchronous and happens before the caller answers anyone (the state word
//! is in every reader's mapping), so a change is visible to every process on its next
//! call; the next generation is built afterwards by the daemon's fast-path thread. While
//! there is none, readers use the socket.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use workbench_wire::map::{
    Header, MapView, CONTROL_HEARTBEAT, CONTROL_STATE, STATE_LIVE, STATE_RETIRED,
};

use super::clock::monotonic_ms;
use super::image::{Entry, ImageCounts};
use super::memfd::{MemfdError, SealedImage};
use super::revoke::Revoke;

/// What the daemon serves now for an entry whose freshness is renewed.
pub struct Served<'a> {
    /// Its record.
    pub record: &'a [u8],
    /// A user's `initgroups` gids (`None` for a group).
    pub gids: Option<Vec<u32>>,
}

/// One published generation.
pub struct Published {
    pub image: SealedImage,
    pub header: Header,
    pub counts: ImageCounts,
    pub published_at: SystemTime,
}

impl Published {
    fn view(&self) -> Option<MapView<'_>> {
        let data = self
            .image
            .bytes(self.header.data_off as usize, self.header.data_len as usize);
        MapView::new(self.header, data).ok()
    }

    fn set_state(&self, state: u64) {
        self.image
            .control(CONTROL_STATE)
            .store(state, Ordering::SeqCst);
    }
}

const REFUSAL_REASONS: [&str; 6] = workbench_wire::map::refusal::NAMES;

#[derive(Default)]
struct Inner {
    current: Option<Arc<Published>>,
    /// A new image is wanted now (there is none, or it was asked for explicitly).
    dirty: bool,
    /// Entries of the current image were revoked: a new image is wanted, not urgently.
    revoked: bool,
    stopped: bool,
    last_publish: Option<std::time::Instant>,
}

/// How long revoked entries may wait for the next image (they are answered by the
/// socket meanwhile): a stream of new users costs one rebuild per period, not one each.
pub const REVOKED_REBUILD_DELAY: Duration = Duration::from_secs(10);

/// Counters and state for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapStatus {
    pub enabled: bool,
    pub generation: Option<u64>,
    pub size_bytes: u64,
    pub users: u32,
    pub groups: u32,
    pub age_seconds: Option<u64>,
    pub requests: u64,
    pub handed_out: u64,
    pub republishes: u64,
    pub retirements: u64,
    pub revocations: u64,
    pub last_build_ms: u64,
    pub refused: Vec<(&'static str, u64)>,
    pub last_error: Option<String>,
}

/// The publisher shared by the threads.
#[derive(Default)]
pub struct Publisher {
    inner: Mutex<Inner>,
    wake: Condvar,
    /// Bumped by every retirement: an image built from data older than the last change
    /// is never published.
    changes: AtomicU64,
    disabled: AtomicBool,
    generation: AtomicU64,
    requests: AtomicU64,
    handed_out: AtomicU64,
    republishes: AtomicU64,
    retirements: AtomicU64,
    revocations: AtomicU64,
    last_build_ms: AtomicU64,
    refused: [AtomicU64; REFUSAL_REASONS.len()],
    last_error: Mutex<Option<String>>,
}

impl Publisher {
    pub fn new() -> Publisher {
        Publisher::default()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The served data changed (or was invalidated): readers stop using the current
    /// image now, and a new one is wanted.
    pub fn retire(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.inner();
        if let Some(old) = inner.current.take() {
            old.set_state(STATE_RETIRED);
            self.retirements.fetch_add(1, Ordering::Relaxed);
        }
        inner.dirty = true;
        drop(inner);
        self.wake.notify_all();
    }

    /// Freshness changed wholesale (a sync confirmed everything): a new image is wanted;
    /// the current one stays right meanwhile.
    pub fn want_rebuild(&self) {
        self.inner().dirty = true;
        self.wake.notify_all();
    }

    /// The daemon is stopping: the image is retired for good.
    pub fn stop(&self) {
        let mut inner = self.inner();
        inner.stopped = true;
        if let Some(old) = inner.current.take() {
            old.set_state(STATE_RETIRED);
        }
        drop(inner);
        self.wake.notify_all();
    }

    /// The fast path cannot work here (no memfd or no seals): stay on the socket.
    pub fn disable(&self, why: &str) {
        self.disabled.store(true, Ordering::SeqCst);
        self.note_error(why);
    }

    pub fn is_enabled(&self) -> bool {
        !self.disabled.load(Ordering::SeqCst)
    }

    pub fn note_error(&self, why: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_string());
    }

    /// Entries of the current image are wrong from now on: readers ask the socket for
    /// them, and a new image is built within [`REVOKED_REBUILD_DELAY`].
    pub fn revoke(&self, keys: &[Revoke]) {
        // An image being built from the data before this change must not be published.
        self.changes.fetch_add(1, Ordering::SeqCst);
        let mut inner = self.inner();
        let Some(p) = inner.current.clone() else {
            return;
        };
        let Some(view) = p.view() else {
            drop(inner);
            self.retire();
            return;
        };
        let mut slots = Vec::new();
        for key in keys {
            match key {
                Revoke::Uid(uid) => slots.extend(view.user_by_uid(*uid).map(|u| u.slot)),
                Revoke::UserName(n) => {
                    slots.extend(view.user_by_name(n.as_bytes()).map(|u| u.slot))
                }
                Revoke::Gid(_) | Revoke::GroupName(_) => {
                    let hit = match key {
                        Revoke::Gid(gid) => view.group_by_gid(*gid),
                        Revoke::GroupName(n) => view.group_by_name(n.as_bytes()),
                        _ => None,
                    };
                    let Some(g) = hit else { continue };
                    slots.push(g.slot);
                    // Its members' initgroups answers change with it.
                    if let Ok(record) = workbench_wire::GroupRecord::decode(g.record) {
                        for m in record.members {
                            slots.extend(view.user_by_name(m).map(|u| u.slot));
                        }
                    }
                }
            }
        }
        for slot in slots {
            if let Some(word) = p.image.expiry(slot, p.header.slot_count) {
                word.store(0, Ordering::SeqCst);
            }
        }
        self.revocations.fetch_add(1, Ordering::Relaxed);
        inner.revoked = true;
        drop(inner);
        self.wake.notify_all();
    }

    /// Waits until a new image is wanted (true, and the want is taken) or `timeout`.
    pub fn wait_for_work(&self, timeout: Duration) -> bool {
        let mut inner = self.inner();
        if !inner.dirty && !inner.stopped {
            inner = self
                .wake
                .wait_timeout(inner, timeout)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let revoked_due = inner.revoked
            && inner
                .last_publish
                .is_none_or(|t| t.elapsed() >= REVOKED_REBUILD_DELAY);
        let want = (inner.dirty || revoked_due) && !inner.stopped && self.is_enabled();
        if want {
            inner.dirty = false;
            inner.revoked = false;
        }
        want
    }

    /// The change count to pass to [`Publisher::publish`]; read before the snapshot.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// The next generation number: increasing, also across restarts (it starts from the
    /// wall clock), so no reader ever sees generations go backwards.
    pub fn next_generation(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut cur = self.generation.load(Ordering::SeqCst);
        loop {
            let next = wall.max(cur + 1);
            match self
                .generation
                .compare_exchange(cur, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Seals `bytes` and makes it the current image, unless the data changed since
    /// `changes_before` was read (the image would be stale: a new build is wanted).
    pub fn publish(
        &self,
        bytes: &[u8],
        counts: ImageCounts,
        changes_before: u64,
        build: Duration,
    ) -> Result<bool, MemfdError> {
        let header = match Header::parse(bytes, bytes.len() as u64) {
            Ok(h) => h,
            Err(e) => {
                self.note_error(&format!("built image does not parse: {e}"));
                return Ok(false);
            }
        };
        let image = SealedImage::create(bytes)?;
        let published = Arc::new(Published {
            image,
            header,
            counts,
            published_at: SystemTime::now(),
        });
        let mut inner = self.inner();
        if inner.stopped || self.changes.load(Ordering::SeqCst) != changes_before {
            // Built from data that changed meanwhile: without a current image another
            // is wanted now; with one (its changed entries revoked) within the delay.
            if inner.current.is_some() {
                inner.revoked = true;
            } else {
                inner.dirty = !inner.stopped;
            }
            return Ok(false);
        }
        published
            .image
            .control(CONTROL_HEARTBEAT)
            .store(monotonic_ms(), Ordering::SeqCst);
        published.set_state(STATE_LIVE);
        inner.last_publish = Some(std::time::Instant::now());
        if let Some(old) = inner.current.replace(published) {
            old.set_state(STATE_RETIRED);
        }
        drop(inner);
        self.republishes.fetch_add(1, Ordering::Relaxed);
        self.last_build_ms
            .store(build.as_millis() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Renews the current image's lease.
    pub fn heartbeat(&self) {
        if let Some(p) = self.inner().current.as_ref() {
            p.image
                .control(CONTROL_HEARTBEAT)
                .store(monotonic_ms(), Ordering::SeqCst);
        }
    }

    /// Sets how long `entry` stays fresh in the current image (0: from now on, readers
    /// ask the socket for it). A later time is set only when the image's entry is what
    /// `served` says is served now (record, and a user's gids): an entry whose id was
    /// kept by a change (a renamed user) is never made fresh again.
    pub fn set_expiry(&self, entry: Entry, until: u32, served: Option<&Served<'_>>) {
        let inner = self.inner();
        let Some(p) = inner.current.as_ref() else {
            return;
        };
        let Some(view) = p.view() else { return };
        let (slot, same) = match entry {
            Entry::User(uid) => match view.user_by_uid(uid) {
                Some(u) => (
                    u.slot,
                    served.is_some_and(|s| {
                        s.record == u.record
                            && s.gids.as_ref().is_some_and(|g| {
                                g.iter()
                                    .copied()
                                    .eq(workbench_wire::map::view::gids(u.gids))
                            })
                    }),
                ),
                None => return,
            },
            Entry::Group(gid, _) => match view.group_by_gid(gid) {
                Some(g) => (g.slot, served.is_some_and(|s| s.record == g.record)),
                None => return,
            },
        };
        if until != 0 && !same {
            return;
        }
        if let Some(word) = p.image.expiry(slot, p.header.slot_count) {
            word.store(until, Ordering::SeqCst);
        }
    }

    /// The expiry word of `entry` in the current image (tests).
    #[cfg(test)]
    pub(crate) fn expiry_of(&self, entry: Entry) -> Option<u32> {
        let inner = self.inner();
        let p = inner.current.as_ref()?;
        let view = p.view()?;
        let slot = match entry {
            Entry::User(uid) => view.user_by_uid(uid)?.slot,
            Entry::Group(gid, _) => view.group_by_gid(gid)?.slot,
        };
        Some(
            p.image
                .expiry(slot, p.header.slot_count)?
                .load(Ordering::SeqCst),
        )
    }

    /// The image to hand to a module that asked, counting the request and the reason
    /// it gave for refusing the previous image it was handed (0: none).
    pub fn offer(&self, refused: u8) -> Option<Arc<Published>> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = self
            .refused
            .get(usize::from(refused))
            .filter(|_| refused != 0)
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let current = self.inner().current.clone();
        if current.is_some() {
            self.handed_out.fetch_add(1, Ordering::Relaxed);
        }
        current
    }

    pub fn status(&self) -> MapStatus {
        let inner = self.inner();
        let cur = inner.current.as_ref();
        MapStatus {
            enabled: self.is_enabled(),
            generation: cur.map(|p| p.header.generation),
            size_bytes: cur.map_or(0, |p| p.image.len() as u64),
            users: cur.map_or(0, |p| p.counts.users),
            groups: cur.map_or(0, |p| p.counts.groups),
            age_seconds: cur.map(|p| {
                SystemTime::now()
                    .duration_since(p.published_at)
                    .map_or(0, |d| d.as_secs())
            }),
            requests: self.requests.load(Ordering::Relaxed),
            handed_out: self.handed_out.load(Ordering::Relaxed),
            republishes: self.republishes.load(Ordering::Relaxed),
            retirements: self.retirements.load(Ordering::Relaxed),
            revocations: self.revocations.load(Ordering::Relaxed),
            last_build_ms: self.last_build_ms.load(Ordering::Relaxed),
            refused: REFUSAL_REASONS
                .iter()
                .zip(&self.refused)
                .skip(1)
                .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
                .collect(),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workbench_wire::map::Builder;

    fn image(generation: u64) -> Vec<u8> {
        Builder::new().finish(generation, [1, 2], 0).unwrap()
    }

    #[test]
    fn publishes_hands_out_and_retires() {
        let p = Publisher::new();
        assert!(p.offer(0).is_none());
        let changes = p.changes();
        assert!(p
            .publish(&image(5), ImageCounts::default(), changes, Duration::ZERO)
            .unwrap());
        let offered = p.offer(0).expect("an image");
        assert_eq!(offered.header.generation, 5);
        assert_eq!(
            offered.image.control(CONTROL_STATE).load(Ordering::SeqCst),
            STATE_LIVE
        );
        p.retire();
        // Retired in the mapping every process holds, before anyone is answered.
        assert_eq!(
            offered.image.control(CONTROL_STATE).load(Ordering::SeqCst),
            STATE_RETIRED
        );
        assert!(p.offer(0).is_none());
        let st = p.status();
        assert_eq!((st.requests, st.handed_out, st.retirements), (3, 1, 1));
    }

    #[test]
    fn an_image_older_than_the_last_change_is_not_published() {
        let p = Publisher::new();
        let before = p.changes();
        p.retire();
        assert!(!p
            .publish(&image(1), ImageCounts::default(), before, Duration::ZERO)
            .unwrap());
        assert!(p.offer(0).is_none());
        // ... and another build is wanted.
        assert!(p.wait_for_work(Duration::ZERO));
    }

    #[test]
    fn refusals_reported_by_modules_are_counted_by_name() {
        let p = Publisher::new();
        p.offer(workbench_wire::map::refusal::NOT_SEALED);
        p.offer(workbench_wire::map::refusal::NOT_SEALED);
        p.offer(200);
        let refused: std::collections::HashMap<_, _> = p.status().refused.into_iter().collect();
        assert_eq!(refused["not_sealed"], 2);
        assert_eq!(refused.values().sum::<u64>(), 2);
    }

    #[test]
    fn revoking_a_group_revokes_it_and_its_members_only() {
        use workbench_wire::codec::Writer;
        use workbench_wire::{GroupRecord, PasswdRecord};
        let mut b = Builder::new();
        for (name, uid) in [("ann", 1001), ("bob", 1002), ("cid", 1003)] {
            let mut w = Writer::new();
            PasswdRecord {
                name: name.as_bytes(),
                passwd: b"x",
                uid,
                gid: uid,
                gecos: b"",
                dir: b"/h",
                shell: b"/bin/sh",
            }
            .encode(&mut w);
            b.add_user(&w.buf, &[uid], u32::MAX).unwrap();
        }
        let mut w = Writer::new();
        GroupRecord {
            name: b"devs",
            passwd: b"x",
            gid: 2001,
            members: vec![&b"ann"[..], &b"bob"[..]],
        }
        .encode(&mut w);
        b.add_group(&w.buf, u32::MAX).unwrap();
        let image = b.finish(3, [5, 6], 0).unwrap();
        let p = Publisher::new();
        assert!(p
            .publish(&image, ImageCounts::default(), p.changes(), Duration::ZERO)
            .unwrap());
        let before = p.changes();
        p.revoke(&[Revoke::GroupName("devs".into())]);
        assert_ne!(
            p.changes(),
            before,
            "a build in progress must not be published"
        );
        let cur = p.offer(0).unwrap();
        let view = cur.view().unwrap();
        let expiry = |slot| {
            cur.image
                .expiry(slot, cur.header.slot_count)
                .unwrap()
                .load(Ordering::SeqCst)
        };
        for (name, revoked) in [("ann", true), ("bob", true), ("cid", false)] {
            let slot = view.user_by_name(name.as_bytes()).unwrap().slot;
            assert_eq!(expiry(slot) == 0, revoked, "{name}");
        }
        assert_eq!(expiry(view.group_by_gid(2001).unwrap().slot), 0);
        // Still live: only those entries go to the socket.
        assert_eq!(
            cur.image.control(CONTROL_STATE).load(Ordering::SeqCst),
            STATE_LIVE
        );
        assert_eq!(p.status().revocations, 1);
    }

    #[test]
    fn a_stopped_publisher_publishes_nothing() {
        let p = Publisher::new();
        p.stop();
        assert!(!p
            .publish(
                &image(1),
                ImageCounts::default(),
                p.changes(),
                Duration::ZERO
            )
            .unwrap());
        assert!(!p.wait_for_work(Duration::ZERO));
    }
}

#[cfg(test)]
mod renew_tests {
    use super::*;
    use crate::cache::snapshot::Snapshot;
    use crate::directory::model::{Directory, PosixGroup, PosixUser};
    use crate::fastpath::image::build;

    #[test]
    fn a_confirmed_unchanged_user_is_renewed_and_a_changed_one_is_not() {
        let mut dir = Directory::default();
        for (name, uid) in [("ann", 1001), ("bob", 1002)] {
            dir.users.push(PosixUser {
                scim_id: format!("u-{name}"),
                name: name.into(),
                uid,
                gid: uid,
                gecos: String::new(),
                home: format!("/home/{name}"),
                shell: "/bin/bash".into(),
                active: true,
            });
        }
        dir.groups.push(PosixGroup {
            scim_id: "g-devs".into(),
            name: "devs".into(),
            gid: 2001,
            members: vec!["ann".into()],
        });
        let snap = Snapshot::from_directory(dir);
        let (bytes, counts) = build(&snap, 1, [1, 2], true, |_| 0).unwrap();
        let p = Publisher::new();
        assert!(p
            .publish(&bytes, counts, p.changes(), Duration::ZERO)
            .unwrap());
        let served = |uid| {
            let record = snap.passwd_record_by_uid(uid).unwrap();
            let name = workbench_wire::PasswdRecord::decode(record).unwrap().name;
            Served {
                record,
                gids: snap.memberships(std::str::from_utf8(name).unwrap()),
            }
        };
        p.set_expiry(Entry::User(1001), 500, Some(&served(1001)));
        let cur = p.offer(0).unwrap();
        let view = cur.view().unwrap();
        let word = |uid| {
            let slot = view.user_by_uid(uid).unwrap().slot;
            cur.image
                .expiry(slot, cur.header.slot_count)
                .unwrap()
                .load(Ordering::SeqCst)
        };
        assert_eq!(word(1001), 500);
        // bob's entry is not what is served for him (ann's record stands in): not renewed.
        p.set_expiry(Entry::User(1002), 500, Some(&served(1001)));
        assert_eq!(word(1002), 0);
    }
}
