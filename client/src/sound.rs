//! The new-message sound: opening the audio device once, synthesising the
//! chime, and the [`Notifier`] the reader thread rings. Owns the fallback to
//! the terminal bell and the rate limit; it does not decide *which* messages
//! deserve a sound (that is the reader's rule: live messages from others).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use rodio::mixer::Mixer;
use rodio::source::{SineWave, Source};
use rodio::{DeviceSinkBuilder, MixerDeviceSink};

/// At most one sound per this interval. A burst (a pasted screenful, fifty
/// quick replies) should say "something happened" once, not fifty times;
/// two seconds is roughly the time it takes to look up at the screen, so a
/// sound after that is news again.
pub const CHIME_MIN_INTERVAL: Duration = Duration::from_secs(2);

/// The chime's first tone (A5) and how long it rings.
const FIRST_TONE_HZ: f32 = 880.0;
const FIRST_TONE: Duration = Duration::from_millis(90);
/// The second, higher tone (E6, a fifth up: "ding-dong" reads as a message,
/// not an alarm), starting as the first fades.
const SECOND_TONE_HZ: f32 = 1318.5;
const SECOND_TONE_START: Duration = Duration::from_millis(80);
const SECOND_TONE: Duration = Duration::from_millis(130);
/// Loud enough to notice in an office, well short of clipping even where the
/// two tones overlap (0.25 + 0.25 < 1).
const CHIME_VOLUME: f32 = 0.25;

/// Lets a sound through at most once per [`CHIME_MIN_INTERVAL`].
#[derive(Debug, Default)]
pub struct ChimeGate {
    /// When the last sound was let through.
    last: Option<Instant>,
}

impl ChimeGate {
    /// True if a sound may play at `now`; records it if so.
    pub fn allow(&mut self, now: Instant) -> bool {
        let quiet = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= CHIME_MIN_INTERVAL);
        if quiet {
            self.last = Some(now);
        }
        quiet
    }
}

/// Makes the new-message sound, whatever this desk can do.
pub enum Notifier {
    /// A synthesised chime on the audio device.
    Chime {
        /// The open device's mixer; playing is adding a source to it.
        mixer: Mixer,
        /// The rate limit.
        gate: ChimeGate,
    },
    /// No audio device: the terminal bell (BEL on stdout).
    Bell {
        /// The rate limit.
        gate: ChimeGate,
    },
    /// `--mute`.
    Muted,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Notifier::Chime { .. } => "Notifier::Chime",
            Notifier::Bell { .. } => "Notifier::Bell",
            Notifier::Muted => "Notifier::Muted",
        })
    }
}

impl Notifier {
    /// Signals that a message from someone else arrived. Never blocks: the
    /// mixer plays the chime on the audio thread.
    pub fn message_arrived(&mut self) {
        let now = Instant::now();
        match self {
            Notifier::Chime { mixer, gate } => {
                if gate.allow(now) {
                    mixer.add(chime());
                }
            }
            Notifier::Bell { gate } => {
                if gate.allow(now) {
                    // A lost bell is not worth failing over.
                    let mut out = io::stdout().lock();
                    let _ = out.write_all(b"\x07");
                    let _ = out.flush();
                }
            }
            Notifier::Muted => {}
        }
    }
}

/// The chime: two short sine tones, each fading out, the second overlapping
/// the first's tail. Synthesised so the binary needs no sound file.
pub fn chime() -> impl Source + Send + 'static {
    let first = SineWave::new(FIRST_TONE_HZ)
        .take_duration(FIRST_TONE)
        .amplify(CHIME_VOLUME)
        .fade_out(FIRST_TONE);
    let second = SineWave::new(SECOND_TONE_HZ)
        .take_duration(SECOND_TONE)
        .amplify(CHIME_VOLUME)
        .fade_out(SECOND_TONE)
        .delay(SECOND_TONE_START);
    first.mix(second)
}

