//! Enumeration pages (`getent passwd`, `group`, `shadow`): entries in key order after a
//! cursor, cut by count and by encoded bytes.

use workbench_wire::response::{LIST_PAGE_HEADER_LEN, LIST_RECORD_OVERHEAD};

/// One enumeration page.
#[derive(Debug)]
pub struct Page<'a> {
    /// Encoded records, in key order.
    pub records: Vec<&'a [u8]>,
    /// The key of the last entry passed (the cursor for the next page).
    pub last_key: Option<u32>,
    /// No entry after this page.
    pub done: bool,
}

impl Page<'_> {
    /// The page of an empty listing (`enumerate=0`).
    pub fn empty() -> Page<'static> {
        Page {
            records: Vec::new(),
            last_key: None,
            done: true,
        }
    }
}

/// The page of `entries` (key and encoded record, in key order, starting after the
/// cursor `after`): at most `max` records, and no more than fit in `max_bytes` once
/// encoded as a `ListPage`.
///
/// Cut by encoded bytes as well as by count: record sizes vary by three orders of
/// magnitude (a 1 KB gecos, a 4 KB home, a group of 100,000 members), so no record count
/// keeps every page under the frame limit.
pub fn page<'a>(
    entries: impl Iterator<Item = (u32, &'a [u8])>,
    after: Option<u32>,
    max: usize,
    max_bytes: usize,
) -> Page<'a> {
    let mut it = entries.peekable();
    let mut records = Vec::new();
    let mut last_key = after;
    let mut bytes = LIST_PAGE_HEADER_LEN;
    while records.len() < max {
        let Some(&(key, record)) = it.peek() else {
            break;
        };
        let cost = LIST_RECORD_OVERHEAD.saturating_add(record.len());
        if bytes.saturating_add(cost) > max_bytes {
            if !records.is_empty() {
                break;
            }
            // Validation keeps every record far below a page (MAX_GECOS, MAX_HOME,
            // MAX_MEMBERS), so this cannot happen; if it did, leaving one entry out is
            // better than an enumeration that can never get past it.
            log::error!(
                "entry with id {key} encodes to {} bytes, more than a page holds: not listed",
                record.len()
            );
            last_key = Some(key);
            it.next();
            continue;
        }
        bytes += cost;
        records.push(record);
        last_key = Some(key);
        it.next();
    }
    let done = it.peek().is_none();
    Page {
        records,
        last_key,
        done,
    }
}
