use super::*;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The unkeyed multiply-rotate hasher `FastMap` used before it was keyed:
/// the reference the crafted names collide under.
#[derive(Default)]
struct Unkeyed(u64);

const MULTIPLIER: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Unkeyed {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for Unkeyed {
    fn write(&mut self, bytes: &[u8]) {
        self.add(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn unkeyed<T: Hash + ?Sized>(t: &T) -> u64 {
    BuildHasherDefault::<Unkeyed>::default().hash_one(t)
}

/// `n` distinct printable 24-byte names that all hash alike under
/// [`Unkeyed`]: a 16-byte prefix that counts (in hex), then the 8-byte word that
/// brings the state to one fixed value, solved for (the multiplier is odd,
/// so it has an inverse) and kept when its bytes are printable ASCII (about
/// one prefix in 2,800).
fn colliding_names(n: usize) -> Vec<String> {
    let mut inverse = MULTIPLIER;
    for _ in 0..6 {
        inverse = inverse.wrapping_mul(2u64.wrapping_sub(MULTIPLIER.wrapping_mul(inverse)));
    }
    assert_eq!(MULTIPLIER.wrapping_mul(inverse), 1);
    // The state after the last word is `target`: the word is then
    // `rotl(state before, 5) ^ target / MULTIPLIER`.
    let target: u64 = 0x0123_4567_89ab_cdef;
    let wanted = target.wrapping_mul(inverse);
    let mut names = Vec::with_capacity(n);
    // The counter's low digit comes first: the first word's low bytes
    // change, and a multiplication spreads a change to higher bits only.
    let mut prefix = *b"00000000-crafted";
    for i in 0u64.. {
        if names.len() == n {
            break;
        }
        for (k, b) in prefix[..8].iter_mut().enumerate() {
            *b = b"0123456789abcdef"[((i >> (4 * k)) & 15) as usize];
        }
        let mut h = Unkeyed::default();
        h.add(24);
        h.add(u64::from_le_bytes(prefix[..8].try_into().expect("8 bytes")));
        h.add(u64::from_le_bytes(prefix[8..].try_into().expect("8 bytes")));
        let word = (h.0.rotate_left(5) ^ wanted).to_le_bytes();
        if word.iter().all(|b| (0x20..0x7f).contains(b)) {
            let mut name = prefix.to_vec();
            name.extend_from_slice(&word);
            names.push(String::from_utf8(name).expect("printable ASCII"));
        }
    }
    names
}

#[test]
fn crafted_names_share_one_unkeyed_hash() {
    let names = colliding_names(64);
    let first = unkeyed(names[0].as_str());
    for name in &names {
        assert_eq!(name.len(), 24);
        assert!(name.bytes().all(|b| (0x20..0x7f).contains(&b)), "{name:?}");
        assert_eq!(unkeyed(name.as_str()), first, "{name:?}");
    }
    let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), names.len());
}

/// The crafted names spread over a `FastMap`'s buckets like any names: no
/// two share a hash, and no bucket of a table their size holds more than a
/// dozen (all of them share one bucket under the unkeyed hash, so every
/// lookup probed past every earlier name).
#[test]
fn crafted_names_do_not_collide_in_a_fast_map() {
    let names = colliding_names(512);
    for _ in 0..4 {
        let map: FastMap<&str, ()> = FastMap::default();
        let hashes: Vec<u64> = names
            .iter()
            .map(|n| map.hasher().hash_one(n.as_str()))
            .collect();
        let distinct: std::collections::BTreeSet<u64> = hashes.iter().copied().collect();
        assert_eq!(distinct.len(), names.len(), "names with equal hashes");
        let mut buckets = vec![0u32; names.len()];
        for h in &hashes {
            buckets[(*h as usize) % names.len()] += 1;
        }
        let fullest = buckets.iter().copied().max().unwrap_or(0);
        assert!(
            fullest <= 12,
            "{fullest} names in one of {} buckets",
            names.len()
        );
    }
}

#[test]
fn two_maps_hash_differently() {
    let a: FastMap<&str, ()> = FastMap::default();
    let b: FastMap<&str, ()> = FastMap::default();
    assert_ne!(
        a.hasher().hash_one("payments-api"),
        b.hasher().hash_one("payments-api")
    );
    assert_ne!(a.hasher().hash_one(7u32), b.hasher().hash_one(7u32));
}

#[test]
fn equal_keys_hash_equal_and_near_keys_differ() {
    let m: FastMap<&str, u32> = FastMap::default();
    let hash = |t: &dyn Fn(&mut FoldHasher<'static>)| {
        let mut h = m.hasher().build_hasher();
        t(&mut h);
        h.finish()
    };
    assert_eq!(
        hash(&|h| "payments-api".hash(h)),
        hash(&|h| "payments-api".to_string().hash(h))
    );
    assert_ne!(
        hash(&|h| "payments-api".hash(h)),
        hash(&|h| "payments-apj".hash(h))
    );
    assert_ne!(hash(&|h| "a".hash(h)), hash(&|h| "a\0".hash(h)));
    let mut m = m;
    m.insert("x", 1);
    assert_eq!(m.get("x"), Some(&1));
}
