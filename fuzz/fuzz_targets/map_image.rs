//! The module's map reader (`workbench_wire::map`): arbitrary bytes as an image, and a
//! valid image with bytes of the input written over it where the input says (so the
//! fuzzer reaches past the header checks at once). Whatever the bytes: no panic, no
//! out-of-bounds read, no unbounded loop, and a lookup only ever returns an entry whose
//! record carries the key that was asked for.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use workbench_wire::codec::Writer;
use workbench_wire::map::view::{group_gid, group_name, passwd_name, passwd_uid};
use workbench_wire::map::{Builder, MapView, FLAG_ENUMERATE};
use workbench_wire::record::{GroupRecord, PasswdRecord};

fn sample() -> &'static Vec<u8> {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let mut b = Builder::new();
        for i in 0..40u32 {
            let name = format!("user{i}");
            let mut w = Writer::new();
            PasswdRecord {
                name: name.as_bytes(),
                passwd: b"x",
                uid: 1000 + i,
                gid: 2000 + i % 7,
                gecos: b"G",
                dir: b"/home/u",
                shell: b"/bin/sh",
            }
            .encode(&mut w);
            b.add_user(&w.buf, &[2000 + i % 7, 3000], 5 + i)
                .expect("user");
        }
        for j in 0..8u32 {
            let name = format!("grp{j}");
            let mut w = Writer::new();
            GroupRecord {
                name: name.as_bytes(),
                passwd: b"x",
                gid: 2000 + j,
                members: vec![&b"user1"[..], &b"user2"[..]],
            }
            .encode(&mut w);
            b.add_group(&w.buf, 9).expect("group");
        }
        b.finish(7, [1, 2], FLAG_ENUMERATE).expect("image")
    })
}

fn check(image: &[u8]) {
    let Ok(v) = MapView::parse(image) else { return };
    let h = *v.header();
    for i in 0..h.user_count.min(4096) {
        if let Some(u) = v.user_at(i) {
            if let Some(name) = passwd_name(u.record) {
                if let Some(hit) = v.user_by_name(name) {
                    assert_eq!(passwd_name(hit.record), Some(name));
                }
            }
            if let Some(uid) = passwd_uid(u.record) {
                if let Some(hit) = v.user_by_uid(uid) {
                    assert_eq!(passwd_uid(hit.record), Some(uid));
                }
                let _ = v.first_user_after(Some(uid));
            }
            let _ = workbench_wire::map::view::gids(u.gids).count();
        }
    }
    for j in 0..h.group_count.min(4096) {
        if let Some(g) = v.group_at(j) {
            if let Some(name) = group_name(g.record) {
                if let Some(hit) = v.group_by_name(name) {
                    assert_eq!(group_name(hit.record), Some(name));
                }
            }
            if let Some(gid) = group_gid(g.record) {
                if let Some(hit) = v.group_by_gid(gid) {
                    assert_eq!(group_gid(hit.record), Some(gid));
                }
                let _ = v.first_group_after(Some(gid));
            }
        }
    }
    let _ = v.user_by_name(b"user3");
    let _ = v.group_by_gid(2003);
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut image = sample().clone();
    let len = image.len();
    for chunk in data.chunks_exact(5) {
        let at = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize % len;
        image[at] = chunk[4];
    }
    check(&image);
});
