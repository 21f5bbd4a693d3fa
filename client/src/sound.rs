//! The new-message sound: opening the audio device when a sound is first
//! wanted, synthesising the chime, and the [`Notifier`] `view` rings
//! for every live line. Owns the fallback to the terminal bell; which lines
//! deserve a sound, and how often, is `notify`'s [`ChimeRules`].

use std::io::{self, Write};
use std::time::{Duration, Instant};

use rodio::mixer::Mixer;
use rodio::source::{SineWave, Source};
use rodio::{DeviceSinkBuilder, MixerDeviceSink};

use crate::notify::{Arrival, ChimeRules, NotifyLevel};

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

/// Makes the new-message sound when the rules say so, whatever this desk
/// can do. Lives on the main thread: the audio device is opened there (the
/// ALSA error silencing is per thread) and kept open until the session ends.
pub struct Notifier {
    rules: ChimeRules,
    /// `None` until a level that makes sounds is first in force: a muted
    /// desk never opens the audio device.
    output: Option<Output>,
}

/// What a sound comes out of.
enum Output {
    /// A synthesised chime on the audio device.
    Chime {
        /// The open device's mixer; playing is adding a source to it.
        mixer: Mixer,
        /// Never read: holding it keeps cpal's output stream running.
        _device: MixerDeviceSink,
    },
    /// No audio device: the terminal bell (BEL on stdout).
    Bell,
}

impl Notifier {
    /// A notifier at `level`, its output opened unless the level is off.
    /// Also returns why there is no audio device when the bell stands in:
    /// tell the user once.
    pub fn new(level: NotifyLevel) -> (Notifier, Option<String>) {
        let mut notifier = Notifier {
            rules: ChimeRules::new(level),
            output: None,
        };
        let fallback = notifier.set_level(level);
        (notifier, fallback)
    }

    /// The level in force.
    pub fn level(&self) -> NotifyLevel {
        self.rules.level()
    }

    /// Changes the level (`/notify`), opening the output the first time a
    /// level that makes sounds is chosen; returns why there is no audio
    /// device if that opening fell back to the bell.
    pub fn set_level(&mut self, level: NotifyLevel) -> Option<String> {
        self.rules.set_level(level);
        if level == NotifyLevel::Off || self.output.is_some() {
            return None;
        }
        let (output, fallback) = match open_device() {
            Ok(device) => (
                Output::Chime {
                    mixer: device.mixer().clone(),
                    _device: device,
                },
                None,
            ),
            Err(reason) => (Output::Bell, Some(reason)),
        };
        self.output = Some(output);
        fallback
    }

    /// Mutes room `room`, or lets it sound again (`/notify #ROOM off|on`).
    pub fn set_room_muted(&mut self, room: &str, muted: bool) {
        self.rules.set_room_muted(room, muted);
    }

    /// Whether room `room` is muted.
    pub fn is_room_muted(&self, room: &str) -> bool {
        self.rules.is_room_muted(room)
    }

    /// A live line arrived in room `room`.
    pub fn arrived_in(&mut self, room: &str, arrival: Arrival) {
        let arrival = self.rules.in_room(room, arrival);
        self.arrived(arrival);
    }

    /// A live line arrived. Never blocks: the mixer plays the chime on the
    /// audio thread.
    pub fn arrived(&mut self, arrival: Arrival) {
        if !self.rules.should_sound(arrival, Instant::now()) {
            return;
        }
        match &self.output {
            Some(Output::Chime { mixer, .. }) => mixer.add(chime()),
            Some(Output::Bell) => {
                // A lost bell is not worth failing over.
                let mut out = io::stdout().lock();
                let _ = out.write_all(b"\x07");
                let _ = out.flush();
            }
            // Unreachable: a level that sounds has opened the output.
            None => {}
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

/// Opens the default audio device. Must run on the thread that keeps it:
/// the ALSA error silencing below is per thread.
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
    fn a_muted_desk_opens_no_device() {
        let (notifier, fallback) = Notifier::new(NotifyLevel::Off);
        assert!(notifier.output.is_none());
        assert_eq!(fallback, None);
        assert_eq!(notifier.level(), NotifyLevel::Off);
    }
}
