//! A real `redis-server` frozen with SIGSTOP, as a Redis that hangs: it
//! accepts connections (the kernel does) and answers nothing. Shared by the
//! tests of accounts and search on Redis; the signals go to a process the
//! test started, found by the ID Redis gives in `INFO server`.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::redis::RedisServer;
use crate::common::TIMEOUT;

/// A frozen `redis-server`; thawed (SIGCONT) when dropped, even when the
/// test fails, so that it can be stopped.
pub struct Frozen(i32);

impl Frozen {
    /// Freezes `redis`.
    #[track_caller]
    pub fn freeze(redis: &RedisServer) -> Frozen {
        let pid = redis_pid(redis);
        signal(pid, libc::SIGSTOP);
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.0, libc::SIGCONT);
    }
}

/// Redis's process ID, from `INFO server`.
#[track_caller]
fn redis_pid(redis: &RedisServer) -> i32 {
    let address = redis.url().trim_start_matches("redis://").to_string();
    let mut stream = TcpStream::connect(address).expect("connect to redis-server");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(b"INFO server\r\n").unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&reply);
        let field = text.split("process_id:").nth(1);
        if let Some((pid, _)) = field.and_then(|rest| rest.split_once("\r\n")) {
            return pid.parse().expect("a process ID");
        }
        let n = stream.read(&mut chunk).expect("read INFO");
        assert!(n > 0, "redis-server closed the connection: {text}");
        reply.extend_from_slice(&chunk[..n]);
    }
}

fn signal(pid: i32, signal: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        result,
        0,
        "kill failed: {}",
        std::io::Error::last_os_error()
    );
}
