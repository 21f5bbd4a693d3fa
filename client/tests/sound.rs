//! The notification sound, headless. An ALSA config (given to the client
//! through `ALSA_CONFIG_PATH`, never touching the user's files) makes the
//! default device a `file` plugin that records every frame as 8 kHz mono
//! S16_LE into a temp file, so a test can count what was played. With an
//! empty config there is no device at all, and the bell must stand in.
//!
//! ALSA's `null` sink is not paced in real time: while a client holds the
//! device open it spins a CPU and the capture grows fast. So these tests run
//! one at a time, stay short, and delete their files.
//!
//! The client prints nothing when it plays, so the capture is the witness:
//! a test waits (bounded by [`SOUND_WAIT`]) for the chime to be recorded,
//! and for the capture to run well past the last line shown before judging
//! silence. A device that kept recording silence long after the message
//! means the client did not play, and fails. A test is skipped (with
//! `skipped: REASON` on stderr) only when the machine cannot show either
//! way: alsa-lib itself cannot record through the config, or the capture
//! stalled while the load average was very high.

mod common;

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{join, run_to_end, settle, start_server, Client, ClientBuilder, TempDir};

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

/// How long a test waits for the capture to show what it needs: generous,
/// for a loaded machine; unloaded it takes milliseconds.
const SOUND_WAIT: Duration = Duration::from_secs(25);

/// How often those waits look at the capture.
const CAPTURE_POLL: Duration = Duration::from_millis(20);

/// How far (5 s of audio) the capture must run past a moment before it
/// holds everything the client could have started playing by then. ALSA's
/// and cpal's buffers hold far less; and the `null` sink records this much
/// in milliseconds.
const PLAY_MARGIN_SAMPLES: usize = CAPTURE_RATE_HZ * 5;

/// A stalled capture is the machine's fault, not the client's, only when
/// the 1-minute load average is at least this many times the CPU count.
const VERY_BUSY_LOAD_PER_CPU: f64 = 2.0;

/// Set (to the probe's capture config) when this test binary is run again
/// as the ALSA probe; see [`alsa_probe_tone`].
const PROBE_ENV: &str = "CHAT_CLIENT_TEST_ALSA_PROBE";

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
        self.samples_from(0)
    }

    /// The recorded samples from index `start` on (the capture only grows).
    fn samples_from(&self, start: usize) -> Vec<i16> {
        let mut bytes = Vec::new();
        if let Ok(mut file) = File::open(&self.raw) {
            let _ = file
                .seek(SeekFrom::Start(2 * start as u64))
                .and_then(|_| file.read_to_end(&mut bytes));
        }
        bytes
            .chunks_exact(2)
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect()
    }

    /// How many samples are recorded so far.
    fn len(&self) -> usize {
        fs::metadata(&self.raw).map_or(0, |meta| meta.len() as usize / 2)
    }
}

/// Why a test cannot judge the client on this machine.
struct Skip(String);

/// Ends the test early with `skipped: REASON` on stderr if `$wait` says
/// the machine cannot judge the client.
macro_rules! or_skip {
    ($wait:expr) => {
        match $wait {
            Ok(value) => value,
            Err(Skip(reason)) => {
                eprintln!("skipped: {reason}");
                return;
            }
        }
    };
}

/// "load L on N CPUs", and whether that is very busy (see
/// [`VERY_BUSY_LOAD_PER_CPU`]); not busy if the load cannot be read.
fn machine_load() -> (String, bool) {
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let load = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<f64>().ok());
    match load {
        Some(load) => (
            format!("1-minute load average {load:.2} on {cpus} CPUs"),
            load >= VERY_BUSY_LOAD_PER_CPU * cpus as f64,
        ),
        None => (format!("load average unknown, {cpus} CPUs"), false),
    }
}

/// The verdict when the capture stopped short of what a test needs:
/// skipped if the machine is very busy, a failure otherwise.
#[track_caller]
fn capture_stalled(what: &str, capture: &Capture, bob: &Client) -> Skip {
    let (load, very_busy) = machine_load();
    let got = format!(
        "the capture stopped at {} samples within {SOUND_WAIT:?} ({load})",
        capture.len()
    );
    if very_busy {
        return Skip(format!("{what}: {got}; the machine is too busy to record"));
    }
    panic!(
        "{what}: expected the open device to keep recording, got {got}\n\
         --- bob's stdout ---\n{}\n--- bob's stderr ---\n{}",
        bob.stdout(),
        bob.stderr()
    );
}

