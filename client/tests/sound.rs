//! The notification sound, headless. An ALSA config (given to the client
//! through `ALSA_CONFIG_PATH`, never touching the user's files) makes the
//! default device a `file` plugin that records every frame as 8 kHz mono
//! S16_LE into a temp file, so a test can count what was played. With an
//! empty config there is no device at all, and the bell must stand in.
//!
//! ALSA's `null` sink is not paced in real time: while a client holds the
//! device open it spins a CPU and the capture grows fast. So these tests run
//! one at a time, stay short, and delete their files.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{join, settle, start_server, Client, ClientBuilder, TempDir};

/// One audio test at a time: each spins a CPU, and the burst test needs the
/// machine responsive enough to deliver 50 lines inside the chime interval.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The capture rate set in the config below.
const CAPTURE_RATE_HZ: usize = 8000;

/// Silence longer than this separates two sounds (the chime itself has no
/// gap; a sine's zero crossings last a sample or two).
const GAP_SAMPLES: usize = CAPTURE_RATE_HZ / 20;

/// One chime is about 210 ms long.
const CHIME_SAMPLES: usize = CAPTURE_RATE_HZ * 210 / 1000;

/// The chime's tones are played at a quarter of full scale, so one chime
/// peaks near 0.25; chimes started together add up (two reach about 0.5),
/// which a count of separate sounds alone would miss.
const ONE_CHIME_PEAK_MAX: f64 = 0.4;

/// A temp dir holding an ALSA config whose default device records to
/// `raw` in the temp dir.
struct Capture {
    /// Removed, with the capture in it, when the test ends.
    _dir: TempDir,
    config: PathBuf,
    raw: PathBuf,
}

impl Capture {
    fn new(label: &str) -> Capture {
        let dir = TempDir::new(label);
        let raw = dir.path().join("capture.raw");
        let config = dir.path().join("capture.conf");
        let text = format!(
            r#"pcm.!default {{
    type plug
    slave {{
        pcm {{
            type file
            slave.pcm {{ type null }}
            file "{}"
            format "raw"
        }}
        format S16_LE
        rate {CAPTURE_RATE_HZ}
        channels 1
    }}
}}
"#,
            raw.display()
        );
        fs::write(&config, text).expect("write ALSA config");
        Capture {
            _dir: dir,
            config,
            raw,
        }
    }

    fn config_path(&self) -> String {
        self.config.display().to_string()
    }

    /// The recorded samples; empty if nothing was recorded.
    fn samples(&self) -> Vec<i16> {
        let bytes = fs::read(&self.raw).unwrap_or_default();
        bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect()
    }
}

/// Lengths (first non-zero to last non-zero sample) of the sounds in
/// `samples`, where a sound ends at [`GAP_SAMPLES`] of silence.
fn sound_lengths(samples: &[i16]) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut current: Option<(usize, usize)> = None; // (start, last non-zero)
    for (i, &sample) in samples.iter().enumerate() {
        if sample == 0 {
            continue;
        }
        current = match current {
            Some((start, last)) if i - last <= GAP_SAMPLES => Some((start, i)),
            Some((start, last)) => {
                lengths.push(last - start + 1);
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some((start, last)) = current {
        lengths.push(last - start + 1);
    }
    lengths
}

/// The loudest sample, as a fraction of full scale.
fn peak(samples: &[i16]) -> f64 {
    let loudest = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    f64::from(loudest) / f64::from(i16::MAX)
}

fn describe(samples: &[i16]) -> String {
    format!(
        "{} samples, {} non-zero, sounds {:?}, peak {:.3}",
        samples.len(),
        samples.iter().filter(|&&s| s != 0).count(),
        sound_lengths(samples),
        peak(samples)
    )
}

/// Starts bob with sound on (not muted) and ALSA reading `alsa_config`,
/// without waiting for anything: each test checks what comes first.
fn bob_with_sound(addr: SocketAddr, alsa_config: &str) -> Client {
    ClientBuilder::new("bob", addr)
        .name("bob")
        .sound()
        .env("ALSA_CONFIG_PATH", alsa_config)
        .spawn()
}

#[test]
fn sound_lengths_splits_at_silence() {
    let mut samples = vec![0i16; 10];
    samples.extend([5, -5, 0, 7]);
    samples.extend(vec![0; GAP_SAMPLES + 1]);
    samples.extend([3, 3]);
    assert_eq!(sound_lengths(&samples), vec![4, 2]);
    assert_eq!(sound_lengths(&[0, 0]), Vec::<usize>::new());
}

#[test]
fn a_message_from_someone_else_chimes_once() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let capture = Capture::new("chime");
    let server = start_server(20);
    let mut bob = bob_with_sound(server.addr(), &capture.config_path());
    bob.expect("You are bob");
    let mut alice = join("alice", server.addr());
    alice.send("ding?");
    bob.expect("alice: ding?");
    settle();
    bob.send("q");
    bob.expect_exit_code(0);
    alice.send("q");

    let samples = capture.samples();
    let sounds = sound_lengths(&samples);
    assert_eq!(sounds.len(), 1, "{}", describe(&samples));
    assert!(
        sounds[0] > CHIME_SAMPLES / 2 && sounds[0] < CHIME_SAMPLES * 3 / 2,
        "one chime is about {CHIME_SAMPLES} samples: {}",
        describe(&samples)
    );
    assert!(
        peak(&samples) < ONE_CHIME_PEAK_MAX,
        "louder than one chime: {}",
        describe(&samples)
    );
    assert!(
        !bob.stdout().contains("No audio device"),
        "{}",
        bob.stdout()
    );
    assert!(!bob.stdout().contains('\x07'), "a device, so no bell");
    assert!(!bob.stderr().contains("ALSA"), "{}", bob.stderr());
}

#[test]
fn own_lines_and_history_do_not_chime() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let capture = Capture::new("quiet");
    let server = start_server(20);
    let mut alice = join("alice", server.addr());
    alice.send("old news");
    alice.expect("alice: old news");

    let mut bob = bob_with_sound(server.addr(), &capture.config_path());
    bob.expect("Recent messages");
    bob.expect("alice: old news");
    bob.expect("You are bob");
    bob.send("my own line");
    bob.expect("bob: my own line");
    settle();
    bob.send("q");
    bob.expect_exit_code(0);
    alice.send("q");

    let samples = capture.samples();
    // The device was open and recorded (silence); otherwise "no sound"
    // would prove nothing.
    assert!(!samples.is_empty(), "nothing recorded at all");
    assert!(
        samples.iter().all(|&s| s == 0),
        "expected silence: {}",
        describe(&samples)
    );
}

