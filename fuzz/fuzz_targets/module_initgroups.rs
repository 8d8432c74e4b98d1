//! The module's `initgroups_dyn` path: the daemon's gid list (`decode_gid_list`) appended
//! to glibc's `malloc`ed array by `initgroups::add_groups`.
//!
//! Input: `[start, size, limit, primary(4), payload...]`. The result is compared with a
//! model of glibc's own modules (skip the primary and duplicates, double up to `limit`,
//! stop when full), which also proves nothing was written past the array's size.
#![no_main]

use libc::{c_long, gid_t};
use libfuzzer_sys::fuzz_target;
use nss_workbench::initgroups::{add_groups, GroupArray};
use workbench_fuzz::split_params;
use workbench_wire::record::decode_gid_list;

fuzz_target!(|data: &[u8]| {
    let Some(([start, size, limit, p0, p1, p2, p3], payload)) = split_params::<7>(data) else {
        return;
    };
    let Ok(gids) = decode_gid_list(payload) else {
        return;
    };
    let gids: Vec<u32> = gids.collect();
    // Small gids so that duplicates and the primary actually occur.
    let primary = u32::from_le_bytes([p0, p1, p2, p3]) % 64;
    let mut start = c_long::from(start % 40);
    let mut size = c_long::from(size % 40);
    // Negative or zero: no limit.
    let limit = c_long::from(limit as i8) % 48;

    let initial: Vec<gid_t> = (0..start.min(size)).map(|i| 1000 + i as gid_t).collect();
    // SAFETY: malloc of a small size; NULL only if out of memory (then nothing to test).
    let mut groups = unsafe { libc::malloc((size.max(1) as usize) * 4) }.cast::<gid_t>();
    if groups.is_null() {
        return;
    }
    for (i, g) in initial.iter().enumerate() {
        // SAFETY: i < min(start, size) <= size slots allocated.
        unsafe { groups.add(i).write(*g) };
    }

    let expected = model(&initial, start, size, limit, primary, &gids);
    let array = GroupArray {
        start: &mut start,
        size: &mut size,
        groups: &mut groups,
        limit,
    };
    // SAFETY: `groups` is from malloc with `size` slots, the first min(start, size)
    // initialised; start > size is refused before any access.
    let result = unsafe { add_groups(gids.iter().copied(), primary, array) };
    match expected {
        None => assert!(result.is_err(), "inconsistent array accepted"),
        Some((want, max_size)) => {
            assert!(result.is_ok(), "{result:?}");
            assert!(start <= size, "start {start} > size {size}");
            if limit > 0 {
                assert!(size <= max_size, "grew to {size} past limit {limit}");
            }
            // SAFETY: add_groups keeps `start <= size` slots initialised.
            let got = unsafe { std::slice::from_raw_parts(groups, start as usize) };
            assert_eq!(got, &want[..]);
        }
    }
    // SAFETY: `groups` is from malloc/realloc and owned here.
    unsafe { libc::free(groups.cast()) };
});

/// What glibc's `nss_files` would leave: the gids, and the largest size allowed.
fn model(
    initial: &[gid_t],
    start: c_long,
    size: c_long,
    limit: c_long,
    primary: u32,
    gids: &[u32],
) -> Option<(Vec<gid_t>, c_long)> {
    if start > size {
        return None;
    }
    let mut out = initial.to_vec();
    let mut cap = size;
    for &g in gids {
        if g == primary || out.contains(&g) {
            continue;
        }
        if out.len() as c_long == cap {
            if limit > 0 && cap >= limit {
                break;
            }
            cap = (cap * 2).max(cap + 1);
            if limit > 0 {
                cap = cap.min(limit);
            }
        }
        out.push(g);
    }
    Some((out, size.max(limit)))
}
