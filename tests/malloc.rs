//! The allocator's settings for `seg build` / `seg check`
//! (`driver::share_arenas`): a large block is taken from the system on its
//! own and given back when freed, whatever larger blocks came before.

/// glibc, left to itself, raises its threshold for blocks of their own to
/// the size of each such block freed: the next large lists would then be
/// carved from the arenas, where their holes stay resident.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_large_block_stays_a_block_of_its_own_after_a_larger_one_is_freed() {
    seg::driver::share_arenas();
    let larger = vec![1u8; 8 << 20];
    drop(std::hint::black_box(larger));
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let before = unsafe { libc::mallinfo2() }.hblks;
    let large = std::hint::black_box(vec![1u8; 1 << 20]);
    // SAFETY: as above.
    let during = unsafe { libc::mallinfo2() }.hblks;
    drop(large);
    assert_eq!(
        during,
        before + 1,
        "the 1 MiB list was carved from an arena"
    );
}