/// Waits until the capture holds at least `len` samples.
#[track_caller]
fn wait_for_capture_len(capture: &Capture, bob: &Client, len: usize) -> Result<(), Skip> {
    let deadline = Instant::now() + SOUND_WAIT;
    while capture.len() < len {
        if Instant::now() >= deadline {
            return Err(capture_stalled(
                &format!("waiting for {len} samples"),
                capture,
                bob,
            ));
        }
        thread::sleep(CAPTURE_POLL);
    }
    Ok(())
}

/// Waits until whatever bob could have started playing for the lines shown
/// so far is recorded: [`settle`] (the reader rings right after printing),
/// then until the capture has run [`PLAY_MARGIN_SAMPLES`] past `from`,
/// taken when the last of those lines was shown (or later).
#[track_caller]
fn wait_until_recorded(capture: &Capture, bob: &Client, from: usize) -> Result<(), Skip> {
    settle();
    wait_for_capture_len(capture, bob, from + PLAY_MARGIN_SAMPLES)
}

/// Waits for the first sound in the capture from sample `from` on, which
/// should follow a message bob showed when the capture held `shown_at`
/// samples; returns where it starts. If none comes within [`SOUND_WAIT`]: a
/// device that recorded on well past the message means bob did not play, a
/// failure; a capture that stalled is the machine's fault only if it is
/// very busy.
#[track_caller]
fn wait_for_sound(
    capture: &Capture,
    bob: &Client,
    from: usize,
    shown_at: usize,
) -> Result<usize, Skip> {
    let deadline = Instant::now() + SOUND_WAIT;
    let mut silent_up_to = from;
    loop {
        let new = capture.samples_from(silent_up_to);
        if let Some(i) = new.iter().position(|&s| s != 0) {
            return Ok(silent_up_to + i);
        }
        silent_up_to += new.len();
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(CAPTURE_POLL);
    }
    if silent_up_to >= shown_at + PLAY_MARGIN_SAMPLES {
        panic!(
            "expected a chime for the message shown at sample {shown_at}, got \
             {silent_up_to} silent samples in {SOUND_WAIT:?}: the device was \
             playing, the client did not play the chime\n\
             --- bob's stdout ---\n{}\n--- bob's stderr ---\n{}",
            bob.stdout(),
            bob.stderr()
        );
    }
    Err(capture_stalled("waiting for the chime", capture, bob))
}

/// Waits for the chime for the line bob showed when the capture held
/// `shown_at` samples (the first sound from sample `from` on, see
/// [`wait_for_sound`]), then until the whole chime, and anything else
/// started with it, is recorded (see [`wait_until_recorded`]).
#[track_caller]
fn wait_for_whole_chime(
    capture: &Capture,
    bob: &Client,
    from: usize,
    shown_at: usize,
) -> Result<(), Skip> {
    let start = wait_for_sound(capture, bob, from, shown_at)?;
    wait_until_recorded(capture, bob, (start + CHIME_SAMPLES * 2).max(shown_at))
}

/// Bob types `q` and must exit with status 0; then alice leaves too.
#[track_caller]
fn bob_then_alice_quit(bob: &mut Client, alice: &mut Client) {
    bob.send("q");
    bob.expect_exit_code(0);
    alice.send("q");
}

/// Checks that bob opened the capture device rather than falling back to
/// the bell. If he fell back, asks alsa-lib itself (see [`alsa_can_record`])
/// whether the config can record here at all: if not, the test is skipped;
/// if it can, bob failed to use it.
#[track_caller]
fn expect_capture_device(bob: &Client) -> Result<(), Skip> {
    let out = bob.stdout();
    let Some(line) = out.lines().find(|l| l.contains("No audio device")) else {
        return Ok(());
    };
    match alsa_can_record() {
        Err(why) => Err(Skip(format!(
            "ALSA cannot record through a file plugin config here ({why}); bob said {line:?}"
        ))),
        Ok(()) => panic!(
            "expected bob to open the capture device (alsa-lib alone records \
             through the same config), got {line:?}\n--- stdout ---\n{out}\n\
             --- stderr ---\n{}",
            bob.stderr()
        ),
    }
}

