use super::*;
use crate::codec::Writer;
use crate::record::{GroupRecord, PasswdRecord};

fn passwd(name: &str, uid: u32, gid: u32) -> Vec<u8> {
    let mut w = Writer::new();
    PasswdRecord {
        name: name.as_bytes(),
        passwd: b"x",
        uid,
        gid,
        gecos: b"",
        dir: format!("/home/{name}").as_bytes(),
        shell: b"/bin/bash",
    }
    .encode(&mut w);
    w.buf
}

fn group(name: &str, gid: u32, members: &[&str]) -> Vec<u8> {
    let mut w = Writer::new();
    GroupRecord {
        name: name.as_bytes(),
        passwd: b"x",
        gid,
        members: members.iter().map(|m| m.as_bytes()).collect(),
    }
    .encode(&mut w);
    w.buf
}

const KEY: [u64; 2] = [0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210];

fn sample(n: u32) -> Vec<u8> {
    let mut b = Builder::new();
    // Added out of order: the image sorts by id.
    for i in (0..n).rev() {
        b.add_user(
            &passwd(&format!("user{i}"), 10_000 + i, 20_000 + i),
            &[20_000 + i, 30_000],
            100 + i,
        )
        .unwrap();
        b.add_group(
            &group(&format!("grp{i}"), 20_000 + i, &[&format!("user{i}")]),
            7,
        )
        .unwrap();
    }
    b.add_group(&group("all", 30_000, &["user0", "user1"]), 9)
        .unwrap();
    b.finish(42, KEY, FLAG_ENUMERATE).unwrap()
}

#[test]
fn every_entry_is_found_by_name_and_id_and_nothing_else_is() {
    let image = sample(500);
    let v = MapView::parse(&image).unwrap();
    assert_eq!(v.header().generation, 42);
    for i in 0..500u32 {
        let name = format!("user{i}");
        let by_name = v.user_by_name(name.as_bytes()).unwrap();
        let by_uid = v.user_by_uid(10_000 + i).unwrap();
        assert_eq!(by_name, by_uid);
        assert_eq!(by_name.record, &passwd(&name, 10_000 + i, 20_000 + i)[..]);
        assert_eq!(
            view::gids(by_name.gids).collect::<Vec<_>>(),
            vec![20_000 + i, 30_000]
        );
        let g = v.group_by_name(format!("grp{i}").as_bytes()).unwrap();
        assert_eq!(g, v.group_by_gid(20_000 + i).unwrap());
        assert!(g.need as usize >= 2 * 8 + name.len() + 1 + format!("grp{i}").len() + 1 + 2);
    }
    assert!(v.user_by_name(b"user500").is_none());
    assert!(v.user_by_name(b"USER1").is_none());
    assert!(v.user_by_uid(9_999).is_none());
    assert!(v.group_by_gid(10_000).is_none());
    assert!(v.group_by_name(b"").is_none());
}

#[test]
fn entries_are_in_id_order_with_slots_and_expiries() {
    let image = sample(10);
    let v = MapView::parse(&image).unwrap();
    let uids: Vec<u32> = (0..10)
        .map(|i| view::passwd_uid(v.user_at(i).unwrap().record).unwrap())
        .collect();
    assert_eq!(uids, (10_000..10_010).collect::<Vec<_>>());
    let first = v.user_by_uid(10_003).unwrap();
    assert_eq!(first.slot, 3);
    let expiry_at = EXPIRY_OFFSET + 3 * 4;
    assert_eq!(
        u32::from_le_bytes(image[expiry_at..expiry_at + 4].try_into().unwrap()),
        103
    );
    let all = v.group_by_gid(30_000).unwrap();
    assert_eq!(all.slot, 10 + 10);
    assert_eq!(v.first_user_after(None), 0);
    assert_eq!(v.first_user_after(Some(10_004)), 5);
    assert_eq!(v.first_user_after(Some(99_999)), 10);
    assert_eq!(v.first_group_after(Some(20_009)), 10);
    // Control block zero: not live until the daemon says so.
    assert!(image[CONTROL_OFFSET..CONTROL_OFFSET + 16]
        .iter()
        .all(|b| *b == 0));
}

#[test]
fn duplicates_are_refused() {
    let mut b = Builder::new();
    b.add_user(&passwd("a", 1000, 1000), &[], 1).unwrap();
    b.add_user(&passwd("a", 1001, 1000), &[], 1).unwrap();
    assert_eq!(b.finish(1, KEY, 0), Err(BuildError::Duplicate("user name")));
    let mut b = Builder::new();
    b.add_group(&group("g", 5, &[]), 1).unwrap();
    b.add_group(&group("h", 5, &[]), 1).unwrap();
    assert_eq!(b.finish(1, KEY, 0), Err(BuildError::Duplicate("gid")));
}

#[test]
fn an_empty_directory_is_an_image() {
    let image = Builder::new().finish(1, KEY, 0).unwrap();
    let v = MapView::parse(&image).unwrap();
    assert!(v.user_by_name(b"x").is_none());
    assert!(v.group_by_gid(1).is_none());
    assert_eq!(v.first_user_after(Some(3)), 0);
}

#[test]
fn damaged_headers_are_refused() {
    let image = sample(20);
    let len = image.len() as u64;
    assert!(Header::parse(&image, len).is_ok());
    assert_eq!(
        Header::parse(&image, len + 1).unwrap_err(),
        MapError::BadLayout("image size")
    );
    assert_eq!(
        Header::parse(&image[..4], len).unwrap_err(),
        MapError::Truncated
    );
    let mut bad = image.clone();
    bad[0] = b'X';
    assert_eq!(Header::parse(&bad, len).unwrap_err(), MapError::BadMagic);
    let mut bad = image.clone();
    bad[8] = 9;
    assert_eq!(
        Header::parse(&bad, len).unwrap_err(),
        MapError::BadVersion(9)
    );
    // Every single header field changed to a huge value: refused or still consistent.
    for at in (16..HEADER_LEN).step_by(4) {
        let mut bad = image.clone();
        bad[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        if let Ok(h) = Header::parse(&bad, len) {
            let v = MapView::new(h, &bad[h.data_off as usize..]).unwrap();
            let _ = v.user_by_name(b"user3");
            let _ = v.group_by_gid(20_003);
        }
    }
}

#[test]
fn corrupt_data_never_panics() {
    let image = sample(50);
    let h = Header::parse(&image, image.len() as u64).unwrap();
    let data_off = h.data_off as usize;
    // Flip bytes all over the data area and look everything up.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        let mut bad = image.clone();
        for _ in 0..8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = data_off + (state as usize) % (bad.len() - data_off);
            bad[at] = (state >> 32) as u8;
        }
        let v = MapView::parse(&bad).unwrap();
        for i in 0..50u32 {
            let _ = v.user_by_name(format!("user{i}").as_bytes());
            let _ = v.user_by_uid(10_000 + i);
            let _ = v.group_by_name(format!("grp{i}").as_bytes());
            let _ = v.group_at(i);
            let _ = v.first_group_after(Some(20_000 + i));
        }
    }
}

#[test]
fn keys_differ_per_generation() {
    let a = hash::keyed(KEY, b"alice");
    let b = hash::keyed([KEY[0] ^ 1, KEY[1]], b"alice");
    assert_ne!(a, b);
    assert_eq!(
        hash::keyed_id(KEY, 7),
        hash::keyed(KEY, &7u32.to_le_bytes())
    );
}
