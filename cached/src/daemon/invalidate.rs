//! `workbench-cached invalidate`: drop entries from the served copy so that the next
//! lookup fetches them from the server again (`--all` also asks for a full sync).

use workbench_wire::request::InvalidateTarget;

use crate::daemon::state::Shared;
use crate::directory::model::Directory;

/// Removes the named entries from memory; returns how many were dropped.
pub fn drop_entries(shared: &Shared, target: &InvalidateTarget) -> usize {
    let _apply = shared.ondemand.apply_lock();
    let current = shared.directory();
    let mut next: Directory = (*current).clone();
    let before = next.users.len() + next.groups.len();
    match target {
        InvalidateTarget::All => {
            next.users.clear();
            next.groups.clear();
            next.shadow.clear();
        }
        InvalidateTarget::User(name) => {
            let name = String::from_utf8_lossy(name);
            next.users.retain(|u| u.name != name);
            next.shadow.retain(|s| s.name != name);
        }
        InvalidateTarget::Group(name) => {
            let name = String::from_utf8_lossy(name);
            next.groups.retain(|g| g.name != name);
        }
    }
    let dropped = before - (next.users.len() + next.groups.len());
    if dropped > 0 {
        shared.serve(next);
    }
    // The next lookup asks the server, whatever it said before.
    shared.ondemand.negative().clear();
    dropped
}
