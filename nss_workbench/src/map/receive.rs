//! Asking the daemon for its current image and checking everything about what comes
//! back before a byte of it is trusted: the listener is root's, a descriptor came, it is
//! a regular (memfd) file of exactly the offered size with every required seal, and its
//! header parses and names the offered generation. The descriptor is closed as soon as
//! the image is mapped: the host process keeps no descriptor of ours.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

use workbench_wire::map::{refusal, Header, EXPIRY_OFFSET, MAX_IMAGE_LEN, PAGE, REQUIRED_SEALS};
use workbench_wire::{MapOffer, Request, Status};

use super::mapping::Mapping;
use crate::client;
use crate::deadline::Deadline;
use crate::error::ClientError;

/// Why no mapping came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoImage {
    /// The daemon has none right now (rebuilding after a change) or cannot be reached.
    NotNow,
    /// What it sent was refused (a `refusal` code); reported on the next request.
    Refused(u8),
    /// The daemon does not know the request (an older daemon during an upgrade closes
    /// the connection): not asked again for a while.
    Unsupported,
    /// The socket itself cannot be used (nobody listens, or not a daemon we trust): a
    /// lookup on it would fail the same way, so the caller answers with this at once.
    Socket(ClientError),
}

/// The last refusal, sent with the next request so that `status` counts it.
static LAST_REFUSAL: AtomicU8 = AtomicU8::new(refusal::NONE);

/// Asks for the image and maps it.
pub fn fetch(deadline: &Deadline) -> Result<Mapping, NoImage> {
    let refused = LAST_REFUSAL.swap(refusal::NONE, Ordering::SeqCst);
    let frame = Request::MapImage { refused }.to_frame();
    let got = client::call_for_map(&frame, deadline).map_err(|e| match e {
        ClientError::NotRunning | ClientError::UntrustedPeer => NoImage::Socket(e),
        ClientError::Closed | ClientError::Protocol(_) => NoImage::Unsupported,
        _ => NoImage::NotNow,
    })?;
    let Some((reply, fd)) = got else {
        return Err(refuse(refusal::UNTRUSTED_PEER));
    };
    if reply.status != Status::Found {
        return Err(NoImage::NotNow);
    }
    let offer = MapOffer::decode(&reply.payload).map_err(|_| refuse(refusal::BAD_HEADER))?;
    let fd = fd.ok_or_else(|| refuse(refusal::NO_DESCRIPTOR))?;
    let len = checked_len(&fd, offer.len)?;
    if !sealed(&fd) {
        return Err(refuse(refusal::NOT_SEALED));
    }
    let base = map(&fd, len)?;
    drop(fd);
    let head_len = len.min(PAGE);
    // SAFETY: `base` maps `len` >= head_len readable bytes.
    let head = unsafe { std::slice::from_raw_parts(base, head_len) };
    let header = match Header::parse(head, len as u64) {
        Ok(h) if h.generation == offer.generation => h,
        _ => {
            // SAFETY: unmapping the mapping just made; nothing refers to it.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
            return Err(refuse(refusal::BAD_HEADER));
        }
    };
    // SAFETY: `base` maps `len` bytes, stays mapped until `Mapping::unmap`, its header
    // was checked against `len`, and the seals forbid anyone else to write it.
    Ok(unsafe { Mapping::new(base, len, header) })
}

fn refuse(code: u8) -> NoImage {
    LAST_REFUSAL.store(code, Ordering::SeqCst);
    NoImage::Refused(code)
}

/// The image's size if it is a regular file of exactly `offered` bytes within limits.
fn checked_len(fd: &OwnedFd, offered: u64) -> Result<usize, NoImage> {
    // SAFETY: stat is plain old data; all-zero is a valid value to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open descriptor and `st` a valid stat buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(refuse(refusal::WRONG_SIZE));
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    let regular = st.st_mode & libc::S_IFMT == libc::S_IFREG;
    if !regular || size != offered || size > MAX_IMAGE_LEN || size < EXPIRY_OFFSET as u64 + 4 {
        return Err(refuse(refusal::WRONG_SIZE));
    }
    usize::try_from(size).map_err(|_| refuse(refusal::WRONG_SIZE))
}

/// Whether every required seal is set (so the size can never change under the mapping,
/// and no one but the daemon can write it).
fn sealed(fd: &OwnedFd) -> bool {
    // SAFETY: F_GET_SEALS on an open descriptor; fails (-1) for anything but a memfd.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & REQUIRED_SEALS == REQUIRED_SEALS
}

fn map(fd: &OwnedFd, len: usize) -> Result<*const u8, NoImage> {
    // SAFETY: a fresh read-only shared mapping of `len` bytes of a file that is exactly
    // `len` bytes long and sealed against shrinking; the result is checked.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(NoImage::NotNow);
    }
    Ok(base.cast::<u8>().cast_const())
}
