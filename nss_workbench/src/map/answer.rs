//! Answers from the map: keyed lookups, `initgroups` gids and enumeration pages. Each
//! returns `None` when the map cannot answer (no live image, a miss, an entry that is
//! not fresh, a record that does not check out), and the caller asks the socket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use workbench_wire::map::view::{gids, group_gid, passwd_uid};
use workbench_wire::map::FLAG_ENUMERATE;
use workbench_wire::Request;

use super::clock::monotonic_ms;
use super::receive::{fetch, NoImage};
use super::slots::{self, Reading, RefreshLock};
use crate::arena::Arena;
use crate::deadline::Deadline;
use crate::fill::{Database, FillError, Key, MapTable};
use crate::status::Failure;

/// Earliest CLOCK_MONOTONIC ms of the next attempt to get an image.
static NEXT_TRY_MS: AtomicU64 = AtomicU64::new(0);

/// How long to wait before asking again: after "none right now" (the daemon is building
/// the next image, typically well under a second), after a failure to ask, and after an
/// image was refused (something is wrong that will not fix itself soon).
const RETRY_NOT_NOW_MS: u64 = 200;
const RETRY_REFUSED_MS: u64 = 30_000;
/// The image request must not hold a lookup up for long: the socket answers meanwhile.
const FETCH_DEADLINE: Duration = Duration::from_millis(500);

/// Whether a lookup may replace the mapping on its way (system calls, some of them
/// cancellation points) or must only read the one it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    Allowed,
    ReadOnly,
}

/// The current mapping if the daemon vouches for it now, refreshing it first if needed
/// (and allowed: one thread at a time, not during a back-off). `Err`: the socket cannot
/// be used either, and why.
fn live(now_ms: u64, refresh_mode: Refresh) -> Result<Option<Reading>, Failure> {
    if super::disabled() {
        return Ok(None);
    }
    if let Some(r) = slots::read() {
        if r.mapping().live(now_ms) {
            return Ok(Some(r));
        }
    }
    if refresh_mode == Refresh::ReadOnly {
        return Ok(None);
    }
    refresh(now_ms)?;
    Ok(slots::read().filter(|r| r.mapping().live(now_ms)))
}

fn refresh(now_ms: u64) -> Result<(), Failure> {
    if now_ms < NEXT_TRY_MS.load(Ordering::Relaxed) {
        return Ok(());
    }
    let Some(lock) = RefreshLock::try_lock() else {
        return Ok(());
    };
    if slots::read().is_some_and(|r| r.mapping().live(now_ms)) {
        return Ok(()); // another thread refreshed meanwhile
    }
    lock.drop_current();
    match fetch(&Deadline::after(FETCH_DEADLINE)) {
        Ok(mapping) => {
            if let Some(m) = lock.install(mapping) {
                // SAFETY: never installed, so never reachable by a reader.
                unsafe { m.unmap() };
                NEXT_TRY_MS.store(now_ms + RETRY_NOT_NOW_MS, Ordering::Relaxed);
            }
        }
        Err(NoImage::NotNow) => NEXT_TRY_MS.store(now_ms + RETRY_NOT_NOW_MS, Ordering::Relaxed),
        Err(NoImage::Refused(_) | NoImage::Unsupported) => {
            NEXT_TRY_MS.store(now_ms + RETRY_REFUSED_MS, Ordering::Relaxed)
        }
        Err(NoImage::Socket(e)) => {
            NEXT_TRY_MS.store(now_ms + RETRY_NOT_NOW_MS, Ordering::Relaxed);
            return Err(Failure::from_client(&e));
        }
    }
    Ok(())
}

