//! A room's modes: IRC's channel modes, which govern desks and IRC clients
//! alike (an IRC channel is a room). Plain data ([`Modes`]), how a line of
//! changes reads ([`parse`]: `+kl KEY 10`, `-o bob`), and how modes are
//! written back (`+ntk KEY`). Who ranks above the rest (operators, voiced)
//! is kept with the room ([`super::Room`]), by holder.
//!
//! The flags: `i` invite only, `m` moderated (only operators and voiced
//! speak), `n` no messages from outside, `s` secret (not listed, members
//! hidden, to outsiders), `t` only operators set the topic. With an
//! argument: `k` key, `l` limit, `b` ban mask, `o` operator, `v` voice.
//!
//! Bounds: at most [`MAX_ARG_CHANGES`] changes with an argument a line
//! (`MODES`), at most [`MAX_BANS`] bans a room (`MAXLIST`), keys of at most
//! [`MAX_KEY_CHARS`] printable characters without spaces (RFC 2812's
//! `key`). A limit that is not a positive number is ignored, as most IRC
//! servers do.

/// Most changes that take an argument in one line (ISUPPORT `MODES`).
pub const MAX_ARG_CHANGES: usize = 6;

/// Most ban masks a room keeps (ISUPPORT `MAXLIST=b:50`).
pub const MAX_BANS: usize = 50;

/// Longest key, in characters (RFC 2812's `key` grammar).
pub const MAX_KEY_CHARS: usize = 23;

/// Longest ban mask, in bytes: a nick, a user and a host fit well within.
pub const MAX_MASK_BYTES: usize = 100;

/// ISUPPORT `CHANMODES`: lists, always an argument, an argument when set,
/// flags.
pub const CHANMODES: &str = "b,k,l,imnst";

/// The modes of one room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modes {
    /// `i`: only those invited enter.
    pub invite_only: bool,
    /// `m`: only operators and voiced desks speak.
    pub moderated: bool,
    /// `n`: only those in the room speak in it.
    pub no_outside: bool,
    /// `s`: not listed, and its members hidden, to outsiders.
    pub secret: bool,
    /// `t`: only operators set the topic.
    pub topic_locked: bool,
    /// `k`: the key to enter.
    pub key: Option<String>,
    /// `l`: most holders.
    pub limit: Option<usize>,
    /// `b`: who may not enter, as `nick!user@host` masks.
    pub bans: Vec<Ban>,
}

/// One ban mask, and who set it when (`367`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The mask, `nick!user@host` with `*` and `?`.
    pub mask: String,
    /// Who set it.
    pub by: String,
    /// When, in seconds since the epoch.
    pub time: u64,
}

/// A flag mode: one that takes no argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `i`
    InviteOnly,
    /// `m`
    Moderated,
    /// `n`
    NoOutside,
    /// `s`
    Secret,
    /// `t`
    TopicLocked,
}

/// A rank in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// `o`: may change the room's modes, kick, and so on.
    Operator,
    /// `v`: may speak in a moderated room.
    Voice,
}

impl Rank {
    /// Its mode letter.
    pub fn letter(self) -> char {
        match self {
            Rank::Operator => 'o',
            Rank::Voice => 'v',
        }
    }
}