/// Keeps the audio device open; dropping it silences the chime.
pub struct AudioDevice {
    /// Never read: holding it keeps cpal's output stream running.
    _sink: MixerDeviceSink,
}

impl std::fmt::Debug for AudioDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AudioDevice")
    }
}

/// What [`open`] came up with.
#[derive(Debug)]
pub struct Sound {
    /// Hand this to the reader thread.
    pub notifier: Notifier,
    /// Keep this alive for the whole session (it is `None` without a device).
    pub device: Option<AudioDevice>,
    /// Why there is no device, when the bell stands in; tell the user once.
    pub fallback_reason: Option<String>,
}

/// Opens the default audio device once, at startup, or falls back to the
/// bell. Must run on the thread that keeps the returned device: the ALSA
/// error silencing below is per thread.
pub fn open(mute: bool) -> Sound {
    if mute {
        return Sound {
            notifier: Notifier::Muted,
            device: None,
            fallback_reason: None,
        };
    }
    match open_device() {
        Ok(sink) => Sound {
            notifier: Notifier::Chime {
                mixer: sink.mixer().clone(),
                gate: ChimeGate::default(),
            },
            device: Some(AudioDevice { _sink: sink }),
            fallback_reason: None,
        },
        Err(reason) => Sound {
            notifier: Notifier::Bell {
                gate: ChimeGate::default(),
            },
            device: None,
            fallback_reason: Some(reason),
        },
    }
}

fn open_device() -> Result<MixerDeviceSink, String> {
    // alsa-lib prints its complaints ("cannot find card '0'", "Unknown PCM
    // default") straight to stderr, over the chat. This routes them into a
    // buffer for this thread instead; the error we return says enough.
    #[cfg(target_os = "linux")]
    let _alsa_messages = alsa::Output::local_error_handler().ok();

    let mut sink = DeviceSinkBuilder::from_default_device()
        .and_then(|builder| {
            builder
                .with_error_callback(ignore_stream_error)
                .open_sink_or_fallback()
        })
        .map_err(|err| describe(&err))?;
    // Dropping at exit is expected; rodio would otherwise say so on stderr.
    sink.log_on_drop(false);
    Ok(sink)
}

/// A stream error mid-session (a headset unplugged) costs only the chime;
/// rodio's default would print it across the chat.
fn ignore_stream_error(_: rodio::CpalError) {}

/// The error and its causes, one line.
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sound_is_allowed() {
        assert!(ChimeGate::default().allow(Instant::now()));
    }

    #[test]
    fn burst_gives_one_sound() {
        let mut gate = ChimeGate::default();
        let start = Instant::now();
        let allowed = (0..50)
            .filter(|i| gate.allow(start + Duration::from_millis(10 * i)))
            .count();
        assert_eq!(allowed, 1);
    }

    #[test]
    fn sound_again_after_the_interval() {
        let mut gate = ChimeGate::default();
        let start = Instant::now();
        assert!(gate.allow(start));
        assert!(!gate.allow(start + CHIME_MIN_INTERVAL - Duration::from_millis(1)));
        assert!(gate.allow(start + CHIME_MIN_INTERVAL));
    }

    #[test]
    fn chime_length() {
        let source = chime();
        let rate = source.sample_rate().get() as usize;
        let channels = usize::from(source.channels().get());
        let samples = source.count();
        let millis = samples * 1000 / (rate * channels);
        // The second tone ends last: about 210 ms in all.
        assert_eq!(
            millis,
            (SECOND_TONE_START + SECOND_TONE).as_millis() as usize
        );
    }

    #[test]
    fn chime_is_audible_and_does_not_clip() {
        let peak = chime().map(f32::abs).fold(0.0, f32::max);
        assert!(peak > 0.1, "peak {peak}");
        assert!(peak < 1.0, "peak {peak}");
    }

    #[test]
    fn muted_makes_no_sound() {
        let sound = open(true);
        assert!(matches!(sound.notifier, Notifier::Muted));
        assert!(sound.device.is_none());
        assert!(sound.fallback_reason.is_none());
    }
}
