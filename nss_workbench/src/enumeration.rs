//! `setXXent`/`getXXent_r`/`endXXent`: one cursor per database per process.
//!
//! The cursor holds the current page of records and the key to continue after. The mutex
//! is held only to look at or update the cursor, never across I/O: a fetch copies out the
//! key, releases the lock, talks to the daemon, re-locks and stores the page only if
//! nobody reset or advanced the cursor meanwhile (a generation counter tells). After
//! `fork()` the child's cursor belongs to the parent's enumeration and is discarded.
//! A shadow cursor is also discarded when the effective uid or gid changed: its page of
//! hashes was fetched under the old credentials (the next call asks again, under the new
//! ones, and a caller who may no longer read shadow gets `EACCES`).

use std::sync::{Mutex, MutexGuard};

use workbench_wire::{ListPage, Status};

use crate::arena::Arena;
use crate::client;
use crate::credentials::Credentials;
use crate::deadline::Deadline;
use crate::error::ClientError;
use crate::fill::{Database, Key};
use crate::status::Failure;

/// Records asked for per page. The daemon may send fewer: it also cuts pages by encoded
/// size so that no reply exceeds the frame limit. The cursor only follows `last_key`,
/// so a short page costs one more round trip, nothing else.
pub const PAGE_SIZE: u32 = 256;

/// Pages one `getXXent_r` call may fetch before giving up (`TRYAGAIN`): a daemon that
/// keeps sending empty pages cannot keep the caller looping.
const MAX_FETCHES_PER_CALL: usize = 8;

#[derive(Debug)]
struct State {
    owner: Credentials,
    generation: u64,
    records: Vec<Vec<u8>>,
    pos: usize,
    after: Option<u32>,
    done: bool,
}

impl State {
    const fn new() -> Self {
        State {
            owner: Credentials {
                pid: 0,
                euid: 0,
                egid: 0,
            },
            generation: 0,
            records: Vec::new(),
            pos: 0,
            after: None,
            done: false,
        }
    }

    fn reset(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.records = Vec::new();
        self.pos = 0;
        self.after = None;
        self.done = false;
        self.owner = Credentials::current();
    }

    /// After `fork()` always; after a change of effective ids when `private`.
    fn reset_if_stale(&mut self, private: bool) {
        // Runs once per entry of an enumeration: passwd and group pages only need the
        // pid (one system call), not the three ids.
        let stale = if private {
            self.owner != Credentials::current()
        } else {
            self.owner.pid != Credentials::current_pid()
        };
        if stale {
            self.reset();
        }
    }
}

/// The enumeration cursor of one database.
#[derive(Debug)]
pub struct Cursor {
    state: Mutex<State>,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor::new()
    }
}

/// A validated page, owned.
struct Page {
    records: Vec<Vec<u8>>,
    last_key: Option<u32>,
    done: bool,
}

impl Cursor {
    pub const fn new() -> Self {
        Cursor {
            state: Mutex::new(State::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock (impossible by construction) must not disable
        // enumeration for the life of the process.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `setXXent` and `endXXent`: start over, free the page.
    pub fn reset(&self) {
        self.lock().reset();
    }

    /// `getXXent_r`: the next entry, or `NOTFOUND`/`ENOENT` at the end. On `ERANGE` or
    /// any failure the cursor does not move, so a retry returns the same entry.
    pub fn next<D: Database>(
        &self,
        entry: &mut D::Entry,
        arena: &mut Arena,
    ) -> Result<(), Failure> {
        let deadline = Deadline::start();
        // Shadow pages are the ones tied to the credentials they were fetched with.
        let private = D::list_request(None, 0).wants_shadow();
        for _ in 0..MAX_FETCHES_PER_CALL {
            let (after, generation) = {
                let mut s = self.lock();
                s.reset_if_stale(private);
                if let Some(record) = s.records.get(s.pos) {
                    D::fill(record, Key::Any, entry, arena)?;
                    s.pos += 1;
                    return Ok(());
                }
                if s.done {
                    return Err(Failure::NOT_FOUND);
                }
                (s.after, s.generation)
            };
            let page = fetch::<D>(after, &deadline)?;
            let mut s = self.lock();
            if s.generation != generation || s.after != after || s.pos < s.records.len() {
                // Reset or advanced by another thread meanwhile: look again.
                continue;
            }
            s.after = page.last_key.or(after);
            s.done = page.done;
            s.records = page.records;
            s.pos = 0;
        }
        Err(Failure::TRY_AGAIN)
    }
}

fn fetch<D: Database>(after: Option<u32>, deadline: &Deadline) -> Result<Page, Failure> {
    if let Some(page) = from_map::<D>(after) {
        return Ok(page);
    }
    let reply = client::call(&D::list_request(after, PAGE_SIZE), deadline)?;
    match reply.status {
        Status::Found => {}
        // Nothing (more) to list.
        Status::NotFound => {
            return Ok(Page {
                records: Vec::new(),
                last_key: after,
                done: true,
            })
        }
        other => return Err(Failure::from_wire(other).unwrap_or(Failure::TRY_AGAIN)),
    }
    let page = ListPage::decode(&reply.payload).map_err(ClientError::Protocol)?;
    for r in &page.records {
        D::validate(r).map_err(ClientError::Protocol)?;
    }
    // A page that is not the last must move the cursor forward, or the next request
    // would ask for the same page again.
    if !page.done {
        let advanced = match (after, page.last_key) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(a), Some(k)) => k > a,
        };
        if !advanced {
            return Err(Failure::from_client(&ClientError::Inconsistent));
        }
    }
    Ok(Page {
        records: page.records.iter().map(|r| r.to_vec()).collect(),
        last_key: page.last_key,
        done: page.done,
    })
}

/// Records per page taken from the map: no round trip to save, only the copy into the
/// cursor, so larger pages just mean fewer lock round trips.
const MAP_PAGE_SIZE: usize = 1024;

/// A page from the map, checked like a socket page; `None` to ask the socket.
fn from_map<D: Database>(after: Option<u32>) -> Option<Page> {
    let (records, last_key, done) =
        crate::map::answer::list_page(&D::list_request(after, 0), MAP_PAGE_SIZE)?;
    if records.iter().any(|r| D::validate(r).is_err()) {
        return None;
    }
    if !done && last_key.is_none_or(|k| after.is_some_and(|a| k <= a)) {
        return None;
    }
    Some(Page {
        records,
        last_key,
        done,
    })
}
