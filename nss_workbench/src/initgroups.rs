//! `initgroups_dyn`: append the user's supplementary groups to glibc's array.
//!
//! The array handling follows glibc's own `nss_files`/`compat` modules exactly: skip the
//! primary group and gids already present, grow with `realloc` to twice the size capped
//! at `limit` (when `limit > 0`), stop silently once `*size == limit`, and on `realloc`
//! failure return `TRYAGAIN`/`ENOMEM` keeping what was added so far.

use std::mem::size_of;

use libc::{c_long, c_void, gid_t};
use workbench_wire::record::decode_gid_list;
use workbench_wire::Request;

use crate::client::{self, Channel};
use crate::deadline::Deadline;
use crate::error::ClientError;
use crate::lookup;
use crate::status::Failure;

/// glibc's in/out arguments of `initgroups_dyn`.
#[derive(Debug)]
pub struct GroupArray<'a> {
    /// Number of gids already in the array.
    pub start: &'a mut c_long,
    /// Allocated length of the array, in gids.
    pub size: &'a mut c_long,
    /// The `malloc`ed array itself.
    pub groups: &'a mut *mut gid_t,
    /// Maximum number of gids wanted; `<= 0` means no limit.
    pub limit: c_long,
}

/// Asks the daemon for `user`'s groups and appends them.
///
/// # Safety
///
/// As [`add_groups`].
pub unsafe fn initgroups(
    user: &[u8],
    primary: gid_t,
    array: GroupArray<'_>,
) -> Result<(), Failure> {
    if let Some(gids) = crate::map::answer::initgroups(user) {
        // SAFETY: forwarded from our caller's contract.
        return unsafe { add_groups(gids?, primary, array) };
    }
    let request = Request::InitGroups(user.to_vec());
    let frame = lookup::encode(&request)?;
    let reply = client::call_frame(&frame, Channel::for_request(&request), &Deadline::start())?;
    if let Some(f) = Failure::from_wire(reply.status) {
        return Err(f);
    }
    let gids = decode_gid_list(&reply.payload).map_err(ClientError::Protocol)?;
    // SAFETY: forwarded from our caller's contract.
    unsafe { add_groups(gids, primary, array) }
}

