//! Framing: every message on the socket is
//!
//! ```text
//! u32 LE  payload length (bytes after this 6-byte header)
//! u8      protocol version (PROTOCOL_VERSION)
//! u8      tag (request kind or response status)
//! ...     payload
//! ```
//!
//! The reader checks the length against the direction's maximum *before* reading the
//! payload, so a frame claiming 4 GB costs the daemon six bytes and a closed connection.

use crate::codec::DecodeError;

/// Bumped on any incompatible change; both sides refuse other versions.
pub const PROTOCOL_VERSION: u8 = 1;

/// Bytes in the fixed frame header.
pub const FRAME_HEADER_LEN: usize = 6;

/// Largest request payload the daemon accepts. A request carries at most one name.
pub const MAX_REQUEST_LEN: u32 = 4096;

/// Largest payload of a `reload` request ([`crate::Request::Reload`]), accepted only
/// from a peer with uid 0: it carries two token files of up to 64 KiB each (the daemon's
/// token file limit) and their state messages. Every other request, and any request from
/// another peer, keeps [`MAX_REQUEST_LEN`].
pub const MAX_PRIVILEGED_REQUEST_LEN: u32 = 160 * 1024;

/// Largest response payload the module accepts. A group of 20,000 members with 32-byte
/// names is about 720 KB (1.4 MB with the 64-byte names the daemon accepts); enumeration
/// pages are bounded well below this.
pub const MAX_RESPONSE_LEN: u32 = 16 * 1024 * 1024;

/// Decoded fixed header of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length following the header.
    pub len: u32,
    /// Message tag.
    pub tag: u8,
}

impl FrameHeader {
    /// Parses a header and checks its version and length against `max_len`.
    pub fn parse(bytes: &[u8; FRAME_HEADER_LEN], max_len: u32) -> Result<Self, DecodeError> {
        let [a, b, c, d, version, tag] = *bytes;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::BadVersion(version));
        }
        let len = u32::from_le_bytes([a, b, c, d]);
        if len > max_len {
            return Err(DecodeError::TooLong);
        }
        Ok(FrameHeader { len, tag })
    }
}

/// Builds a complete frame (header + payload).
pub fn encode_frame(tag: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    let len = payload.len().min(u32::MAX as usize) as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.push(PROTOCOL_VERSION);
    out.push(tag);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let f = encode_frame(7, b"abc");
        let hdr: [u8; FRAME_HEADER_LEN] = f[..FRAME_HEADER_LEN].try_into().unwrap();
        assert_eq!(
            FrameHeader::parse(&hdr, 10).unwrap(),
            FrameHeader { len: 3, tag: 7 }
        );
    }

    #[test]
    fn refuses_oversized_and_wrong_version() {
        let f = encode_frame(1, &[0u8; 11]);
        let hdr: [u8; FRAME_HEADER_LEN] = f[..FRAME_HEADER_LEN].try_into().unwrap();
        assert_eq!(FrameHeader::parse(&hdr, 10), Err(DecodeError::TooLong));
        let huge = [0xff, 0xff, 0xff, 0xff, PROTOCOL_VERSION, 1];
        assert_eq!(
            FrameHeader::parse(&huge, MAX_REQUEST_LEN),
            Err(DecodeError::TooLong)
        );
        let v2 = [0, 0, 0, 0, 99, 1];
        assert_eq!(
            FrameHeader::parse(&v2, 10),
            Err(DecodeError::BadVersion(99))
        );
    }
}