/// One change asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// `+i`, `-m`...
    Flag(Flag, bool),
    /// `+k KEY`, or `-k` (`None`).
    Key(Option<&'a str>),
    /// `+l COUNT`, or `-l` (`None`).
    Limit(Option<usize>),
    /// `+b MASK` or `-b MASK`.
    Ban(bool, &'a str),
    /// `b` or `+b` alone: the list of bans.
    ListBans,
    /// `+o NAME`, `-v NAME`...
    Rank(Rank, bool, &'a str),
}

/// What in a line of changes could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem<'a> {
    /// A letter this server does not know (IRC `472`).
    Unknown(char),
    /// A mode's argument is not valid (IRC `696`): the letter, the argument.
    BadArgument(char, &'a str),
    /// More changes with arguments than [`MAX_ARG_CHANGES`]; those after
    /// are dropped.
    TooMany,
}

impl Flag {
    /// The flag of `letter`, if it is one.
    fn of(letter: char) -> Option<Flag> {
        Some(match letter {
            'i' => Flag::InviteOnly,
            'm' => Flag::Moderated,
            'n' => Flag::NoOutside,
            's' => Flag::Secret,
            't' => Flag::TopicLocked,
            _ => return None,
        })
    }

    /// Its mode letter.
    pub fn letter(self) -> char {
        match self {
            Flag::InviteOnly => 'i',
            Flag::Moderated => 'm',
            Flag::NoOutside => 'n',
            Flag::Secret => 's',
            Flag::TopicLocked => 't',
        }
    }
}

/// Reads a line of changes: mode letters (with `+` and `-`) and then their
/// arguments, in order, as IRC's `MODE` writes them.
pub fn parse(line: &str) -> (Vec<Change<'_>>, Vec<Problem<'_>>) {
    let mut words = line.split(' ').filter(|word| !word.is_empty());
    let letters = words.next().unwrap_or("");
    let mut arguments = words;
    let (mut changes, mut problems) = (Vec::new(), Vec::new());
    let mut adding = true;
    let mut with_argument = 0;
    for letter in letters.chars() {
        match letter {
            '+' => adding = true,
            '-' => adding = false,
            _ => {}
        }
        if matches!(letter, '+' | '-') {
            continue;
        }
        if let Some(flag) = Flag::of(letter) {
            changes.push(Change::Flag(flag, adding));
            continue;
        }
        let takes_argument = match letter {
            // `k` is in CHANMODES' second group: an argument even to take
            // it off (if one is given).
            'b' | 'o' | 'v' | 'k' => true,
            'l' => adding,
            _ => {
                problems.push(Problem::Unknown(letter));
                continue;
            }
        };
        let argument = if takes_argument {
            arguments.next()
        } else {
            None
        };
        if takes_argument && argument.is_some() {
            with_argument += 1;
            if with_argument > MAX_ARG_CHANGES {
                if !problems.contains(&Problem::TooMany) {
                    problems.push(Problem::TooMany);
                }
                continue;
            }
        }
        match (letter, argument) {
            ('b', None) => changes.push(Change::ListBans),
            ('b', Some(mask)) if mask.len() > MAX_MASK_BYTES => {
                problems.push(Problem::BadArgument('b', mask));
            }
            ('b', Some(mask)) => changes.push(Change::Ban(adding, mask)),
            ('o' | 'v', None) => {}
            ('o' | 'v', Some(name)) => {
                let rank = match letter {
                    'o' => Rank::Operator,
                    _ => Rank::Voice,
                };
                changes.push(Change::Rank(rank, adding, name));
            }
            ('k', _) if !adding => changes.push(Change::Key(None)),
            ('k', Some(key)) if is_valid_key(key) => changes.push(Change::Key(Some(key))),
            ('k', key) => problems.push(Problem::BadArgument('k', key.unwrap_or(""))),
            ('l', _) if !adding => changes.push(Change::Limit(None)),
            // Not a positive number: ignored, as most IRC servers do.
            ('l', limit) => {
                if let Some(limit) = limit
                    .and_then(|l| l.parse::<usize>().ok())
                    .filter(|l| *l > 0)
                {
                    changes.push(Change::Limit(Some(limit)));
                }
            }
            _ => {}
        }
    }
    (changes, problems)
}

/// Whether `key` may be a room's key: 1 to [`MAX_KEY_CHARS`] printable
/// ASCII characters, no spaces, no `,` (which separates JOIN's keys).
pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

impl Modes {
    /// The modes of a room just made: `+nt`, as on most IRC servers.
    pub fn new_room() -> Modes {
        Modes {
            no_outside: true,
            topic_locked: true,
            ..Modes::default()
        }
    }

    /// The modes of a room read back from the log after a restart (modes
    /// are not kept): `+n`, as rooms were before they had modes.
    pub fn restored() -> Modes {
        Modes {
            no_outside: true,
            ..Modes::default()
        }
    }

    /// Whether `flag` is set.
    pub fn has(&self, flag: Flag) -> bool {
        match flag {
            Flag::InviteOnly => self.invite_only,
            Flag::Moderated => self.moderated,
            Flag::NoOutside => self.no_outside,
            Flag::Secret => self.secret,
            Flag::TopicLocked => self.topic_locked,
        }
    }

    /// Sets or clears `flag`; whether that changed anything.
    pub fn set(&mut self, flag: Flag, on: bool) -> bool {
        let slot = match flag {
            Flag::InviteOnly => &mut self.invite_only,
            Flag::Moderated => &mut self.moderated,
            Flag::NoOutside => &mut self.no_outside,
            Flag::Secret => &mut self.secret,
            Flag::TopicLocked => &mut self.topic_locked,
        };
        let changed = *slot != on;
        *slot = on;
        changed
    }

    /// Adds a ban; whether it is new (false too when the list is full).
    pub fn ban(&mut self, mask: &str, by: &str, time: u64) -> Result<bool, BansFull> {
        if self
            .bans
            .iter()
            .any(|ban| ban.mask.eq_ignore_ascii_case(mask))
        {
            return Ok(false);
        }
        if self.bans.len() >= MAX_BANS {
            return Err(BansFull);
        }
        self.bans.push(Ban {
            mask: mask.to_string(),
            by: by.to_string(),
            time,
        });
        Ok(true)
    }

    /// Lifts a ban (any case of it); whether there was one.
    pub fn unban(&mut self, mask: &str) -> bool {
        let before = self.bans.len();
        self.bans.retain(|ban| !ban.mask.eq_ignore_ascii_case(mask));
        self.bans.len() != before
    }

    /// Whether a ban matches `address` (`nick!user@host`), in any case.
    pub fn is_banned(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        self.bans
            .iter()
            .any(|ban| glob(&ban.mask.to_ascii_lowercase(), &address))
    }

    /// The modes written as IRC writes them (`+ntkl KEY 10`); the key
    /// shown only if `show_key` (to those in the room), `*` otherwise.
    pub fn describe(&self, show_key: bool) -> String {
        let mut letters = String::from("+");
        let mut arguments = Vec::new();
        for flag in [
            Flag::InviteOnly,
            Flag::Moderated,
            Flag::NoOutside,
            Flag::Secret,
            Flag::TopicLocked,
        ] {
            if self.has(flag) {
                letters.push(flag.letter());
            }
        }
        if let Some(key) = &self.key {
            letters.push('k');
            arguments.push(if show_key { key.clone() } else { "*".into() });
        }
        if let Some(limit) = self.limit {
            letters.push('l');
            arguments.push(limit.to_string());
        }
        arguments.insert(0, letters);
        arguments.join(" ")
    }
}

/// The ban list is full ([`MAX_BANS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BansFull;

/// The changes made, written as one IRC mode line: `+o-v bob carol`.
#[derive(Debug, Default)]
pub struct Applied {
    letters: String,
    arguments: Vec<String>,
    adding: Option<bool>,
}

impl Applied {
    /// One change made: `letter`, added or taken, with its argument.
    pub fn push(&mut self, adding: bool, letter: char, argument: Option<&str>) {
        if self.adding != Some(adding) {
            self.letters.push(if adding { '+' } else { '-' });
            self.adding = Some(adding);
        }
        self.letters.push(letter);
        if let Some(argument) = argument {
            self.arguments.push(argument.to_string());
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.letters.is_empty()
    }

    /// The line: letters, then arguments.
    pub fn line(&self) -> String {
        let mut line = self.letters.clone();
        for argument in &self.arguments {
            line.push(' ');
            line.push_str(argument);
        }
        line
    }
}

/// Whether `text` matches the IRC mask `pattern` (`*` any run, `?` one
/// character).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) =
        (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(at) = star {
            p = at + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_take_their_arguments_in_order() {
        let (changes, problems) = parse("+kl-o+v s3cret 10 bob carol");
        assert_eq!(
            changes,
            [
                Change::Key(Some("s3cret")),
                Change::Limit(Some(10)),
                Change::Rank(Rank::Operator, false, "bob"),
                Change::Rank(Rank::Voice, true, "carol"),
            ]
        );
        assert!(problems.is_empty());
        let (changes, _) = parse("-ntkl");
        assert_eq!(
            changes,
            [
                Change::Flag(Flag::NoOutside, false),
                Change::Flag(Flag::TopicLocked, false),
                Change::Key(None),
                Change::Limit(None),
            ]
        );
    }

    #[test]
    fn unknown_letters_and_bad_arguments_are_problems() {
        let (changes, problems) = parse("+mXz");
        assert_eq!(changes, [Change::Flag(Flag::Moderated, true)]);
        assert_eq!(problems, [Problem::Unknown('X'), Problem::Unknown('z')]);
        for key in ["", "a\tb", &"long".repeat(10), "a,b", "é"] {
            let line = format!("+k {key}");
            let (changes, problems) = parse(&line);
            assert!(changes.is_empty(), "{key:?}");
            assert!(
                matches!(problems[..], [Problem::BadArgument('k', _)]),
                "{key:?}"
            );
        }
        let mask = "x".repeat(MAX_MASK_BYTES + 1);
        let line = format!("+b {mask}");
        let (_, problems) = parse(&line);
        assert!(matches!(problems[..], [Problem::BadArgument('b', _)]));
        assert_eq!(parse(""), (vec![], vec![]));
        assert_eq!(parse("+"), (vec![], vec![]));
    }

    #[test]
    fn a_limit_that_is_not_a_positive_number_is_ignored() {
        for limit in ["0", "-1", "abc", ""] {
            let line = format!("+l {limit}");
            assert_eq!(parse(&line), (vec![], vec![]), "{limit:?}");
        }
    }

    #[test]
    fn changes_with_arguments_are_bounded() {
        let line = format!("+{} {}", "v".repeat(10), ["a"; 10].join(" "));
        let (changes, problems) = parse(&line);
        assert_eq!(changes.len(), MAX_ARG_CHANGES);
        assert_eq!(problems, [Problem::TooMany]);
        // Flags take no argument and are not counted.
        let (changes, problems) = parse("+imnstimnst");
        assert_eq!(changes.len(), 10);
        assert!(problems.is_empty());
    }

    #[test]
    fn b_alone_asks_for_the_list() {
        assert_eq!(parse("+b").0, [Change::ListBans]);
        assert_eq!(parse("b").0, [Change::ListBans]);
        assert_eq!(parse("-b bar!*@*").0, [Change::Ban(false, "bar!*@*")]);
    }

    #[test]
    fn bans_match_addresses_in_any_case_and_are_bounded() {
        let mut modes = Modes::new_room();
        assert_eq!(modes.ban("BAR!*@*", "op", 1), Ok(true));
        assert_eq!(modes.ban("bar!*@*", "op", 1), Ok(false));
        assert!(modes.is_banned("Bar!bar@irc"));
        assert!(!modes.is_banned("bart!bart@irc"));
        assert!(modes.unban("bar!*@*"));
        assert!(!modes.is_banned("bar!bar@irc"));
        for n in 0..MAX_BANS {
            modes.ban(&format!("n{n}!*@*"), "op", 1).unwrap();
        }
        assert_eq!(modes.ban("one!*@*", "op", 1), Err(BansFull));
    }

    #[test]
    fn modes_are_written_as_irc_writes_them() {
        let mut modes = Modes::new_room();
        assert_eq!(modes.describe(true), "+nt");
        modes.key = Some("beer".into());
        modes.limit = Some(3);
        modes.set(Flag::InviteOnly, true);
        assert_eq!(modes.describe(true), "+intkl beer 3");
        assert_eq!(modes.describe(false), "+intkl * 3");
        assert!(!modes.set(Flag::InviteOnly, true));
        assert_eq!(Modes::default().describe(true), "+");
        assert_eq!(Modes::restored().describe(true), "+n");
    }

    #[test]
    fn applied_changes_group_their_signs() {
        let mut applied = Applied::default();
        assert!(applied.is_empty());
        applied.push(true, 'o', Some("bob"));
        applied.push(true, 'm', None);
        applied.push(false, 'v', Some("carol"));
        assert_eq!(applied.line(), "+om-v bob carol");
    }

    #[test]
    fn masks_match_like_irc_masks() {
        assert!(glob("cool*", "coolnick"));
        assert!(glob("c?ol*k", "coolnick"));
        assert!(glob("*", "x"));
        assert!(!glob("cool", "coolnick"));
    }
}
