//! The SCIM client the daemon uses: one per configuration, shared between threads.

use serde_json::Value;

use super::attributes::{GROUPS_ENDPOINT, USERS_ENDPOINT};
use super::budget::SyncBudget;
use super::error::ScimError;
use super::lookup::{lookup_groups, lookup_users, GroupFilter, UserFilter};
use super::paging::{fetch_all, fetch_all_shaped};
use super::transport::HttpTransport;
use crate::config::Config;
use crate::tokens::secret::BearerToken;

/// Client for the Workbench SCIM API (design.md §2). Holds no token: each call takes
/// the one it must use (user token for passwd/group data, admin token for shadow data),
/// so a token re-read on `SIGHUP` needs no new client. `Send + Sync`; build it once per
/// configuration (it owns the HTTP agent and its connection pool).
#[derive(Debug)]
pub struct ScimClient {
    transport: HttpTransport,
    page_size: u32,
}

impl ScimClient {
    /// Builds the HTTP agent from `server-address`, `ca-file`, `request-timeout`,
    /// `page-size` and `allow-insecure-http`. Fails with [`ScimError::Config`] on an
    /// unreadable or empty `ca-file` or an address the client refuses.
    pub fn new(config: &Config) -> Result<ScimClient, ScimError> {
        let transport = HttpTransport::new(
            &config.server_address,
            config.ca_file.as_deref(),
            config.request_timeout,
            config.allow_insecure_http,
        )?;
        Ok(ScimClient {
            transport,
            page_size: config.page_size.max(1),
        })
    }

    /// Every user resource, raw, all pages or an error (never a partial copy).
    pub fn fetch_all_users(&self, token: &BearerToken) -> Result<Vec<Value>, ScimError> {
        fetch_all(&self.transport, token, USERS_ENDPOINT, self.page_size)
    }

    /// Every User, each passed through `shape` as its page arrives (mapped, or cut to a
    /// few attributes), so that the caller never holds the whole directory as JSON;
    /// every page is paid for out of the sync's `budget`.
    pub fn fetch_all_users_shaped<T>(
        &self,
        token: &BearerToken,
        budget: &mut SyncBudget,
        shape: impl FnMut(Value) -> T,
    ) -> Result<Vec<T>, ScimError> {
        fetch_all_shaped(
            &self.transport,
            token,
            USERS_ENDPOINT,
            self.page_size,
            budget,
            shape,
        )
    }

    /// Every group resource, raw, all pages or an error (never a partial copy).
    pub fn fetch_all_groups(&self, token: &BearerToken) -> Result<Vec<Value>, ScimError> {
        fetch_all(&self.transport, token, GROUPS_ENDPOINT, self.page_size)
    }

    /// Every Group, each passed through `shape` as its page arrives; as
    /// [`ScimClient::fetch_all_users_shaped`].
    pub fn fetch_all_groups_shaped<T>(
        &self,
        token: &BearerToken,
        budget: &mut SyncBudget,
        shape: impl FnMut(Value) -> T,
    ) -> Result<Vec<T>, ScimError> {
        fetch_all_shaped(
            &self.transport,
            token,
            GROUPS_ENDPOINT,
            self.page_size,
            budget,
            shape,
        )
    }

    /// The resources of `endpoint` (`Users` or `Groups`) modified after `since`, each
    /// through `shape` as its page arrives (see [`super::delta`]).
    pub fn fetch_modified_after<T>(
        &self,
        token: &BearerToken,
        endpoint: &str,
        since: std::time::SystemTime,
        budget: &mut SyncBudget,
        shape: impl FnMut(Value) -> T,
    ) -> Result<Vec<T>, ScimError> {
        super::delta::fetch_modified_after(
            &self.transport,
            token,
            endpoint,
            since,
            self.page_size,
            budget,
            shape,
        )
    }

    /// The id of every resource of `endpoint` (see [`super::delta::list_ids`]).
    pub fn list_ids(
        &self,
        token: &BearerToken,
        endpoint: &str,
        budget: &mut SyncBudget,
    ) -> Result<std::collections::HashSet<String>, ScimError> {
        let count = super::delta::id_page_size(self.page_size);
        super::delta::list_ids(&self.transport, token, endpoint, count, budget)
    }

    /// The users matching `filter` exactly (usually zero or one). An empty vector means
    /// the server answered "none". [`ScimError::BadFilter`] means: use the full copy.
    pub fn lookup_user(
        &self,
        token: &BearerToken,
        filter: UserFilter<'_>,
    ) -> Result<Vec<Value>, ScimError> {
        lookup_users(&self.transport, token, filter)
    }

    /// The users who may be the one named `name`: by `posixUserName`, else by `userName`
    /// equal to it or starting with `name@` (a name derived from `userName` minus its
    /// domain; design.md §2) in one request. The caller maps each and keeps the exact
    /// name (lookups are case-sensitive, like glibc's). A server that refuses that
    /// filter (400: no `or` or no `sw`) is asked `userName eq` alone, and then "none" is
    /// no answer for a derived name: `Ok(None)`, and the full copy is the answer.
    pub fn lookup_user_by_name(
        &self,
        token: &BearerToken,
        name: &str,
    ) -> Result<Option<Vec<Value>>, ScimError> {
        let found = self.lookup_user(token, UserFilter::PosixUserName(name))?;
        if !found.is_empty() {
            return Ok(Some(found));
        }
        match self.lookup_user(token, UserFilter::DerivedName(name)) {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.is_bad_filter() => {
                log::debug!("user {name}: userName eq … or sw … not usable ({e})");
                let found = self.lookup_user(token, UserFilter::UserName(name))?;
                Ok((!found.is_empty()).then_some(found))
            }
            Err(e) => Err(e),
        }
    }

    /// The groups matching `filter` exactly; as [`ScimClient::lookup_user`].
    pub fn lookup_group(
        &self,
        token: &BearerToken,
        filter: GroupFilter<'_>,
    ) -> Result<Vec<Value>, ScimError> {
        lookup_groups(&self.transport, token, filter)
    }
}