/// Whether alsa-lib, without the client, can play through a [`Capture`]
/// config and have non-zero samples recorded: runs this test binary again
/// as [`alsa_probe_tone`], in a process of its own since `ALSA_CONFIG_PATH`
/// is read per process.
fn alsa_can_record() -> Result<(), String> {
    let capture = Capture::new("probe");
    let exe = std::env::current_exe().map_err(|err| format!("current_exe: {err}"))?;
    let mut command = Command::new(exe);
    command
        .args([
            "--exact",
            "alsa_probe_tone",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, capture.config_path())
        .env("ALSA_CONFIG_PATH", capture.config_path());
    let (code, out, err) = run_to_end(command, "ALSA probe");
    let samples = capture.samples();
    if code != Some(0) || !samples.iter().any(|&s| s != 0) {
        return Err(format!(
            "alsa-lib playing a tone: exit {code:?}, recorded {}; stdout {:?}, stderr {:?}",
            describe(&samples),
            out.trim(),
            err.trim()
        ));
    }
    Ok(())
}

/// Not a check of the client: [`alsa_can_record`] runs this test binary
/// again with [`PROBE_ENV`] set to play a short tone with alsa-lib alone.
/// Without that variable it does nothing.
#[test]
fn alsa_probe_tone() {
    if std::env::var_os(PROBE_ENV).is_none() {
        return;
    }
    if let Err(err) = play_probe_tone() {
        panic!("alsa-lib: {err}");
    }
}

/// A tenth of a second of square wave on the default device, 8 kHz mono.
#[cfg(target_os = "linux")]
fn play_probe_tone() -> Result<(), String> {
    use alsa::pcm::{Access, Format, HwParams, PCM};
    use alsa::{Direction, ValueOr};

    let play = || -> alsa::Result<()> {
        let pcm = PCM::new("default", Direction::Playback, false)?;
        {
            let params = HwParams::any(&pcm)?;
            params.set_access(Access::RWInterleaved)?;
            params.set_format(Format::S16LE)?;
            params.set_channels(1)?;
            params.set_rate(CAPTURE_RATE_HZ as u32, ValueOr::Nearest)?;
            pcm.hw_params(&params)?;
        }
        let tone: Vec<i16> = (0..CAPTURE_RATE_HZ / 10)
            .map(|i| if i % 16 < 8 { 4000 } else { -4000 })
            .collect();
        pcm.io_i16()?.writei(&tone)?;
        pcm.drain()
    };
    play().map_err(|err| err.to_string())
}

#[cfg(not(target_os = "linux"))]
fn play_probe_tone() -> Result<(), String> {
    Err("ALSA is Linux only".to_string())
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
    bob_with_flags(addr, alsa_config, &[])
}

/// [`bob_with_sound`] with more flags (`--notify`, `--mute`).
fn bob_with_flags(addr: SocketAddr, alsa_config: &str, flags: &[&str]) -> Client {
    ClientBuilder::new("bob", addr)
        .name("bob")
        .sound()
        .args(flags)
        .env("ALSA_CONFIG_PATH", alsa_config)
        .spawn()
}

/// Fails (or skips, on a very busy machine) unless the lines sent since
/// `started` were all shown within 1.5 s: the client allows one ordinary
/// chime per 2 s, so a slower burst may rightly chime twice, and a test
/// counting chimes would prove nothing.
#[track_caller]
fn burst_was_quick(started: Instant) -> Result<(), Skip> {
    let took = started.elapsed();
    if took < Duration::from_millis(1500) {
        return Ok(());
    }
    let (load, very_busy) = machine_load();
    if very_busy {
        return Err(Skip(format!(
            "the burst took {took:?} ({load}); too busy for this test"
        )));
    }
    panic!("expected the burst within 1.5s, got {took:?} ({load})");
}

/// An ALSA config with no device at all, in `dir`: the bell must stand in.
fn no_device_config(dir: &TempDir) -> String {
    let empty = dir.path().join("empty.conf");
    fs::write(&empty, "").expect("write empty ALSA config");
    empty.display().to_string()
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
    or_skip!(expect_capture_device(&bob));
    let mut alice = join("alice", server.addr());
    alice.send("ding?");
    bob.expect("alice: ding?");
    let shown_at = capture.len();
    or_skip!(wait_for_whole_chime(&capture, &bob, 0, shown_at));
    bob_then_alice_quit(&mut bob, &mut alice);

    assert_each_one_chime(&capture.samples(), 1);
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
    or_skip!(expect_capture_device(&bob));
    bob.send("my own line");
    bob.expect("bob: my own line");
    let shown_at = capture.len();
    or_skip!(wait_until_recorded(&capture, &bob, shown_at));
    bob_then_alice_quit(&mut bob, &mut alice);

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
    or_skip!(expect_capture_device(&bob));
    let mut alice = join("alice", server.addr());

    let started = Instant::now();
    for i in 0..50 {
        alice.send(&format!("burst {i}"));
    }
    bob.expect("alice: burst 49");
    let shown_at = capture.len();
    or_skip!(burst_was_quick(started));
    or_skip!(wait_for_whole_chime(&capture, &bob, 0, shown_at));
    bob_then_alice_quit(&mut bob, &mut alice);

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
    let server = start_server(20);
    let mut bob = bob_with_sound(server.addr(), &no_device_config(&dir));
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
    bob_then_alice_quit(&mut bob, &mut alice);

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

/// One chime's worth of sound, alone: its length and its loudness.
#[track_caller]
fn assert_each_one_chime(samples: &[i16], count: usize) {
    let sounds = sound_lengths(samples);
    assert_eq!(sounds.len(), count, "{}", describe(samples));
    for length in sounds {
        assert!(
            length > CHIME_SAMPLES / 2 && length < CHIME_SAMPLES * 3 / 2,
            "one chime is about {CHIME_SAMPLES} samples: {}",
            describe(samples)
        );
    }
    assert!(
        peak(samples) < ONE_CHIME_PEAK_MAX,
        "chimes on top of each other: {}",
        describe(samples)
    );
}

#[test]
fn a_mention_after_a_burst_still_chimes() {
    chimes_after_a_burst("mention", "bob, your turn", ">> [");
}

#[test]
fn a_direct_message_after_a_burst_still_chimes() {
    chimes_after_a_burst(
        "direct",
        "/msg bob your turn",
        "alice \u{2192} you: your turn",
    );
}

/// Alice sends a burst, then types `line`, which is for bob alone; once bob
/// shows `shown`, it must chime a second time, inside the burst's limit.
fn chimes_after_a_burst(label: &str, line: &str, shown: &str) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let capture = Capture::new(label);
    let server = start_server(20);
    let mut bob = bob_with_sound(server.addr(), &capture.config_path());
    bob.expect("You are bob");
    or_skip!(expect_capture_device(&bob));
    let mut alice = join("alice", server.addr());

    let started = Instant::now();
    for i in 0..20 {
        alice.send(&format!("burst {i}"));
    }
    bob.expect("alice: burst 19");
    let burst_shown_at = capture.len();
    let first = or_skip!(wait_for_sound(&capture, &bob, 0, burst_shown_at));
    // The burst's chime is over (the capture runs far faster than time).
    let first_over = first + CHIME_SAMPLES * 2;
    or_skip!(wait_for_capture_len(&capture, &bob, first_over));
    alice.send(line);
    bob.expect(shown);
    bob.expect("your turn");
    // Still inside the burst's 2 s: an ordinary line would stay silent.
    or_skip!(burst_was_quick(started));
    let for_bob_shown_at = capture.len();
    or_skip!(wait_for_whole_chime(
        &capture,
        &bob,
        first_over,
        for_bob_shown_at
    ));
    bob_then_alice_quit(&mut bob, &mut alice);

    assert_each_one_chime(&capture.samples(), 2);
}

#[test]
fn with_notify_mentions_only_a_line_naming_you_chimes() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let capture = Capture::new("mentions");
    let server = start_server(20);
    let mut bob = bob_with_flags(
        server.addr(),
        &capture.config_path(),
        &["--notify", "mentions"],
    );
    bob.expect("You are bob");
    or_skip!(expect_capture_device(&bob));
    let mut alice = join("alice", server.addr());
    for text in ["lunch at noon", "kebob again?", "the usual place"] {
        alice.send(text);
    }
    // Naming yourself is no mention.
    bob.send("bob is hungry");
    bob.expect("alice: the usual place");
    bob.expect("bob: bob is hungry");
    let quiet_until = capture.len();
    or_skip!(wait_until_recorded(&capture, &bob, quiet_until));
    let before = capture.samples();
    assert!(!before.is_empty(), "nothing recorded at all");
    assert!(
        before.iter().all(|&s| s == 0),
        "expected silence before the mention: {}",
        describe(&before)
    );

    alice.send("@bob coming?");
    bob.expect("alice: @bob coming?");
    let shown_at = capture.len();
    or_skip!(wait_for_whole_chime(&capture, &bob, before.len(), shown_at));
    bob_then_alice_quit(&mut bob, &mut alice);

    assert_each_one_chime(&capture.samples(), 1);
}

