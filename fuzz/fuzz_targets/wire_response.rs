//! The module's side of the wire: a response frame header (`FrameHeader::parse` with
//! `MAX_RESPONSE_LEN`), `Status::from_tag`, and every payload decoder (passwd, group and
//! shadow records, enumeration pages, initgroups gid lists). Whatever decodes must
//! re-encode to something that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use workbench_wire::codec::Writer;
use workbench_wire::record::{decode_gid_list, encode_gid_list};
use workbench_wire::{
    FrameHeader, GroupRecord, ListPage, PasswdRecord, ShadowRecord, Status, FRAME_HEADER_LEN,
    MAX_RESPONSE_LEN,
};

fuzz_target!(|data: &[u8]| {
    if let Some((header, rest)) = data.split_first_chunk::<FRAME_HEADER_LEN>() {
        if let Ok(h) = FrameHeader::parse(header, MAX_RESPONSE_LEN) {
            assert!(h.len <= MAX_RESPONSE_LEN);
            if let Ok(status) = Status::from_tag(h.tag) {
                assert_eq!(status as u8, h.tag);
            }
            if let Some(payload) = rest.get(..h.len as usize) {
                payloads(payload);
            }
        }
    }
    // The payload decoders also on the raw input, so the fuzzer need not find a header.
    payloads(data);
});

fn payloads(p: &[u8]) {
    if let Ok(r) = PasswdRecord::decode(p) {
        let _ = r.string_bytes();
        let mut w = Writer::new();
        r.encode(&mut w);
        assert_eq!(PasswdRecord::decode(&w.buf).as_ref(), Ok(&r));
    }
    if let Ok(r) = GroupRecord::decode(p) {
        let mut w = Writer::new();
        r.encode(&mut w);
        assert_eq!(GroupRecord::decode(&w.buf).as_ref(), Ok(&r));
    }
    if let Ok(r) = ShadowRecord::decode(p) {
        let mut w = Writer::new();
        r.encode(&mut w);
        assert_eq!(ShadowRecord::decode(&w.buf).as_ref(), Ok(&r));
    }
    if let Ok(page) = ListPage::decode(p) {
        let mut w = Writer::new();
        page.encode(&mut w);
        assert_eq!(ListPage::decode(&w.buf).as_ref(), Ok(&page));
    }
    if let Ok(gids) = decode_gid_list(p) {
        let gids: Vec<u32> = gids.collect();
        assert!(gids.len() * 4 < p.len());
        let mut w = Writer::new();
        encode_gid_list(&gids, &mut w);
        let again: Vec<u32> = decode_gid_list(&w.buf).expect("own list").collect();
        assert_eq!(again, gids);
    }
}
