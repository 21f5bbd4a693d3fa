//! TLS peers that misbehave, against the real server binary, each with a
//! real rustls client: a key-update flood, records of the largest size in a
//! tight loop, a peer that says close_notify and keeps writing, and a TLS
//! 1.2 renegotiation (sealed with the session's own keys, taken from
//! rustls, since rustls never sends one). In each, the desks beside it are
//! unharmed. (The older cases, garbage after 0x16, half a ClientHello,
//! silent peers, plain text to --require-tls, a desk that does not read,
//! are in `trust.rs`.)

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chat_shared::FingerprintVerifier;
use rustls::crypto::cipher::{
    InboundOpaqueMessage, MessageDecrypter, MessageEncrypter, OutboundChunks, OutboundPlainMessage,
};
use rustls::{
    ClientConfig, ClientConnection, ConnectionTrafficSecrets, ContentType, ProtocolVersion,
    SupportedCipherSuite,
};

use crate::common::tls::{fingerprint_of, pinning};
use crate::common::{cpu_time, server_process, status_kib_field, Client, ServerProcess, TIMEOUT};

/// A TLS server (`--tls` and `args`) and a desk beside it, in the room.
fn server_and_bystander(args: &[&str]) -> (ServerProcess, Client) {
    let mut all = vec!["--tls"];
    all.extend_from_slice(args);
    let server = server_process(&all);
    let mut bob = Client::connect_tls(server.addr(), pinning(fingerprint_of(&server)), "localhost");
    bob.join("bob");
    (server, bob)
}

/// A client config that trusts any certificate (its signatures checked),
/// on the given versions and suites, its keys extractable: what a test
/// needs to seal records rustls itself would not send.
fn raw_config(
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: &[SupportedCipherSuite],
) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !suites.is_empty() {
        provider.cipher_suites = suites.to_vec();
    }
    let verifier = FingerprintVerifier::new(provider.signature_verification_algorithms, |_| Ok(()));
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("supported versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.enable_secret_extraction = true;
    Arc::new(config)
}

/// A rustls client driven by hand over a blocking socket.
struct Peer {
    tls: ClientConnection,
    socket: TcpStream,
    plaintext: Vec<u8>,
}

impl Peer {
    #[track_caller]
    fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> Peer {
        let mut socket = TcpStream::connect(addr).expect("connect");
        socket.set_nodelay(true).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut tls = ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
        tls.set_buffer_limit(None);
        while tls.is_handshaking() {
            tls.complete_io(&mut socket).expect("the handshake");
        }
        Peer {
            tls,
            socket,
            plaintext: Vec::new(),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.socket)?;
        }
        Ok(())
    }

    #[track_caller]
    fn send(&mut self, bytes: &[u8]) {
        self.tls.writer().write_all(bytes).unwrap();
        self.flush().expect("writing to the server");
    }

    /// Reads until the plaintext holds `needle`.
    #[track_caller]
    fn expect(&mut self, needle: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !String::from_utf8_lossy(&self.plaintext).contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {:?}",
                String::from_utf8_lossy(&self.plaintext)
            );
            let read = self
                .tls
                .read_tls(&mut self.socket)
                .expect("reading from the server");
            assert!(read > 0, "the server closed before {needle:?}");
            self.tls
                .process_new_packets()
                .expect("the server's records");
            let _ = self.tls.reader().read_to_end(&mut self.plaintext);
        }
    }

    /// Reads until the connection ends; says how (an alert, close_notify,
    /// EOF or a reset).
    fn until_closed(&mut self) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "the server did not close the connection"
            );
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => return "eof".into(),
                Ok(_) => {}
                Err(e) => return format!("socket: {e}"),
            }
            if let Err(e) = self.tls.process_new_packets() {
                return format!("tls: {e}");
            }
            match self.tls.reader().read(&mut [0u8; 4096]) {
                Ok(0) => return "close_notify".into(),
                _ => continue,
            }
        }
    }
}

/// The bystander still gets answers, promptly.
#[track_caller]
fn still_served(bob: &mut Client) {
    let asked = Instant::now();
    bob.send(b"/ping\n");
    bob.wait_for("PONG", |line| line == "PONG");
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "the bystander waited {:?} for PONG",
        asked.elapsed()
    );
}

