//! chat-load's TLS clients and its spreading over several addresses,
//! against the real chat-server (in-process, port 0). A test binary of its
//! own: cargo runs test binaries one after the other, so these handshakes do
//! not take CPU from the timing-sensitive slow-reader test.

mod common;

use chat_load::{parse_args, run};
use chat_server::Config as ServerConfig;
use common::{assert_complete_delivery, load, quiet_server, start_server};

/// The same, taking TLS and plain on one port, a certificate made at start.
fn tls_server() -> ServerConfig {
    ServerConfig {
        tls: Some(chat_server::config::Tls {
            files: None,
            required: false,
        }),
        ..quiet_server()
    }
}

#[test]
fn tls_fanout_delivers_everything_and_times_the_handshakes() {
    let server = start_server(tls_server());
    let report = load(
        &server,
        &[
            "fanout",
            "--tls",
            "-n",
            "100",
            "--senders",
            "10",
            "--rate",
            "2",
            "-d",
            "2",
        ],
    );
    assert_complete_delivery(&report);
    assert!(report.tls);
    let handshakes = report.tls_handshake_us.expect("handshakes were timed");
    assert_eq!(handshakes.count, 100);
    let order = report.order.expect("the order was checked");
    assert_eq!((order.receivers, order.receivers_differing), (100, 0));
}

#[test]
fn tls_hold_keeps_every_client_alive() {
    let server = start_server(tls_server());
    let report = load(&server, &["hold", "--tls", "-n", "200", "-d", "1"]);
    assert_complete_delivery(&report);
    assert_eq!(report.hold.map(|h| h.alive), Some(200));
}

#[test]
fn clients_spread_over_addresses_see_one_order() {
    let server = start_server(quiet_server());
    // The same server twice: round robin over two entries, one room.
    let addr = server.addr().to_string();
    let both = format!("{addr},{addr}");
    let config = parse_args(&[
        "fanout",
        "-n",
        "100",
        "--senders",
        "10",
        "--rate",
        "4",
        "-d",
        "2",
        "--addr",
        &both,
        "--quiet",
    ])
    .expect("test flags are valid");
    let report = run(&config).expect("the run completes");
    assert_complete_delivery(&report);
    let order = report.order.expect("the order was checked");
    assert_eq!(order.servers, 2);
    assert_eq!(order.receivers, 100);
    assert_eq!(order.receivers_differing, 0, "{order:?}");
    assert_eq!(order.unchecked, 0);
}
