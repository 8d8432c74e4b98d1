//! The served snapshot as an image: every user the socket would answer by name or uid
//! (taken-over local accounts are not: their passwd line is the local one), with its
//! `initgroups` gids, and every group.

use std::time::Duration;

use workbench_wire::map::view::{group_gid, passwd_name, passwd_uid};
use workbench_wire::map::{BuildError, Builder, FLAG_ENUMERATE};

use crate::cache::snapshot::Snapshot;

/// Which entry a fresh-until time is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    User(u32),
    /// A group, and whether it is a SCIM group (`false`: a user private group, which the
    /// daemon never refetches on its own).
    Group(u32, bool),
}

/// Counts of one image, for `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageCounts {
    pub users: u32,
    pub groups: u32,
}

/// Lays out `snap` as the image of `generation`. `expiry` gives each entry's
/// CLOCK_MONOTONIC second of freshness end (0: not fresh now).
pub fn build(
    snap: &Snapshot,
    generation: u64,
    key: [u64; 2],
    enumerate: bool,
    expiry: impl Fn(Entry) -> u32,
) -> Result<(Vec<u8>, ImageCounts), BuildError> {
    let mut b = Builder::new();
    let mut counts = ImageCounts::default();
    let users = snap.passwd_page(None, usize::MAX, usize::MAX);
    for record in &users.records {
        let (Some(name), Some(uid)) = (passwd_name(record), passwd_uid(record)) else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        let gids = snap.memberships(name).unwrap_or_default();
        b.add_user(record, &gids, expiry(Entry::User(uid)))?;
        counts.users += 1;
    }
    drop(users);
    let groups = snap.group_page(None, usize::MAX, usize::MAX);
    for record in &groups.records {
        let Some(gid) = group_gid(record) else {
            continue;
        };
        let scim = snap.is_scim_group(gid).unwrap_or(false);
        b.add_group(record, expiry(Entry::Group(gid, scim)))?;
        counts.groups += 1;
    }
    let flags = if enumerate { FLAG_ENUMERATE } else { 0 };
    Ok((b.finish(generation, key, flags)?, counts))
}

/// The CLOCK_MONOTONIC second (given `now_secs`) at which an entry confirmed `age` ago
/// stops being fresh by the daemon's rule: after `fresh_for`
/// (`schedule::refresh_ahead::fresh_for`), past which even the daemon refreshes it.
/// 0 when it is not fresh now.
pub fn fresh_until(age: Duration, fresh_for: Duration, now_secs: u64) -> u32 {
    match fresh_for.checked_sub(age) {
        Some(left) if !left.is_zero() => {
            u32::try_from(now_secs.saturating_add(left.as_secs())).unwrap_or(u32::MAX - 1)
        }
        _ => 0,
    }
}

/// How much earlier than its exact end [`fresh_until`] may end an entry: the current
/// second and what is left are both whole seconds, rounded down. The daemon starts its
/// refresh-ahead this much early (`ondemand::freshness::classify_entry`), so that a
/// lookup the map gave up on always starts the refresh that renews it.
pub const EXPIRY_GRAIN: Duration = Duration::from_secs(2);

/// Expiry of entries the daemon never refetches on their own (user private groups):
/// they change only with the data, which retires the image.
pub const NEVER: u32 = u32::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_for_what_is_left() {
        let fresh_for = Duration::from_secs(150);
        assert_eq!(fresh_until(Duration::ZERO, fresh_for, 1000), 1150);
        assert_eq!(fresh_until(Duration::from_secs(100), fresh_for, 1000), 1050);
        assert_eq!(fresh_until(Duration::from_secs(150), fresh_for, 1000), 0);
        assert_eq!(fresh_until(Duration::MAX, fresh_for, 1000), 0);
        assert_eq!(fresh_until(Duration::ZERO, Duration::ZERO, 1000), 0);
    }
}
