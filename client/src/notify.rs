//! Which live lines deserve a sound, and how often: the level the user
//! chose (`--notify`, `/notify`), the rooms the user muted (`/notify #ROOM
//! off`), mentions and direct messages against ordinary lines, and the
//! burst limit. Pure rules, given the time; `sound` makes the noise and
//! `view` says what arrived.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use chat_shared::room::room_key;

/// A burst (a pasted screenful, fifty quick replies) should say "something
/// happened" once, not fifty times; two seconds is roughly the time it
/// takes to look up at the screen, so a sound after that is news again.
pub const CHIME_MIN_INTERVAL: Duration = Duration::from_secs(2);

/// What the user wants to hear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyLevel {
    /// Every message from someone else (the seed's behaviour, the default).
    All,
    /// Only messages that name you, and direct messages to you.
    Mentions,
    /// Nothing: no chime, no bell.
    Off,
}

impl NotifyLevel {
    /// The word on the command line and after `/notify`.
    pub fn word(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::Off => "off",
        }
    }

    /// What the level means, for the confirmation after `/notify`.
    pub fn meaning(self) -> &'static str {
        match self {
            NotifyLevel::All => "a sound for every message from someone else",
            NotifyLevel::Mentions => "a sound only for messages that name you or are for you",
            NotifyLevel::Off => "no sound",
        }
    }
}

impl fmt::Display for NotifyLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A word that is not a level; says which words are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown notify level '{}'; choose all, mentions or off",
            self.0
        )
    }
}

impl FromStr for NotifyLevel {
    type Err = UnknownLevel;

    /// `all`, `mentions` or `off`, in any case.
    fn from_str(s: &str) -> Result<NotifyLevel, UnknownLevel> {
        [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::Off]
            .into_iter()
            .find(|level| level.word().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownLevel(s.to_string()))
    }
}

/// A live message, as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The desk's own line coming back: never a sound.
    Own,
    /// Someone else's line that does not name us.
    Ordinary,
    /// Someone else's line that does not name us, in a room the user
    /// muted: never a sound.
    Muted,
    /// Someone else's line that names us.
    Mention,
    /// A direct message to us: for us alone, so it counts as a mention.
    Direct,
}

/// Decides, line by line, whether to make a sound.
#[derive(Debug)]
pub struct ChimeRules {
    level: NotifyLevel,
    /// When the last sound of any kind was let through: ordinary lines
    /// within [`CHIME_MIN_INTERVAL`] of it are part of the same burst.
    last_sound: Option<Instant>,
    /// When the last mention's (or direct message's) sound was let
    /// through. These are limited only by each other, so a burst of
    /// ordinary lines never swallows one, while a burst of lines all for us
    /// still sounds once.
    last_mention: Option<Instant>,
    /// The rooms whose ordinary lines make no sound, by their keys
    /// ([`room_key`]).
    muted_rooms: BTreeSet<String>,
}

impl ChimeRules {
    /// Rules at `level`, nothing heard yet.
    pub fn new(level: NotifyLevel) -> ChimeRules {
        ChimeRules {
            level,
            last_sound: None,
            last_mention: None,
            muted_rooms: BTreeSet::new(),
        }
    }

    /// Mutes room `room` (`#dev`), or lets it sound again: its ordinary
    /// lines only, since a line for us is for us wherever it is.
    pub fn set_room_muted(&mut self, room: &str, muted: bool) {
        if muted {
            self.muted_rooms.insert(room_key(room));
        } else {
            self.muted_rooms.remove(&room_key(room));
        }
    }

    /// Whether room `room` is muted.
    pub fn is_room_muted(&self, room: &str) -> bool {
        self.muted_rooms.contains(&room_key(room))
    }

    /// `arrival` as it counts in room `room`: an ordinary line in a muted
    /// room is [`Arrival::Muted`].
    pub fn in_room(&self, room: &str, arrival: Arrival) -> Arrival {
        match arrival {
            Arrival::Ordinary if self.is_room_muted(room) => Arrival::Muted,
            other => other,
        }
    }

    /// The level in force.
    pub fn level(&self) -> NotifyLevel {
        self.level
    }

    /// Changes the level; the burst in progress, if any, stays one burst.
    pub fn set_level(&mut self, level: NotifyLevel) {
        self.level = level;
    }