/// Appends `gids` (minus `primary` and duplicates) to the array.
///
/// A size of 0 (which glibc never passes) grows to 1 instead of looping on `2 * 0`, and a
/// `*size` already above `limit` counts as full rather than being shrunk.
///
/// # Safety
///
/// `*array.groups` must be NULL or a pointer from `malloc`/`realloc` to at least
/// `*array.size` gids, of which the first `*array.start` are initialised.
pub unsafe fn add_groups(
    gids: impl IntoIterator<Item = u32>,
    primary: gid_t,
    array: GroupArray<'_>,
) -> Result<(), Failure> {
    let GroupArray {
        start,
        size,
        groups,
        limit,
    } = array;
    if *start < 0 || *size < 0 || *start > *size || ((*groups).is_null() && *start > 0) {
        return Err(Failure::INVALID_ARGUMENT);
    }
    for gid in gids {
        if gid == primary {
            continue;
        }
        let used = usize::try_from(*start).map_err(|_| Failure::INVALID_ARGUMENT)?;
        if used > 0 {
            // SAFETY: the first `*start` gids are initialised (contract) and `*groups`
            // is non-null when `*start > 0` (checked above).
            let present = unsafe { std::slice::from_raw_parts(*groups, used) };
            if present.contains(&gid) {
                continue;
            }
        }
        if *start == *size {
            if limit > 0 && *size >= limit {
                // Full: what did not fit is dropped, as glibc's modules do.
                return Ok(());
            }
            let mut new_size = size.saturating_mul(2).max(size.saturating_add(1));
            if limit > 0 {
                new_size = new_size.min(limit);
            }
            let bytes = usize::try_from(new_size)
                .ok()
                .and_then(|n| n.checked_mul(size_of::<gid_t>()))
                .ok_or(Failure::NO_MEMORY)?;
            // SAFETY: `*groups` is NULL or from malloc/realloc (contract); on failure
            // realloc leaves it untouched and we keep it.
            let grown = unsafe { libc::realloc((*groups).cast::<c_void>(), bytes) };
            if grown.is_null() {
                return Err(Failure::NO_MEMORY);
            }
            *groups = grown.cast::<gid_t>();
            *size = new_size;
        }
        // SAFETY: *start < *size, so the slot is inside the allocation.
        unsafe { (*groups).add(used).write(gid) };
        *start += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A malloc'd array as glibc's `getgrouplist` prepares it.
    struct Array {
        start: c_long,
        size: c_long,
        groups: *mut gid_t,
    }

    impl Array {
        fn new(initial: &[gid_t], size: c_long) -> Array {
            let bytes = (size.max(1) as usize) * size_of::<gid_t>();
            let groups = unsafe { libc::malloc(bytes) }.cast::<gid_t>();
            assert!(!groups.is_null());
            for (i, g) in initial.iter().enumerate() {
                unsafe { groups.add(i).write(*g) };
            }
            Array {
                start: initial.len() as c_long,
                size,
                groups,
            }
        }

        fn add(&mut self, gids: &[u32], primary: gid_t, limit: c_long) -> Result<(), Failure> {
            let array = GroupArray {
                start: &mut self.start,
                size: &mut self.size,
                groups: &mut self.groups,
                limit,
            };
            unsafe { add_groups(gids.iter().copied(), primary, array) }
        }

        fn contents(&self) -> Vec<gid_t> {
            unsafe { std::slice::from_raw_parts(self.groups, self.start as usize) }.to_vec()
        }
    }

    impl Drop for Array {
        fn drop(&mut self) {
            unsafe { libc::free(self.groups.cast()) };
        }
    }

    #[test]
    fn skips_primary_and_duplicates() {
        let mut a = Array::new(&[100], 4);
        a.add(&[100, 200, 300, 200, 300, 400], 100, -1).unwrap();
        assert_eq!(a.contents(), vec![100, 200, 300, 400]);
        assert_eq!(a.size, 4);
        // Already present from another module: skipped too.
        let mut b = Array::new(&[100, 300], 2);
        b.add(&[300, 500], 100, 0).unwrap();
        assert_eq!(b.contents(), vec![100, 300, 500]);
    }

    #[test]
    fn grows_by_doubling_without_limit() {
        let mut a = Array::new(&[1], 1);
        let gids: Vec<u32> = (10..30).collect();
        a.add(&gids, 1, 0).unwrap();
        assert_eq!(a.start, 21);
        assert_eq!(a.size, 32); // 1 → 2 → 4 → 8 → 16 → 32
        let mut expected = vec![1];
        expected.extend(10..30);
        assert_eq!(a.contents(), expected);
    }

    #[test]
    fn limit_caps_growth_and_stops_adding() {
        let mut a = Array::new(&[1], 2);
        let gids: Vec<u32> = (10..30).collect();
        a.add(&gids, 1, 5).unwrap();
        assert_eq!(a.size, 5); // 2 → 4 → min(5, 8)
        assert_eq!(a.contents(), vec![1, 10, 11, 12, 13]);
        // Already full: nothing more, no growth.
        a.add(&[99], 1, 5).unwrap();
        assert_eq!(a.contents(), vec![1, 10, 11, 12, 13]);
        assert_eq!(a.size, 5);
    }

    #[test]
    fn limit_equal_to_size_adds_nothing_when_full() {
        let mut a = Array::new(&[1, 2], 2);
        a.add(&[3], 1, 2).unwrap();
        assert_eq!(a.contents(), vec![1, 2]);
        assert_eq!(a.size, 2);
    }

    #[test]
    fn zero_size_still_grows() {
        let mut a = Array::new(&[], 0);
        a.add(&[7, 8], 1, -1).unwrap();
        assert_eq!(a.contents(), vec![7, 8]);
        assert!(a.size >= 2);
    }

    #[test]
    fn inconsistent_arrays_are_refused() {
        let mut a = Array::new(&[1], 1);
        a.start = 2;
        assert_eq!(a.add(&[5], 1, 0), Err(Failure::INVALID_ARGUMENT));
        a.start = 1;
        a.size = -1;
        assert_eq!(a.add(&[5], 1, 0), Err(Failure::INVALID_ARGUMENT));
        a.size = 1;
    }
}
