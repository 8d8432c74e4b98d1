//! The daemon's side of the wire: a request frame header (`FrameHeader::parse` with
//! `MAX_REQUEST_LEN`) and `Request::decode`. A request that decodes must survive a
//! round trip through `Request::to_frame`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use workbench_wire::{FrameHeader, Request, FRAME_HEADER_LEN, MAX_REQUEST_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((header, rest)) = data.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return;
    };
    let Ok(h) = FrameHeader::parse(header, MAX_REQUEST_LEN) else {
        return;
    };
    assert!(h.len <= MAX_REQUEST_LEN);
    // The daemon reads exactly `len` bytes; a shorter stream is a closed connection.
    let Some(payload) = rest.get(..h.len as usize) else {
        return;
    };
    let Ok(request) = Request::decode(h.tag, payload) else {
        return;
    };
    let _ = request.wants_shadow();
    let frame = request.to_frame();
    let (header2, payload2) = frame
        .split_first_chunk::<FRAME_HEADER_LEN>()
        .expect("a frame has a header");
    let h2 = FrameHeader::parse(header2, u32::MAX).expect("own header parses");
    assert_eq!(h2.len as usize, payload2.len());
    assert_eq!(Request::decode(h2.tag, payload2).as_ref(), Ok(&request));
});
