//! The hash maps of the checker (identity names, attribute values, mapping
//! keys, memoised predicates) and of the backends (port sets, lists of rule
//! numbers, set texts, address sets) and of the flow readers and `seg audit`
//! (names and addresses a remote peer chooses): fast on short keys, and keyed.
//!
//! Their keys come from the inventory and the policy, which are often
//! exported from a cluster or a cloud account where many people can name
//! things. An unkeyed hash lets such a name be chosen so that thousands of
//! names share one hash, and each lookup then walks all of them: 80,000
//! crafted names once made `seg check` take seconds instead of milliseconds.
//! So every map hashes with [foldhash](https://github.com/orlp/foldhash)
//! (the default hasher of `hashbrown`) keyed twice: by a secret drawn once
//! per process from std's [`RandomState`] (the operating system's random
//! source), and by a seed of its own per map, so that no list of names
//! collides in every run and moving one map's keys into another cannot go
//! quadratic. Seg reveals no hash, so the secret cannot be learnt from its
//! output. It costs 0.2–0.5 % more instructions per build than the unkeyed
//! multiply-rotate hasher it replaced (callgrind, pairs job at 10k rules),
//! below the noise of a build's time, so the few maps keyed by numbers the
//! program assigns itself use it too rather than keep an unkeyed path.
//!
//! The price of the key: iteration order changes from run to run. No output
//! may depend on such a map's iteration order: read them by key only, or
//! sort what is taken out of them (a `BTreeMap`, or an `IndexMap` with this
//! hasher, when order matters).

use foldhash::SharedSeed;
use foldhash::fast::{FoldHasher, SeedableRandomState};
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

/// A [`HashMap`] hashed with [`FastState`].
pub type FastMap<K, V> = HashMap<K, V, FastState>;

/// The [`BuildHasher`] of [`FastMap`]: foldhash keyed by the process's
/// secret and a seed of its own (see the module documentation).
#[derive(Clone, Debug)]
pub struct FastState(SeedableRandomState);

impl Default for FastState {
    #[inline]
    fn default() -> Self {
        FastState(SeedableRandomState::with_seed(map_seed(), process_secret()))
    }
}

impl BuildHasher for FastState {
    type Hasher = FoldHasher<'static>;

    #[inline]
    fn build_hasher(&self) -> FoldHasher<'static> {
        self.0.build_hasher()
    }
}

/// The secret of this process, drawn on first use from std's `RandomState`
/// (whose keys come from the operating system's random source).
fn process_secret() -> &'static SharedSeed {
    static SECRET: OnceLock<SharedSeed> = OnceLock::new();
    SECRET.get_or_init(|| SharedSeed::from_u64(RandomState::new().hash_one(0x5e6_u64)))
}

/// A different seed for every map made on this thread (a Weyl sequence
/// from a random start; threads start apart).
#[inline]
fn map_seed() -> u64 {
    thread_local! {
        static NEXT: Cell<u64> = Cell::new(RandomState::new().hash_one(0x5e7_u64));
    }
    NEXT.with(|next| {
        let seed = next.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        next.set(seed);
        seed
    })
}

#[cfg(test)]
mod tests;
