//! The index hash: SipHash-2-4 keyed with the generation's random key, so that nobody
//! who chooses names or ids in the directory can make probes long (HashDoS).

/// Hash of `bytes` under `key`.
// `core::hash::SipHasher` is deprecated only in favour of `DefaultHasher`, whose
// algorithm is unspecified; the image needs one fixed algorithm on both sides, and this
// one is documented as SipHash-2-4.
#[allow(deprecated)]
pub fn keyed(key: [u64; 2], bytes: &[u8]) -> u64 {
    use core::hash::Hasher;
    let mut h = core::hash::SipHasher::new_with_keys(key[0], key[1]);
    h.write(bytes);
    h.finish()
}

/// Hash of a uid or gid.
pub fn keyed_id(key: [u64; 2], id: u32) -> u64 {
    keyed(key, &id.to_le_bytes())
}