#[test]
fn key_updates_are_answered_and_a_flood_of_them_closes_that_desk_only() {
    let (server, mut bob) = server_and_bystander(&[]);
    let mut peer = Peer::connect(server.addr(), raw_config(&[&rustls::version::TLS13], &[]));
    peer.send(b"/ping\n");
    peer.expect("PONG");
    // A desk that updates its keys now and then, asking for ours too
    // (rustls asks), keeps talking.
    for round in 0..40 {
        peer.tls.refresh_traffic_keys().expect("a key update");
        peer.send(b"/ping\n");
        peer.expect(&"PONG\n".repeat(round + 2));
    }
    // Thousands of key updates with nothing between them.
    let cpu_before = cpu_time(server.pid());
    let started = Instant::now();
    for _ in 0..10_000 {
        if peer.tls.refresh_traffic_keys().is_err() || peer.flush().is_err() {
            break;
        }
    }
    let end = peer.until_closed();
    assert!(
        end.contains("UnexpectedMessage") || end == "eof" || end.starts_with("socket"),
        "{end}"
    );
    server.wait_for_log("TooManyKeyUpdateRequests");
    still_served(&mut bob);
    let cpu = (cpu_time(server.pid()) - cpu_before).as_secs_f64();
    assert!(
        cpu < 1.0,
        "the flood cost the server {cpu:.2} s of CPU in {:?}",
        started.elapsed()
    );
}

#[test]
fn records_of_the_largest_size_in_a_tight_loop_are_read_fairly_and_stay_in_step() {
    let (server, mut bob) = server_and_bystander(&[]);
    let addr = server.addr();
    // 48 MiB in full 16 KiB records: one endless line, which the server
    // reads and discards as fast as it can (it answers nothing but one
    // error), while the bystander keeps asking.
    let flood = thread::spawn(move || {
        let mut peer = Peer::connect(addr, raw_config(&[&rustls::version::TLS13], &[]));
        let record = vec![b'x'; 16 * 1024];
        for _ in 0..3 * 1024 {
            peer.send(&record);
        }
        // The end of the line, then a question: its answer means every
        // record before it was opened in order.
        peer.send(b"\n/ping\n");
        peer.expect("PONG");
        peer
    });
    let rss_before = status_kib_field(server.pid(), "VmRSS");
    let mut asked = 0;
    while !flood.is_finished() {
        still_served(&mut bob);
        asked += 1;
        thread::sleep(Duration::from_millis(100));
    }
    let peer = flood.join().expect("the flooding desk");
    let text = String::from_utf8_lossy(&peer.plaintext);
    assert!(
        text.contains("ERR"),
        "expected one error for the endless line: {text:?}"
    );
    assert!(asked > 0);
    let rss_after = status_kib_field(server.pid(), "VmRSS");
    assert!(
        rss_after < rss_before + (16 << 20),
        "the server grew from {rss_before} to {rss_after} bytes while reading 48 MiB"
    );
}

#[test]
fn a_desk_that_says_close_notify_and_keeps_writing_is_closed_and_not_heard() {
    let (server, mut bob) = server_and_bystander(&[]);
    let mut peer = Peer::connect(server.addr(), raw_config(&[&rustls::version::TLS13], &[]));
    peer.send(b"/join carol\n");
    peer.expect("WELCOME");
    peer.send(b"carol<SEP>before goodbye\n");
    bob.expect_msg("carol", "before goodbye");
    peer.tls.send_close_notify();
    peer.flush().unwrap();
    // More after the goodbye: a record no key opens, then plain lines.
    let mut more = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    more.extend_from_slice(&[0xAB; 0x40]);
    more.extend_from_slice(b"carol<SEP>after goodbye\n");
    let _ = peer.socket.write_all(&more);
    let end = peer.until_closed();
    assert!(end == "close_notify" || end == "eof", "{end}");
    bob.wait_for("carol leaving", |line| {
        crate::common::is_leave(line, "carol")
    });
    still_served(&mut bob);
    let (lines, _, _) = bob.drain(Duration::from_millis(300));
    assert!(
        lines.iter().all(|line| !line.contains("after goodbye")),
        "{lines:?}"
    );
    let log = server.log();
    assert!(!log.contains("read error"), "{log}");
}

