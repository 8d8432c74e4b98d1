//! Refusals met outside a full copy (an on-demand lookup, a refresh, a refetch after
//! `invalidate`): logged and counted in `status` like a full copy's, so the rules
//! refuse the same way, visibly, on every path.
//!
//! `status`' `refused` holds the last full copy's refusals plus those met since; the next
//! full copy replaces them all (and refuses the same entries again if they are still
//! there).

use crate::directory::model::{EntryKind, Refusal};
use crate::state::Shared;

/// Logs and counts `r` unless `status` already lists the same entry refused for the
/// same reason (a lookup repeated, or the last copy refused it too).
pub fn note_refusal(shared: &Shared, r: &Refusal) {
    let kind = match r.kind {
        EntryKind::User => "user",
        EntryKind::Group => "group",
    };
    let reason = r.reason.as_str();
    let mut h = shared.health();
    let known = h
        .refused_detail
        .iter()
        .any(|(k, id, why, _)| k == kind && *id == r.scim_id && *why == reason);
    if known {
        return;
    }
    *h.refused.entry(reason).or_insert(0) += 1;
    h.refused_detail.push((
        kind.to_string(),
        r.scim_id.clone(),
        reason,
        r.detail.clone(),
    ));
    drop(h);
    log::warn!(
        "refused {kind} with SCIM id {:?}: {reason}: {}",
        r.scim_id,
        r.detail
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::model::RefusalReason;

    #[test]
    fn counts_each_refused_entry_once() {
        let config =
            crate::config::Config::from_pairs(&[("server-address", "https://h/")]).unwrap();
        let shared = Shared::new(config);
        let r = |id: &str, reason| Refusal {
            kind: EntryKind::User,
            scim_id: id.into(),
            reason,
            detail: "why".into(),
        };
        note_refusal(&shared, &r("u-1", RefusalReason::ReservedName));
        note_refusal(&shared, &r("u-1", RefusalReason::ReservedName));
        note_refusal(&shared, &r("u-2", RefusalReason::ReservedName));
        note_refusal(&shared, &r("u-1", RefusalReason::HomeNotNormalised));
        let h = shared.health();
        assert_eq!(h.refused.get("reserved_name"), Some(&2));
        assert_eq!(h.refused.get("home_not_normalised"), Some(&1));
        assert_eq!(h.refused_detail.len(), 3);
    }
}
