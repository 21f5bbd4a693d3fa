//! The slow-reader run against the real chat-server (in-process, port 0). A
//! test binary of its own: whether the server drops the slow clients within
//! the run, and only them, depends on the other readers keeping up, which a
//! debug build does not when other tests share the cores (cargo runs test
//! binaries one after the other, the tests inside one in parallel).

mod common;

use chat_server::Config as ServerConfig;
use common::{assert_complete_delivery, load, quiet_server, start_server};

#[test]
fn slow_readers_are_dropped_and_others_unharmed() {
    // No rate limit, so a few senders can push more at the slow clients than
    // the kernel's socket buffers (up to 4 MiB on loopback) and the server's
    // queue hold together. A queue of 4 MiB, not the default 256 KiB, lets
    // the other readers, a debug build on shared cores, fall a second or so
    // behind without being taken for slow ones.
    let server = start_server(ServerConfig {
        rate_limit: None,
        max_queue_bytes: 4 * 1024 * 1024,
        ..quiet_server()
    });
    let report = load(
        &server,
        &[
            "slow",
            "-n",
            "20",
            "--slow",
            "2",
            "--slow-rcvbuf",
            "4096",
            "--senders",
            "10",
            "--rate",
            "60",
            "--payload",
            "4000",
            "-d",
            "6",
        ],
    );
    assert_complete_delivery(&report);
    let slow = report.slow.as_ref().expect("slow section");
    assert_eq!(slow.slow_clients, 2);
    assert_eq!(slow.slow_dropped, 2, "{report:#?}");
}

/// A slow reader the server keeps (its queue may hold everything sent) is
/// not reported dropped: the check's `/ping` to a quiet reader gets no
/// reset from a server still serving it.
#[test]
fn a_slow_reader_the_server_keeps_is_not_reported_dropped() {
    let server = start_server(ServerConfig {
        max_queue_bytes: 64 * 1024 * 1024,
        ..quiet_server()
    });
    let report = load(
        &server,
        &[
            "slow",
            "-n",
            "6",
            "--slow",
            "1",
            "--slow-rcvbuf",
            "4096",
            "--senders",
            "3",
            "--rate",
            "20",
            "--payload",
            "2000",
            "-d",
            "3",
        ],
    );
    assert_complete_delivery(&report);
    let slow = report.slow.as_ref().expect("slow section");
    assert_eq!(slow.slow_clients, 1);
    assert_eq!(slow.slow_dropped, 0, "{report:#?}");
}