/// TLS 1.2 keys for one direction, from rustls, as an encrypter or
/// decrypter of the suite.
fn tls12_keys(
    suite: SupportedCipherSuite,
    secrets: ConnectionTrafficSecrets,
) -> (Box<dyn MessageEncrypter>, Box<dyn MessageDecrypter>) {
    let SupportedCipherSuite::Tls12(suite) = suite else {
        panic!("a TLS 1.2 suite");
    };
    let ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } = secrets else {
        panic!("ChaCha20-Poly1305 keys");
    };
    let bytes: [u8; 32] = key.as_ref().try_into().unwrap();
    (
        suite.aead_alg.encrypter(bytes.into(), iv.as_ref(), &[]),
        suite.aead_alg.decrypter(bytes.into(), iv.as_ref()),
    )
}

#[test]
fn a_tls_1_2_renegotiation_is_refused_with_a_warning_then_a_second_one_closes() {
    use rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 as SUITE;

    let (server, mut bob) = server_and_bystander(&[]);
    let config = raw_config(&[&rustls::version::TLS12], &[SUITE]);
    let mut peer = Peer::connect(server.addr(), Arc::clone(&config));
    peer.send(b"/ping\n");
    peer.expect("PONG");
    // A ClientHello as rustls makes one, without its record header.
    let mut hello = Vec::new();
    ClientConnection::new(config, "localhost".try_into().unwrap())
        .unwrap()
        .write_tls(&mut hello)
        .unwrap();
    let hello = hello[5..].to_vec();
    // From here the test seals and opens the records itself.
    let Peer {
        tls, mut socket, ..
    } = peer;
    let secrets = tls.dangerous_extract_secrets().expect("the session's keys");
    let (mut seal, _) = tls12_keys(SUITE, secrets.tx.1);
    let (_, mut open) = tls12_keys(SUITE, secrets.rx.1);
    let (mut send_seq, mut receive_seq) = (secrets.tx.0, secrets.rx.0);
    let mut send = |socket: &mut TcpStream, kind: ContentType, payload: &[u8]| {
        let message = OutboundPlainMessage {
            typ: kind,
            version: ProtocolVersion::TLSv1_2,
            payload: OutboundChunks::Single(payload),
        };
        let record = seal.encrypt(message, send_seq).unwrap().encode();
        send_seq += 1;
        socket.write_all(&record)
    };
    let mut receive = |socket: &mut TcpStream| -> Option<(ContentType, Vec<u8>)> {
        let mut header = [0u8; 5];
        socket.read_exact(&mut header).ok()?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
        socket.read_exact(&mut body).ok()?;
        let kind = ContentType::from(header[0]);
        let record = InboundOpaqueMessage::new(kind, ProtocolVersion::TLSv1_2, &mut body);
        let plain = open
            .decrypt(record, receive_seq)
            .expect("a record of the session");
        receive_seq += 1;
        Some((plain.typ, plain.payload.to_vec()))
    };

    send(&mut socket, ContentType::Handshake, &hello).unwrap();
    let answer = receive(&mut socket).expect("an answer to the renegotiation");
    // A warning: no_renegotiation (100).
    assert_eq!(answer, (ContentType::Alert, vec![1, 100]));
    // And the connection goes on.
    send(&mut socket, ContentType::ApplicationData, b"/ping\n").unwrap();
    let (kind, pong) = receive(&mut socket).expect("an answer to the ping");
    assert_eq!(
        (kind, pong),
        (ContentType::ApplicationData, b"PONG\n".to_vec())
    );
    // A second attempt is one too many.
    send(&mut socket, ContentType::Handshake, &hello).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while receive(&mut socket).is_some() {
        assert!(
            Instant::now() < deadline,
            "still open after a second renegotiation"
        );
    }
    server.wait_for_log("TooManyRenegotiationRequests");
    still_served(&mut bob);
}