/// A keyed passwd or group lookup from the map; shadow and enumeration keys: `None`.
pub fn keyed<D: Database>(
    key: Key<'_>,
    entry: &mut D::Entry,
    arena: &mut Arena,
    refresh_mode: Refresh,
) -> Option<Result<(), Failure>> {
    // Only passwd and group: a shadow lookup must not even make this process ask for an
    // image (it goes on a fresh connection of its own).
    let table = D::MAP_TABLE?;
    if key == Key::Any {
        return None;
    }
    let now_ms = monotonic_ms()?;
    let reading = match live(now_ms, refresh_mode) {
        Ok(r) => r?,
        Err(f) => return Some(Err(f)),
    };
    let mapping = reading.mapping();
    let view = mapping.view()?;
    let (slot, record, need) = match (table, key) {
        (MapTable::Users, Key::Name(n)) => view.user_by_name(n).map(|u| (u.slot, u.record, 0))?,
        (MapTable::Users, Key::Id(u)) => view.user_by_uid(u).map(|u| (u.slot, u.record, 0))?,
        (MapTable::Groups, Key::Name(n)) => {
            view.group_by_name(n).map(|g| (g.slot, g.record, g.need))?
        }
        (MapTable::Groups, Key::Id(g)) => {
            view.group_by_gid(g).map(|g| (g.slot, g.record, g.need))?
        }
        (_, Key::Any) => return None,
    };
    if !mapping.fresh(slot, now_ms / 1000) {
        return None;
    }
    // glibc's growing buffer: every too-small try answered without decoding a member.
    if need as usize > arena.remaining() {
        return Some(Err(Failure::BUFFER_TOO_SMALL));
    }
    match D::fill(record, key, entry, arena) {
        Ok(()) => Some(Ok(())),
        Err(FillError::BufferTooSmall) => Some(Err(Failure::BUFFER_TOO_SMALL)),
        Err(_) => {
            // Not what was asked for, or damaged: the socket decides, from a clean buffer.
            arena.clear();
            None
        }
    }
}

/// A user's `initgroups` gids (primary included) from the map.
pub fn initgroups(user: &[u8]) -> Option<Result<Vec<u32>, Failure>> {
    let now_ms = monotonic_ms()?;
    let reading = match live(now_ms, Refresh::Allowed) {
        Ok(r) => r?,
        Err(f) => return Some(Err(f)),
    };
    let mapping = reading.mapping();
    let hit = mapping.view()?.user_by_name(user)?;
    if !mapping.fresh(hit.slot, now_ms / 1000) {
        return None;
    }
    Some(Ok(gids(hit.gids).collect()))
}

/// Up to `max` records after key `after` for a passwd or group enumeration page, with
/// the last key and whether the listing is complete. Enumeration lists everything the
/// live image holds, as the socket's listing lists everything the daemon serves.
pub fn list_page(request: &Request, max: usize) -> Option<(Vec<Vec<u8>>, Option<u32>, bool)> {
    if !matches!(
        request,
        Request::PasswdList { .. } | Request::GroupList { .. }
    ) {
        return None;
    }
    let now_ms = monotonic_ms()?;
    // A socket that cannot be used fails the socket's page request the same way.
    let reading = live(now_ms, Refresh::Allowed).ok()??;
    let view = reading.mapping().view()?;
    if view.header().flags & FLAG_ENUMERATE == 0 {
        return None;
    }
    let (after, users) = match request {
        Request::PasswdList { after, .. } => (*after, true),
        Request::GroupList { after, .. } => (*after, false),
        _ => return None,
    };
    let (start, count) = if users {
        (view.first_user_after(after), view.header().user_count)
    } else {
        (view.first_group_after(after), view.header().group_count)
    };
    let end = count.min(start.saturating_add(u32::try_from(max).unwrap_or(u32::MAX)));
    let mut records = Vec::with_capacity((end - start.min(end)) as usize);
    let mut last = after;
    for i in start..end {
        let (record, key) = if users {
            let u = view.user_at(i)?;
            (u.record, passwd_uid(u.record)?)
        } else {
            let g = view.group_at(i)?;
            (g.record, group_gid(g.record)?)
        };
        // Keys must ascend, or a continuation on the socket could repeat or skip.
        if last.is_some_and(|l| key <= l) {
            return None;
        }
        last = Some(key);
        records.push(record.to_vec());
    }
    Some((records, last, end >= count))
}

/// Mappings this process holds (for tests through the module's own test hooks).
pub fn mapped_count() -> usize {
    slots::mapped_count()
}
