//! What the server pays for each kind of request a daemon makes: requests (pages) and
//! response bytes, from the daemon's real `page-size` and id page size and from record
//! sizes measured on the fixture server.
//!
//! The sizes were measured on the fixture server (`tests/fixture/scim_server.py`, no page
//! cap) serving the directory `scripts/bench --scale` generates for 100,000 users
//! (`tests/fixture/make_directory.py --users 100000 --groups 10000 --members-per-group 25
//! --big-group 20000`: 10,001 groups, every user in 2-3 of them, one group of 20,000
//! members), as `curl -w %{size_download}` of one page holding every resource, divided
//! by the number of resources. Response bodies only, as the daemon's `sync-max-bytes`
//! counts them (no HTTP headers).

use cached::scim::delta::id_page_size;

/// One user as the user token sees it (`GET /Users`: 64,810,140 bytes / 100,000).
pub const USER_BYTES: u64 = 648;
/// One user as the admin token sees it, with its password hash (76,710,140 / 100,000).
pub const ADMIN_USER_BYTES: u64 = 767;
/// One group, averaged over the 10,001 groups, the 20,000-member one included
/// (17,340,596 / 10,001).
pub const GROUP_BYTES: u64 = 1_734;
/// One user in an `attributes=id` listing (2,000,139 / 100,000).
pub const USER_ID_BYTES: u64 = 20;
/// One group in an `attributes=id` listing (220,158 / 10,001).
pub const GROUP_ID_BYTES: u64 = 22;
/// The `ListResponse` around each page (`count=0`: 135 bytes).
pub const PAGE_ENVELOPE_BYTES: u64 = 135;

/// Requests and response bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub requests: u64,
    pub bytes: u64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            requests: self.requests + o.requests,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// The modelled server and directory.
#[derive(Debug, Clone)]
pub struct Model {
    pub users: u64,
    pub groups: u64,
    /// Share of users (and of groups) modified per day.
    pub change_rate: f64,
    /// The daemons' `page-size`.
    pub page_size: u32,
    /// Largest page the server serves whatever `count` asks (0: none).
    pub server_max_page: u32,
    /// Whether the daemons have an admin token (a third listing: users with hashes).
    pub admin: bool,
}

impl Model {
    /// `n` resources of `size` bytes asked `count` at a time.
    fn listing(&self, n: u64, size: u64, count: u32) -> Cost {
        let per_page = match self.server_max_page {
            0 => count,
            cap => count.min(cap),
        }
        .max(1);
        // A listing that finds nothing is still one request.
        let pages = n.div_ceil(u64::from(per_page)).max(1);
        Cost {
            requests: pages,
            bytes: n * size + pages * PAGE_ENVELOPE_BYTES,
        }
    }

    /// A complete copy: every user, every group, every user again with the admin token.
    pub fn full(&self) -> Cost {
        let mut c = self.listing(self.users, USER_BYTES, self.page_size)
            + self.listing(self.groups, GROUP_BYTES, self.page_size);
        if self.admin {
            c = c + self.listing(self.users, ADMIN_USER_BYTES, self.page_size);
        }
        c
    }

    /// Distinct resources out of `total` modified in `secs` seconds at the change rate
    /// (each modified at random: a user changed twice is fetched once).
    fn changed(&self, total: u64, secs: f64) -> u64 {
        let days = secs.max(0.0) / 86_400.0;
        let share = 1.0 - (-self.change_rate * days).exp();
        (total as f64 * share).ceil() as u64
    }

    /// An incremental sync asking for what changed in the last `secs` seconds (the
    /// safety margin included): id listings at the daemon's id page size, then the
    /// changed users and groups (and users again with the admin token).
    pub fn incremental(&self, secs: f64) -> Cost {
        let ids = id_page_size(self.page_size);
        let users = self.changed(self.users, secs);
        let groups = self.changed(self.groups, secs);
        let mut c = self.listing(self.users, USER_ID_BYTES, ids)
            + self.listing(self.groups, GROUP_ID_BYTES, ids)
            + self.listing(users, USER_BYTES, self.page_size)
            + self.listing(groups, GROUP_BYTES, self.page_size);
        if self.admin {
            c = c + self.listing(users, ADMIN_USER_BYTES, self.page_size);
        }
        c
    }

    /// An attempt while the server is down: one request, nothing served.
    pub fn failed(&self) -> Cost {
        Cost {
            requests: 1,
            bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model {
            users: 100_000,
            groups: 10_001,
            change_rate: 0.01,
            page_size: 500,
            server_max_page: 0,
            admin: true,
        }
    }

    #[test]
    fn full_copy_pages_and_bytes() {
        let c = model().full();
        assert_eq!(c.requests, 200 + 21 + 200);
        assert_eq!(
            c.bytes,
            100_000 * (USER_BYTES + ADMIN_USER_BYTES) + 10_001 * GROUP_BYTES + 421 * 135
        );
    }

    #[test]
    fn incremental_is_ids_and_changes() {
        let m = model();
        // Ten minutes and the margin: about 7 users and 1 group changed.
        let c = m.incremental(900.0);
        assert_eq!(c.requests, 10 + 2 + 1 + 1 + 1);
        assert!(c.bytes < m.full().bytes / 50, "{c:?}");
        // A server capping pages at 500 makes the id listings cost requests.
        let capped = Model {
            server_max_page: 500,
            ..m
        };
        assert_eq!(capped.incremental(900.0).requests, 200 + 21 + 3);
    }
}
