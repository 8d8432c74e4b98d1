//! One image in a sealed `memfd`: written, mapped writable by the daemon alone, then
//! sealed so that its size can never change (no SIGBUS for a reader) and no one else can
//! ever write it or map it writable (`F_SEAL_FUTURE_WRITE` leaves only the mapping made
//! here, before the seal). `F_SEAL_SEAL` last, so the seals themselves are final.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64};

use workbench_wire::map::{CONTROL_OFFSET, EXPIRY_OFFSET};

/// Bytes of the control block (the page between the header and the expiry table).
const CONTROL_LEN: usize = EXPIRY_OFFSET - CONTROL_OFFSET;

/// The seals every published image carries (the module checks for all of them).
pub const SEALS: libc::c_int = workbench_wire::map::REQUIRED_SEALS;

const _: () = assert!(
    SEALS
        == libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SEAL
);

/// Why an image could not be put in a memfd (an old kernel, a seccomp filter): the
/// daemon then simply serves on the socket.
#[derive(Debug)]
pub enum MemfdError {
    Create(io::Error),
    Write(io::Error),
    Map(io::Error),
    Seal(io::Error),
}

impl fmt::Display for MemfdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemfdError::Create(e) => write!(f, "memfd_create: {e}"),
            MemfdError::Write(e) => write!(f, "writing the image into its memfd: {e}"),
            MemfdError::Map(e) => write!(f, "mapping the image: {e}"),
            MemfdError::Seal(e) => write!(f, "sealing the image (needs Linux 5.1): {e}"),
        }
    }
}

impl std::error::Error for MemfdError {}

/// A sealed image and the daemon's writable mapping of it.
pub struct SealedImage {
    fd: OwnedFd,
    map: *mut u8,
    len: usize,
}

// SAFETY: the mapping is shared memory owned by this value; the control block and expiry
// table are only touched through atomics and the data area is never written after the
// seal, so references from several threads are sound.
unsafe impl Send for SealedImage {}
// SAFETY: as above.
unsafe impl Sync for SealedImage {}

impl SealedImage {
    /// Writes `bytes` into a new memfd, maps it and seals it.
    pub fn create(bytes: &[u8]) -> Result<SealedImage, MemfdError> {
        if bytes.len() < EXPIRY_OFFSET {
            return Err(MemfdError::Write(io::Error::new(
                io::ErrorKind::InvalidInput,
                "image shorter than its header and control block",
            )));
        }
        let name = c"workbench-nss-map";
        // SAFETY: `name` is a NUL-terminated string; the flags are valid.
        let raw = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if raw < 0 {
            return Err(MemfdError::Create(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a descriptor we just created and own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut file = File::from(fd);
        file.write_all(bytes).map_err(MemfdError::Write)?;
        let fd = OwnedFd::from(file);
        let len = bytes.len();
        // SAFETY: mapping `len` bytes of a file that is exactly `len` bytes long; the
        // result is checked before use.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(MemfdError::Map(io::Error::last_os_error()));
        }
        let image = SealedImage {
            fd,
            map: map.cast::<u8>(),
            len,
        };
        // SAFETY: F_ADD_SEALS with a valid seal mask on our memfd.
        let rc = unsafe { libc::fcntl(image.fd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) };
        if rc != 0 {
            return Err(MemfdError::Seal(io::Error::last_os_error()));
        }
        Ok(image)
    }

    /// The descriptor to pass to a module.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The control word at byte `off` of the control block.
    pub fn control(&self, off: usize) -> &AtomicU64 {
        let off = off.min(CONTROL_LEN - 8) & !7;
        // SAFETY: the control block lies inside the mapping (`create` refuses images
        // without it),
        // page aligned, so an 8-aligned offset in it is a valid AtomicU64 for as long as
        // `self` keeps the mapping.
        unsafe { &*self.map.add(CONTROL_OFFSET + off).cast::<AtomicU64>() }
    }

    /// The expiry word of `slot`, if the image has that slot (`slots` is its count).
    pub fn expiry(&self, slot: u32, slots: u32) -> Option<&AtomicU32> {
        if slot >= slots {
            return None;
        }
        let at = EXPIRY_OFFSET + slot as usize * 4;
        if at + 4 > self.len {
            return None;
        }
        // SAFETY: inside the mapping (checked), 4-aligned (page-aligned table of u32).
        Some(unsafe { &*self.map.add(at).cast::<AtomicU32>() })
    }

    /// The immutable bytes `[off, off + len)` (header or data area).
    pub fn bytes(&self, off: usize, len: usize) -> &[u8] {
        if off.checked_add(len).is_none_or(|end| end > self.len) {
            return &[];
        }
        // SAFETY: inside the mapping (checked); the header and data area are never
        // written once sealed (the daemon writes only the control block and expiries).
        unsafe { std::slice::from_raw_parts(self.map.add(off), len) }
    }
}

impl Drop for SealedImage {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `create`; nothing borrows it
        // once `self` is dropped. Processes that mapped the image keep their own pages.
        unsafe {
            libc::munmap(self.map.cast::<libc::c_void>(), self.len);
        }
    }
}
