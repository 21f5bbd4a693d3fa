//! `chat_server::heap` against the real allocator. A binary of its own, with
//! one test: the slack is the whole process's, and tests running beside it
//! in one process would move it.

use chat_server::heap::{slack, HeapKeeper};

#[test]
fn freed_memory_is_handed_back() {
    let mut keeper = HeapKeeper::default();
    keeper.hand_back();
    let settled = slack().expect("glibc reports its slack");
    // 64 MiB touched in 64 KiB pieces (below malloc's mmap threshold),
    // then every other one freed: between live pieces, the freed ones stay
    // in the arena's bins instead of shrinking its top.
    let mut pieces: Vec<Option<Vec<u8>>> = (0..1024).map(|_| Some(vec![1u8; 64 << 10])).collect();
    for piece in pieces.iter_mut().step_by(2) {
        *piece = None;
    }
    let grown = slack().expect("glibc reports its slack");
    assert!(
        grown >= settled + (16 << 20),
        "slack {grown} after freeing 32 MiB, {settled} before"
    );
    keeper.hand_back();
    let after = slack().expect("glibc reports its slack");
    assert!(
        after + (16 << 20) <= grown,
        "slack {after} after the trim, {grown} before"
    );
    drop(pieces);
}