#[test]
fn a_burst_of_fifty_messages_gives_one_chime() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let capture = Capture::new("burst");
    let server = start_server(20);
    let mut bob = bob_with_sound(server.addr(), &capture.config_path());
    bob.expect("You are bob");
    let mut alice = join("alice", server.addr());

    let started = Instant::now();
    for i in 0..50 {
        alice.send(&format!("burst {i}"));
    }
    bob.expect("alice: burst 49");
    let took = started.elapsed();
    // The client allows one chime per 2 s; a burst slower than that may
    // rightly chime twice, and this test would prove nothing.
    assert!(
        took < Duration::from_millis(1500),
        "the burst took {took:?}; machine too busy for this test"
    );
    settle();
    bob.send("q");
    bob.expect_exit_code(0);
    alice.send("q");

    let samples = capture.samples();
    let sounds = sound_lengths(&samples);
    assert_eq!(sounds.len(), 1, "{}", describe(&samples));
    assert!(
        peak(&samples) < ONE_CHIME_PEAK_MAX,
        "chimes on top of each other: {}",
        describe(&samples)
    );
    let non_zero = samples.iter().filter(|&&s| s != 0).count();
    assert!(
        non_zero < CHIME_SAMPLES * 3 / 2,
        "more sound than one chime: {}",
        describe(&samples)
    );
}

#[test]
fn without_a_device_the_bell_rings_and_the_chat_goes_on() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("nodevice");
    let empty = dir.path().join("empty.conf");
    fs::write(&empty, "").expect("write empty ALSA config");
    let server = start_server(20);
    let mut bob = bob_with_sound(server.addr(), &empty.display().to_string());
    bob.expect("[!] No audio device (");
    bob.expect("using the terminal bell.");
    bob.expect("You are bob");
    let mut alice = join("alice", server.addr());
    assert!(!bob.stdout().contains('\x07'), "no bell before a message");

    alice.send("first");
    bob.expect("alice: first");
    bob.expect("\x07");
    for i in 0..10 {
        alice.send(&format!("more {i}"));
    }
    bob.expect("alice: more 9");
    bob.send("can still chat");
    alice.expect("bob: can still chat");
    settle();
    bob.send("q");
    bob.expect_exit_code(0);
    alice.send("q");

    let out = bob.stdout();
    assert_eq!(out.matches("No audio device").count(), 1, "{out}");
    assert_eq!(
        out.matches('\x07').count(),
        1,
        "a quick run of messages rings once: {out:?}"
    );
    let err = bob.stderr();
    assert!(!err.contains("ALSA lib"), "{err}");
    assert!(err.trim().is_empty(), "nothing on stderr: {err}");
}
