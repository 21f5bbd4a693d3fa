//! Handing freed memory back to the system once a burst is over.
//!
//! glibc's malloc keeps what is freed in its arenas (the loop's, and each
//! helper thread's) for the next allocation, so a crowd that came and went
//! (a resume bomb, stalled handshakes, churn) would keep the process's RSS
//! at its peak. [`HeapKeeper`] watches the memory that is resident but not
//! in use, the allocator's slack, and returns it with `malloc_trim` when it
//! has grown by [`HAND_BACK_AFTER`] since the last trim.
//!
//! Why the slack and not the loop's own counts: the last desks of a crowd,
//! and the replays the storage thread read for them, are freed seconds after
//! the crowd's first departures. Trimming on connections and queue bytes
//! let go left 1 run in 4 of the resume bomb with ~16 MiB free but resident
//! (`malloc_info`: the storage thread's arena), which a trim by hand
//! returned.
//!
//! Its test is `server/tests/heap.rs`, a binary of its own: the slack is
//! the whole process's, which other tests running beside it would move.

/// Slack grown this much since the last trim is handed back.
pub const HAND_BACK_AFTER: usize = 4 << 20;

/// Remembers the slack the last trim could not return.
#[derive(Debug)]
pub struct HeapKeeper {
    /// Resident bytes not in use just after the last trim (code pages,
    /// stacks, fragments between live chunks), or less if it fell since.
    slack_after_trim: usize,
}

impl Default for HeapKeeper {
    fn default() -> HeapKeeper {
        HeapKeeper {
            slack_after_trim: usize::MAX,
        }
    }
}

impl HeapKeeper {
    /// Looks at the slack (once a second, from the loop's sweep) and trims
    /// when it has grown enough. Costs two small reads when it does not.
    pub fn hand_back(&mut self) {
        let Some(slack) = slack() else { return };
        if slack >= self.slack_after_trim.saturating_add(HAND_BACK_AFTER) {
            trim();
            self.slack_after_trim = slack_or(slack);
        } else {
            // Reused slack is memory in use again: what is freed from here
            // on counts towards the next trim.
            self.slack_after_trim = self.slack_after_trim.min(slack);
        }
    }
}

fn slack_or(before: usize) -> usize {
    slack().unwrap_or(before)
}

/// Resident bytes that malloc does not have in use: the slack.
#[cfg(target_env = "gnu")]
pub fn slack() -> Option<usize> {
    // SAFETY: mallinfo2 only reads glibc's own arenas.
    let info = unsafe { libc::mallinfo2() };
    Some(resident_bytes()?.saturating_sub(info.uordblks + info.hblkhd))
}

/// Other allocators give memory back on their own.
#[cfg(not(target_env = "gnu"))]
pub fn slack() -> Option<usize> {
    None
}

/// Returns the free pages of every malloc arena to the system.
#[cfg(target_env = "gnu")]
fn trim() {
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn trim() {}

/// This process's resident set, from `/proc/self/statm`.
#[cfg(target_env = "gnu")]
fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads the system's configuration.
    let page_size = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(pages * page_size)
}
