//! A real `redis-server` frozen with SIGSTOP, as a Redis that hangs: it
//! accepts connections (the kernel does) and answers nothing. Shared by the
//! tests of accounts and search on Redis.

use test_support::process::signal;
use test_support::RedisServer;

/// A frozen `redis-server`; thawed (SIGCONT) when dropped, even when the
/// test fails, so that it can be stopped. One killed while frozen has
/// nothing to thaw.
pub struct Frozen(u32);

impl Frozen {
    /// Freezes `redis`.
    #[track_caller]
    pub fn freeze(redis: &RedisServer) -> Frozen {
        let pid = redis.pid().expect("redis-server is running");
        signal(pid, libc::SIGSTOP);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // SAFETY: kill(2) takes two integers; a process already gone
        // (ESRCH) is fine here.
        unsafe {
            libc::kill(self.0 as libc::pid_t, libc::SIGCONT);
        }
    }
}