#[test]
fn the_bell_follows_mute_and_notify() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("bell-levels");
    let server = start_server(20);
    let mut bob = bob_with_flags(server.addr(), &no_device_config(&dir), &["--mute"]);
    bob.expect("You are bob");
    let mut alice = join("alice", server.addr());
    alice.send("hi bob");
    alice.send("plain words");
    bob.expect("alice: plain words");
    settle();
    assert_eq!(bob.count("\x07"), 0, "muted: {:?}", bob.stdout());
    // A muted desk does not even open the audio device.
    assert_eq!(bob.count("No audio device"), 0, "{}", bob.stdout());

    bob.send("/notify mentions");
    bob.expect("[!] No audio device (");
    bob.expect("[*] Notifications: mentions");
    alice.send("more plain words");
    bob.send("bob talks to bob");
    bob.expect("alice: more plain words");
    bob.expect("bob: bob talks to bob");
    settle();
    assert_eq!(bob.count("\x07"), 0, "no mention yet: {:?}", bob.stdout());
    alice.send("@bob ping");
    bob.expect("alice: @bob ping");
    bob.expect("\x07");

    bob.send("/notify off");
    bob.expect("[*] Notifications: off");
    alice.send("bob?");
    bob.expect("alice: bob?");
    bob.send("/notify");
    bob.expect_count("[*] Notifications: off", 2);
    settle();
    bob_then_alice_quit(&mut bob, &mut alice);

    let out = bob.stdout();
    assert_eq!(out.matches('\x07').count(), 1, "{out:?}");
    assert_eq!(out.matches("No audio device").count(), 1, "{out}");
    assert!(bob.stderr().trim().is_empty(), "{}", bob.stderr());
}