    /// Whether `arrival`, at `now`, makes a sound; remembers it if so.
    pub fn should_sound(&mut self, arrival: Arrival, now: Instant) -> bool {
        let wanted = match (arrival, self.level) {
            (Arrival::Own | Arrival::Muted, _) | (_, NotifyLevel::Off) => false,
            (Arrival::Mention | Arrival::Direct, _) => true,
            (Arrival::Ordinary, NotifyLevel::All) => true,
            (Arrival::Ordinary, NotifyLevel::Mentions) => false,
        };
        let for_us = matches!(arrival, Arrival::Mention | Arrival::Direct);
        let limit = if for_us {
            self.last_mention
        } else {
            self.last_sound
        };
        let quiet =
            limit.is_none_or(|last| now.saturating_duration_since(last) >= CHIME_MIN_INTERVAL);
        if !(wanted && quiet) {
            return false;
        }
        self.last_sound = Some(now);
        if for_us {
            self.last_mention = Some(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(10);

    /// How many of `arrivals`, one every [`TICK`] from `start`, sound.
    fn sounds(rules: &mut ChimeRules, start: Instant, arrivals: &[Arrival]) -> usize {
        (0u32..)
            .zip(arrivals)
            .filter(|(i, arrival)| rules.should_sound(**arrival, start + TICK * *i))
            .count()
    }

    #[test]
    fn levels_parse_in_any_case_and_print_back() {
        for level in [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::Off] {
            assert_eq!(level.to_string().parse(), Ok(level));
        }
        assert_eq!("MENTIONS".parse(), Ok(NotifyLevel::Mentions));
        let err = "loud".parse::<NotifyLevel>().unwrap_err();
        assert!(err.to_string().contains("all, mentions or off"), "{err}");
    }

    #[test]
    fn own_lines_never_sound() {
        for level in [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::Off] {
            let mut rules = ChimeRules::new(level);
            assert!(!rules.should_sound(Arrival::Own, Instant::now()), "{level}");
        }
    }

    #[test]
    fn what_sounds_at_each_level() {
        let now = Instant::now();
        let cases = [
            (NotifyLevel::All, Arrival::Ordinary, true),
            (NotifyLevel::All, Arrival::Mention, true),
            (NotifyLevel::Mentions, Arrival::Ordinary, false),
            (NotifyLevel::All, Arrival::Direct, true),
            (NotifyLevel::Mentions, Arrival::Mention, true),
            (NotifyLevel::Mentions, Arrival::Direct, true),
            (NotifyLevel::Off, Arrival::Ordinary, false),
            (NotifyLevel::Off, Arrival::Mention, false),
            (NotifyLevel::Off, Arrival::Direct, false),
        ];
        for (level, arrival, expected) in cases {
            let mut rules = ChimeRules::new(level);
            assert_eq!(
                rules.should_sound(arrival, now),
                expected,
                "{level} {arrival:?}"
            );
        }
    }

    #[test]
    fn a_burst_sounds_once() {
        let mut rules = ChimeRules::new(NotifyLevel::All);
        assert_eq!(
            sounds(&mut rules, Instant::now(), &[Arrival::Ordinary; 50]),
            1
        );
    }

    #[test]
    fn a_burst_of_mentions_sounds_once_too() {
        let mut rules = ChimeRules::new(NotifyLevel::Mentions);
        assert_eq!(
            sounds(&mut rules, Instant::now(), &[Arrival::Mention; 50]),
            1
        );
    }

    /// At `All` and at `Mentions`: twenty ordinary lines, then `for_us`
    /// (lines for us alone). At `All` the burst sounds once and `for_us`
    /// once more; at `Mentions` only `for_us` sounds, once.
    #[track_caller]
    fn assert_for_us_after_a_burst_sounds_once(for_us: &[Arrival]) {
        for level in [NotifyLevel::All, NotifyLevel::Mentions] {
            let mut rules = ChimeRules::new(level);
            let mut arrivals = vec![Arrival::Ordinary; 20];
            arrivals.extend_from_slice(for_us);
            let expected = if level == NotifyLevel::All { 2 } else { 1 };
            assert_eq!(
                sounds(&mut rules, Instant::now(), &arrivals),
                expected,
                "{level}"
            );
        }
    }

    #[test]
    fn a_mention_after_a_burst_is_never_swallowed() {
        assert_for_us_after_a_burst_sounds_once(&[Arrival::Mention]);
    }

    #[test]
    fn a_direct_message_after_a_burst_is_never_swallowed() {
        // One direct message, then twenty more: a burst of direct messages
        // is one burst too.
        assert_for_us_after_a_burst_sounds_once(&[Arrival::Direct; 21]);
    }

    #[test]
    fn ordinary_lines_right_after_a_mention_are_its_burst() {
        let mut rules = ChimeRules::new(NotifyLevel::All);
        let mut arrivals = vec![Arrival::Mention];
        arrivals.extend([Arrival::Ordinary; 20]);
        assert_eq!(sounds(&mut rules, Instant::now(), &arrivals), 1);
    }

    #[test]
    fn sound_again_after_the_interval() {
        let mut rules = ChimeRules::new(NotifyLevel::All);
        let start = Instant::now();
        assert!(rules.should_sound(Arrival::Ordinary, start));
        let almost = start + CHIME_MIN_INTERVAL - Duration::from_millis(1);
        assert!(!rules.should_sound(Arrival::Ordinary, almost));
        assert!(rules.should_sound(Arrival::Ordinary, start + CHIME_MIN_INTERVAL));
        assert!(rules.should_sound(Arrival::Mention, start + CHIME_MIN_INTERVAL));
        let again = start + CHIME_MIN_INTERVAL * 2;
        assert!(rules.should_sound(Arrival::Mention, again));
    }

    #[test]
    fn a_muted_room_is_quiet_but_a_mention_there_still_sounds() {
        let mut rules = ChimeRules::new(NotifyLevel::All);
        rules.set_room_muted("#Random", true);
        assert!(rules.is_room_muted("#random"));
        assert_eq!(rules.in_room("#random", Arrival::Ordinary), Arrival::Muted);
        assert_eq!(rules.in_room("#dev", Arrival::Ordinary), Arrival::Ordinary);
        assert_eq!(rules.in_room("#random", Arrival::Mention), Arrival::Mention);
        let now = Instant::now();
        assert!(!rules.should_sound(Arrival::Muted, now));
        assert!(rules.should_sound(Arrival::Mention, now));
        rules.set_room_muted("#random", false);
        assert_eq!(
            rules.in_room("#random", Arrival::Ordinary),
            Arrival::Ordinary
        );
    }

    #[test]
    fn a_changed_level_applies_to_the_next_line() {
        let mut rules = ChimeRules::new(NotifyLevel::Off);
        let start = Instant::now();
        assert!(!rules.should_sound(Arrival::Mention, start));
        rules.set_level(NotifyLevel::Mentions);
        assert_eq!(rules.level(), NotifyLevel::Mentions);
        assert!(!rules.should_sound(Arrival::Ordinary, start));
        assert!(rules.should_sound(Arrival::Mention, start));
    }
}