#[test]
fn a_mention_after_a_burst_rings_the_bell_again() {
    rings_again_after_a_burst("bell-mention", "Bob: your turn", "alice: Bob: your turn");
}

#[test]
fn a_direct_message_after_a_burst_rings_the_bell_again() {
    rings_again_after_a_burst(
        "bell-direct",
        "/msg bob your turn",
        "alice \u{2192} you: your turn",
    );
}

/// Without a device: alice's burst rings once, and `line`, for bob alone
/// (shown as `shown`), rings again.
fn rings_again_after_a_burst(label: &str, line: &str, shown: &str) {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new(label);
    let server = start_server(20);
    let mut bob = bob_with_sound(server.addr(), &no_device_config(&dir));
    bob.expect("using the terminal bell.");
    bob.expect("You are bob");
    let mut alice = join("alice", server.addr());
    let started = Instant::now();
    for i in 0..20 {
        alice.send(&format!("burst {i}"));
    }
    alice.send(line);
    bob.expect(shown);
    or_skip!(burst_was_quick(started));
    bob.expect_count("\x07", 2);
    settle();
    bob_then_alice_quit(&mut bob, &mut alice);

    let out = bob.stdout();
    assert_eq!(
        out.matches('\x07').count(),
        2,
        "one bell for the burst, one for {line:?}: {out:?}"
    );
}
