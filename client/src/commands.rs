//! What a line typed at the chat prompt asks for, and what it makes the
//! desk do: the commands (`/msg`, `/r`, `/who`, `/join`, `/go`,
//! `/notify`...), their list for `/help` and `--help`, [`interpret`] to
//! read a line, and [`Commands`] to decide what it becomes here and now
//! (sent to the current room, asked of the server, answered on this desk).
//! Pure: the session sends and prints what it decides.

use chat_shared::message::check_name;
use chat_shared::room::{check_room, RoomProblem, MAIN_ROOM};
use chat_shared::{ClientLine, RoomCommand};

use crate::chat_text::action_text;
use crate::notify::NotifyLevel;
use crate::outbox::Outgoing;
use crate::rooms::is_main;

/// One thing the user can type besides a message, for `/help` and `--help`.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandHelp {
    /// How it is typed.
    pub usage: &'static str,
    /// What it does.
    pub meaning: &'static str,
}

const ME: CommandHelp = CommandHelp {
    usage: "/me ACTION",
    meaning: "show \"* NAME ACTION\" in the current room",
};
const MSG: CommandHelp = CommandHelp {
    usage: "/msg NAME TEXT",
    meaning: "send TEXT to NAME alone; NAME must be online",
};
const REPLY: CommandHelp = CommandHelp {
    usage: "/r or /reply TEXT",
    meaning: "answer whoever last sent you a /msg",
};
const SEARCH: CommandHelp = CommandHelp {
    usage: "/search WORDS",
    meaning: "last 20 messages holding every word (/msg too)",
};
const NOTIFY: CommandHelp = CommandHelp {
    usage: "/notify [all|mentions|off]",
    meaning: "chime for all messages, mentions only, or none",
};
const NOTIFY_ROOM: CommandHelp = CommandHelp {
    usage: "/notify #ROOM on|off",
    meaning: "chime for ROOM's messages or not (mentions do)",
};
const JOIN: CommandHelp = CommandHelp {
    usage: "/join #ROOM [private|key K]",
    meaning: "enter ROOM, made if new (private: invited only)",
};
const PART: CommandHelp = CommandHelp {
    usage: "/part [#ROOM]",
    meaning: "leave ROOM (the current room if none)",
};
const GO: CommandHelp = CommandHelp {
    usage: "/go #ROOM",
    meaning: "send typed lines to ROOM (/go main: back)",
};
const ROOMS: CommandHelp = CommandHelp {
    usage: "/rooms",
    meaning: "list rooms: members, topic, your unread lines",
};
const TOPIC: CommandHelp = CommandHelp {
    usage: "/topic [TEXT]",
    meaning: "show or set the current room's topic",
};
const INVITE: CommandHelp = CommandHelp {
    usage: "/invite NAME",
    meaning: "let NAME into the current room",
};
const MODE: CommandHelp = CommandHelp {
    usage: "/mode [CHANGES]",
    meaning: "show or change the room's modes (+m, +o NAME)",
};
const KICK: CommandHelp = CommandHelp {
    usage: "/kick NAME [REASON]",
    meaning: "put NAME out of the current room (operators)",
};

/// Everything the client understands besides a message, in the order
/// `/help` and `--help` list it.
pub const COMMANDS: [CommandHelp; 19] = [
    CommandHelp {
        usage: "/who",
        meaning: "list who is online (in a room: who of it is)",
    },
    MSG,
    REPLY,
    ME,
    SEARCH,
    JOIN,
    PART,
    GO,
    ROOMS,
    TOPIC,
    INVITE,
    MODE,
    KICK,
    CommandHelp {
        usage: "//TEXT",
        meaning: "send /TEXT (//etc/hosts sends /etc/hosts)",
    },
    NOTIFY,
    NOTIFY_ROOM,
    CommandHelp {
        usage: "/help",
        meaning: "list these commands",
    },
    CommandHelp {
        usage: "q or /quit",
        meaning: "leave (also at the name prompt; Ctrl-C, Ctrl-D)",
    },
    CommandHelp {
        usage: "Up-arrow",
        meaning: "recall a line you typed",
    },
];

/// [`COMMANDS`], one indented line each, meanings aligned; each line fits
/// an 80-column terminal.
pub fn command_help() -> String {
    let width = COMMANDS.iter().map(|c| c.usage.len()).max().unwrap_or(0);
    COMMANDS
        .iter()
        .map(|c| format!("    {:width$}  {}\n", c.usage, c.meaning))
        .collect()
}

/// What a typed line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Typed<'a> {
    /// Blank: nothing to send.
    Nothing,
    /// `q` (as in the seed) or `/quit`.
    Quit,
    /// `/who`.
    Who,
    /// `/help`.
    Help,
    /// `/notify LEVEL`, or `/notify` alone (`None`): which level is on.
    Notify(Option<NotifyLevel>),
    /// `/notify #ROOM on|off`, or `/notify #ROOM` alone (`None`): whether
    /// the room's messages chime.
    NotifyRoom {
        /// The room.
        room: &'a str,
        /// On or off; `None` asks.
        on: Option<bool>,
    },
    /// `/join #ROOM [private | key KEY]`.
    Join {
        /// The room.
        room: &'a str,
        /// Whether a new room is made private.
        private: bool,
        /// The room's key (`key KEY`), for a room with one.
        key: Option<&'a str>,
    },
    /// `/part`, or `/part #ROOM`.
    Part(Option<&'a str>),
    /// `/go ROOM`: the room as typed (`#dev`, `dev`, `main`).
    Go(&'a str),
    /// `/rooms`.
    Rooms,
    /// `/topic`, or `/topic TEXT`.
    Topic(Option<&'a str>),
    /// `/invite NAME`.
    Invite(&'a str),
    /// `/mode`, or `/mode CHANGES`.
    Mode(&'a str),
    /// `/kick NAME [REASON]`.
    Kick {
        /// Who.
        name: &'a str,
        /// Why; empty for no reason.
        reason: &'a str,
    },
    /// A room command naming something that is no room's name.
    BadRoom {
        /// What was typed for the room.
        typed: &'a str,
        /// What is wrong with it.
        problem: RoomProblem,
    },
    /// `/me ACTION`.
    Me(&'a str),
    /// `/msg NAME TEXT`.
    Direct {
        /// Who it is for.
        to: &'a str,
        /// What to say.
        text: &'a str,
    },
    /// `/r TEXT` or `/reply TEXT`: a direct message to the last person who
    /// sent us one.
    Reply(&'a str),
    /// `/search WORDS`.
    Search(&'a str),
    /// A known command typed wrong (`/me` alone, `/notify loud`, `/msg` to
    /// a name nobody can have).
    Misused(&'static CommandHelp),
    /// Some other `/word`: not sent, so a typo does not become a message.
    UnknownCommand(&'a str),
    /// A message for everyone; `//text` says `/text`.
    Say(&'a str),
}

/// Reads what a typed line asks for.
pub fn interpret(line: &str) -> Typed<'_> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Typed::Nothing;
    }
    if trimmed.eq_ignore_ascii_case("q") || trimmed == "/quit" {
        return Typed::Quit;
    }
    if trimmed == "/who" {
        return Typed::Who;
    }
    // The first slash of `//` only says "this is text": `//etc` sends `/etc`.
    let unescaped = line.trim_start().strip_prefix('/');
    if let Some(text) = unescaped.filter(|text| text.starts_with('/')) {
        return Typed::Say(text);
    }
    let mut words = trimmed.splitn(2, char::is_whitespace);
    let command = words.next().unwrap_or_default();
    let argument = words.next().unwrap_or_default().trim();
    match command {
        "/help" => Typed::Help,
        "/me" if argument.is_empty() => Typed::Misused(&ME),
        "/me" => Typed::Me(argument),
        "/msg" => match argument.split_once(char::is_whitespace) {
            Some((to, text)) if check_name(to).is_ok() => Typed::Direct {
                to,
                text: text.trim(),
            },
            _ => Typed::Misused(&MSG),
        },
        "/r" | "/reply" if argument.is_empty() => Typed::Misused(&REPLY),
        "/r" | "/reply" => Typed::Reply(argument),
        "/search" if argument.is_empty() => Typed::Misused(&SEARCH),
        "/search" => Typed::Search(argument),
        "/notify" if argument.is_empty() => Typed::Notify(None),
        "/notify" if argument.starts_with('#') => notify_room(argument),
        "/notify" => argument
            .parse()
            .map_or(Typed::Misused(&NOTIFY), |level| Typed::Notify(Some(level))),
        "/join" => match words_of(argument)[..] {
            [room] => room_typed(room, |room| Typed::Join {
                room,
                private: false,
                key: None,
            }),
            [room, private] if private.eq_ignore_ascii_case("private") => {
                room_typed(room, |room| Typed::Join {
                    room,
                    private: true,
                    key: None,
                })
            }
            [room, word, key] if word.eq_ignore_ascii_case("key") => {
                room_typed(room, |room| Typed::Join {
                    room,
                    private: false,
                    key: Some(key),
                })
            }
            _ => Typed::Misused(&JOIN),
        },
        "/part" => match words_of(argument)[..] {
            [] => Typed::Part(None),
            [room] => room_typed(room, |room| Typed::Part(Some(room))),
            _ => Typed::Misused(&PART),
        },
        "/go" => match words_of(argument)[..] {
            [room] => Typed::Go(room),
            _ => Typed::Misused(&GO),
        },
        "/rooms" if argument.is_empty() => Typed::Rooms,
        "/rooms" => Typed::Misused(&ROOMS),
        "/topic" if argument.is_empty() => Typed::Topic(None),
        "/topic" => Typed::Topic(Some(argument)),
        "/invite" => match words_of(argument)[..] {
            [name] if check_name(name).is_ok() => Typed::Invite(name),
            _ => Typed::Misused(&INVITE),
        },
        "/mode" => Typed::Mode(argument),
        "/kick" => match argument.split_once(' ').unwrap_or((argument, "")) {
            (name, reason) if check_name(name).is_ok() => Typed::Kick {
                name,
                reason: reason.trim(),
            },
            _ => Typed::Misused(&KICK),
        },
        word if word.starts_with('/') && word.len() > 1 => Typed::UnknownCommand(word),
        _ => Typed::Say(line),
    }
}

/// The words of a command's argument.
fn words_of(argument: &str) -> Vec<&str> {
    argument.split_whitespace().collect()
}

/// `typed` as a room's name for `command`, or why it is none.
fn room_typed<'a>(typed: &'a str, command: impl FnOnce(&'a str) -> Typed<'a>) -> Typed<'a> {
    match check_room(typed) {
        Ok(()) => command(typed),
        Err(problem) => Typed::BadRoom { typed, problem },
    }
}

/// `/notify #ROOM [on|off]`.
fn notify_room(argument: &str) -> Typed<'_> {
    let (room, on) = match words_of(argument)[..] {
        [room] => (room, None),
        [room, on] if on.eq_ignore_ascii_case("on") => (room, Some(true)),
        [room, off] if off.eq_ignore_ascii_case("off") => (room, Some(false)),
        _ => return Typed::Misused(&NOTIFY_ROOM),
    };
    room_typed(room, |room| Typed::NotifyRoom { room, on })
}

/// What a typed line makes the desk do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Nothing (a blank line).
    Nothing,
    /// Leave the room and end the session.
    Leave,
    /// Ask the server this now (`/who`, `/search`); only in the room.
    Ask(ClientLine<'a>),
    /// Send one of the user's lines: now if the desk is in the room, else
    /// once it is back.
    Send(Outgoing),
    /// Change the chime level (`None` keeps it), and say which is on.
    Notify(Option<NotifyLevel>),
    /// Let a room's messages chime or not (`None` keeps it), and say which.
    NotifyRoom {
        /// The room.
        room: &'a str,
        /// On or off; `None` asks.
        on: Option<bool>,
    },
    /// Enter a room (made if new) and talk there once in; only in the room.
    Enter {
        /// The room.
        room: &'a str,
        /// Whether a new room is made private.
        private: bool,
        /// The room's key, for a room with one.
        key: Option<&'a str>,
    },
    /// Leave a room (not `#main`); only in the room.
    Part(&'a str),
    /// Send typed lines to this room (as typed) from now on.
    Go(&'a str),
    /// Let this person into the current room (the server says nothing
    /// back when it works); only in the room.
    Invite {
        /// The room.
        room: &'a str,
        /// Who.
        name: &'a str,
    },
    /// Answer on this desk; nothing is sent.
    Answer(Answer<'a>),
}

/// A typed line the desk answers itself.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    /// `/help`: the list of commands.
    Help,
    /// A question for the server while the desk is out of the room.
    NotConnected,
    /// `/r` before anyone sent a direct message.
    NobodyToReply,
    /// A known command typed wrong: its usage.
    Misused(&'static CommandHelp),
    /// A `/word` no command has.
    UnknownCommand(&'a str),
    /// A room's name typed wrong.
    BadRoom {
        /// What was typed.
        typed: &'a str,
        /// What is wrong with it.
        problem: RoomProblem,
    },
    /// `/part` or `/invite` in `#main`, which everyone is in.
    EveryoneInMain,
}

/// What the commands remember between lines: who `/r` answers.
#[derive(Debug, Default)]
pub struct Commands {
    /// The last person who sent us a direct message, live or replayed.
    reply_to: Option<String>,
}

impl Commands {
    /// A direct message from `name` (not ours) was shown: `/r` answers them.
    pub fn direct_from(&mut self, name: &str) {
        self.reply_to = Some(name.to_string());
    }

    /// What `line`, typed at the chat prompt, makes the desk do;
    /// `in_room` when the desk is in the room now, `current` the room typed
    /// lines go to (`None`: `#main`).
    pub fn action<'a>(&self, line: &'a str, in_room: bool, current: Option<&'a str>) -> Action<'a> {
        let here = current.unwrap_or(MAIN_ROOM);
        let message = |text: String| Outgoing::Message {
            room: current.map(str::to_string),
            text,
        };
        match interpret(line) {
            Typed::Nothing => Action::Nothing,
            Typed::Quit => Action::Leave,
            Typed::Part(room) if is_main(room.unwrap_or(here)) => {
                Action::Answer(Answer::EveryoneInMain)
            }
            Typed::Invite(_) | Typed::Kick { .. } if current.is_none() => {
                Action::Answer(Answer::EveryoneInMain)
            }
            Typed::Who if in_room => match current {
                None => Action::Ask(ClientLine::Who),
                Some(room) => Action::Ask(ClientLine::Room(RoomCommand::Who { room })),
            },
            Typed::Search(words) if in_room => {
                Action::Ask(ClientLine::Search { words, room: None })
            }
            Typed::Rooms if in_room => Action::Ask(ClientLine::Room(RoomCommand::List)),
            Typed::Topic(text) if in_room => {
                Action::Ask(ClientLine::Room(RoomCommand::Topic { room: here, text }))
            }
            Typed::Join { room, private, key } if in_room => Action::Enter { room, private, key },
            Typed::Part(room) if in_room => Action::Part(room.unwrap_or(here)),
            Typed::Invite(name) if in_room => Action::Invite { room: here, name },
            Typed::Mode(changes) if in_room => Action::Ask(ClientLine::Room(RoomCommand::Mode {
                room: here,
                changes,
            })),
            Typed::Kick { name, reason } if in_room => {
                Action::Ask(ClientLine::Room(RoomCommand::Kick {
                    room: here,
                    name,
                    reason,
                }))
            }
            Typed::Who
            | Typed::Search(_)
            | Typed::Rooms
            | Typed::Topic(_)
            | Typed::Join { .. }
            | Typed::Part(_)
            | Typed::Invite(_)
            | Typed::Mode(_)
            | Typed::Kick { .. } => Action::Answer(Answer::NotConnected),
            Typed::Go(room) => Action::Go(room),
            Typed::Help => Action::Answer(Answer::Help),
            Typed::Notify(level) => Action::Notify(level),
            Typed::NotifyRoom { room, on } => Action::NotifyRoom { room, on },
            Typed::BadRoom { typed, problem } => Action::Answer(Answer::BadRoom { typed, problem }),
            Typed::Misused(command) => Action::Answer(Answer::Misused(command)),
            Typed::UnknownCommand(word) => Action::Answer(Answer::UnknownCommand(word)),
            Typed::Me(action) => Action::Send(message(action_text(action))),
            Typed::Say(text) => Action::Send(message(text.to_string())),
            Typed::Direct { to, text } => Action::Send(Outgoing::Direct {
                to: to.to_string(),
                text: text.to_string(),
            }),
            Typed::Reply(text) => match &self.reply_to {
                Some(to) => Action::Send(Outgoing::Direct {
                    to: to.clone(),
                    text: text.to_string(),
                }),
                None => Action::Answer(Answer::NobodyToReply),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_send_nothing() {
        assert_eq!(interpret(""), Typed::Nothing);
        assert_eq!(interpret("   "), Typed::Nothing);
    }

    #[test]
    fn q_and_quit_leave() {
        assert_eq!(interpret("q"), Typed::Quit);
        assert_eq!(interpret("Q"), Typed::Quit);
        assert_eq!(interpret(" q "), Typed::Quit);
        assert_eq!(interpret("/quit"), Typed::Quit);
    }

    #[test]
    fn who() {
        assert_eq!(interpret("/who"), Typed::Who);
    }

    #[test]
    fn unknown_command_is_not_sent() {
        assert_eq!(interpret("/dance now"), Typed::UnknownCommand("/dance"));
        assert_eq!(
            interpret("/etc/hosts is broken"),
            Typed::UnknownCommand("/etc/hosts")
        );
    }

    #[test]
    fn a_double_slash_sends_a_line_starting_with_one() {
        assert_eq!(
            interpret("//etc/hosts is broken"),
            Typed::Say("/etc/hosts is broken")
        );
        assert_eq!(interpret("  //me too "), Typed::Say("/me too "));
        assert_eq!(interpret("//"), Typed::Say("/"));
    }

    #[test]
    fn me_is_an_action() {
        assert_eq!(interpret("/me waves"), Typed::Me("waves"));
        assert_eq!(interpret(" /me  waves at bob "), Typed::Me("waves at bob"));
        assert_eq!(interpret("/me"), Typed::Misused(&ME));
        assert_eq!(interpret("/me   "), Typed::Misused(&ME));
        assert_eq!(interpret("/meow"), Typed::UnknownCommand("/meow"));
    }

    #[test]
    fn msg_is_a_direct_message_to_one_name() {
        assert_eq!(
            interpret("/msg bob  lunch at  12? "),
            Typed::Direct {
                to: "bob",
                text: "lunch at  12?"
            }
        );
        assert_eq!(interpret("/msg bob"), Typed::Misused(&MSG));
        assert_eq!(interpret("/msg bob   "), Typed::Misused(&MSG));
        assert_eq!(interpret("/msg"), Typed::Misused(&MSG));
        // A name nobody can have is refused here, not sent.
        assert_eq!(interpret("/msg <SEP> hi"), Typed::Misused(&MSG));
    }

    #[test]
    fn r_and_reply_answer_and_search_looks() {
        assert_eq!(interpret("/r on my way"), Typed::Reply("on my way"));
        assert_eq!(interpret("/reply  on my way "), Typed::Reply("on my way"));
        assert_eq!(interpret("/r"), Typed::Misused(&REPLY));
        assert_eq!(interpret("/reply "), Typed::Misused(&REPLY));
        assert_eq!(interpret("/search budget q3"), Typed::Search("budget q3"));
        assert_eq!(interpret("/search"), Typed::Misused(&SEARCH));
    }

    #[test]
    fn notify_sets_or_shows_the_level() {
        assert_eq!(interpret("/notify"), Typed::Notify(None));
        assert_eq!(
            interpret("/notify mentions"),
            Typed::Notify(Some(NotifyLevel::Mentions))
        );
        assert_eq!(
            interpret("/notify OFF"),
            Typed::Notify(Some(NotifyLevel::Off))
        );
        assert_eq!(
            interpret("/notify all"),
            Typed::Notify(Some(NotifyLevel::All))
        );
        assert_eq!(interpret("/notify loud"), Typed::Misused(&NOTIFY));
    }

    #[test]
    fn help_lists_every_command_once_aligned() {
        assert_eq!(interpret("/help"), Typed::Help);
        let help = command_help();
        for command in [
            "/who",
            "/msg NAME TEXT",
            "/r or /reply TEXT",
            "/me ACTION",
            "/search WORDS",
            "//TEXT",
            "/notify [",
            "/notify #ROOM",
            "/join #ROOM [private|key K]",
            "/part [#ROOM]",
            "/go #ROOM",
            "/rooms",
            "/topic [TEXT]",
            "/invite NAME",
            "/mode [CHANGES]",
            "/kick NAME [REASON]",
            "/help",
            "q or /quit",
        ] {
            assert_eq!(
                help.lines()
                    .filter(|l| l.trim_start().starts_with(command))
                    .count(),
                1,
                "{command}: {help}"
            );
        }
        let columns: Vec<Option<usize>> = COMMANDS
            .iter()
            .zip(help.lines())
            .map(|(command, line)| line.find(command.meaning))
            .collect();
        assert!(columns[0].is_some(), "{help}");
        assert!(
            help.lines().all(|line| line.chars().count() <= 80),
            "{help}"
        );
        assert!(columns.windows(2).all(|w| w[0] == w[1]), "{help}");
    }

    #[test]
    fn text_is_sent_as_typed() {
        assert_eq!(interpret("hello there"), Typed::Say("hello there"));
        assert_eq!(interpret(" q is a letter"), Typed::Say(" q is a letter"));
        assert_eq!(interpret("a/b"), Typed::Say("a/b"));
        assert_eq!(interpret("/"), Typed::Say("/"));
        assert_eq!(interpret("bell\x07"), Typed::Say("bell\x07"));
    }

    #[test]
    fn a_message_is_sent_to_the_room_in_or_out_of_it() {
        let commands = Commands::default();
        let hello = Action::Send(Outgoing::main("hello"));
        assert_eq!(commands.action("hello", true, None), hello);
        assert_eq!(commands.action("hello", false, None), hello);
    }

    #[test]
    fn an_action_is_sent_as_its_wire_text() {
        assert_eq!(
            Commands::default().action("/me waves", true, None),
            Action::Send(Outgoing::main("/me waves"))
        );
    }

    #[test]
    fn msg_sends_a_direct_message() {
        assert_eq!(
            Commands::default().action("/msg bob lunch?", false, None),
            Action::Send(Outgoing::Direct {
                to: "bob".to_string(),
                text: "lunch?".to_string()
            })
        );
    }

    #[test]
    fn who_in_the_room_asks_the_server() {
        assert_eq!(
            Commands::default().action("/who", true, None),
            Action::Ask(ClientLine::Who)
        );
    }

    #[test]
    fn who_in_another_room_asks_who_of_it_is_online() {
        assert_eq!(
            Commands::default().action("/who", true, Some("#dev")),
            Action::Ask(ClientLine::Room(RoomCommand::Who { room: "#dev" }))
        );
    }

    #[test]
    fn who_out_of_the_room_says_not_connected() {
        assert_eq!(
            Commands::default().action("/who", false, None),
            Action::Answer(Answer::NotConnected)
        );
    }

    #[test]
    fn search_out_of_the_room_says_not_connected() {
        assert_eq!(
            Commands::default().action("/search budget", false, None),
            Action::Answer(Answer::NotConnected)
        );
    }

    #[test]
    fn reply_with_nobody_to_answer_says_so() {
        assert_eq!(
            Commands::default().action("/r hi", true, None),
            Action::Answer(Answer::NobodyToReply)
        );
    }

    #[test]
    fn reply_answers_the_last_sender() {
        let mut commands = Commands::default();
        commands.direct_from("bob");
        commands.direct_from("carol");
        assert_eq!(
            commands.action("/r on my way", true, None),
            Action::Send(Outgoing::Direct {
                to: "carol".to_string(),
                text: "on my way".to_string()
            })
        );
    }

    #[test]
    fn room_commands_read_their_rooms() {
        assert_eq!(
            interpret("/join #dev"),
            Typed::Join {
                room: "#dev",
                private: false,
                key: None
            }
        );
        assert_eq!(
            interpret("/join  #hr  Private"),
            Typed::Join {
                room: "#hr",
                private: true,
                key: None
            }
        );
        assert_eq!(
            interpret("/join #ops key beer"),
            Typed::Join {
                room: "#ops",
                private: false,
                key: Some("beer")
            }
        );
        assert_eq!(interpret("/join"), Typed::Misused(&JOIN));
        assert_eq!(interpret("/join #a #b"), Typed::Misused(&JOIN));
        assert_eq!(
            interpret("/join dev"),
            Typed::BadRoom {
                typed: "dev",
                problem: RoomProblem::NoHash
            }
        );
        assert_eq!(
            interpret("/join #a,b"),
            Typed::BadRoom {
                typed: "#a,b",
                problem: RoomProblem::BadCharacter
            }
        );
        assert_eq!(interpret("/part"), Typed::Part(None));
        assert_eq!(interpret("/part #dev"), Typed::Part(Some("#dev")));
        assert_eq!(interpret("/go main"), Typed::Go("main"));
        assert_eq!(interpret("/go"), Typed::Misused(&GO));
        assert_eq!(interpret("/rooms"), Typed::Rooms);
        assert_eq!(interpret("/rooms all"), Typed::Misused(&ROOMS));
        assert_eq!(interpret("/topic"), Typed::Topic(None));
        assert_eq!(
            interpret("/topic ship it  friday "),
            Typed::Topic(Some("ship it  friday"))
        );
        assert_eq!(interpret("/invite bob"), Typed::Invite("bob"));
        assert_eq!(interpret("/invite bob carol"), Typed::Misused(&INVITE));
    }

    #[test]
    fn notify_takes_a_room_on_or_off() {
        assert_eq!(
            interpret("/notify #random off"),
            Typed::NotifyRoom {
                room: "#random",
                on: Some(false)
            }
        );
        assert_eq!(
            interpret("/notify #random ON"),
            Typed::NotifyRoom {
                room: "#random",
                on: Some(true)
            }
        );
        assert_eq!(
            interpret("/notify #random"),
            Typed::NotifyRoom {
                room: "#random",
                on: None
            }
        );
        assert_eq!(
            interpret("/notify #random loud"),
            Typed::Misused(&NOTIFY_ROOM)
        );
        assert!(matches!(interpret("/notify #a b off"), Typed::Misused(_)));
    }

    #[test]
    fn a_line_goes_to_the_current_room() {
        let commands = Commands::default();
        assert_eq!(
            commands.action("hello", true, Some("#dev")),
            Action::Send(Outgoing::Message {
                room: Some("#dev".to_string()),
                text: "hello".to_string()
            })
        );
        assert_eq!(
            commands.action("/me waves", false, Some("#dev")),
            Action::Send(Outgoing::Message {
                room: Some("#dev".to_string()),
                text: "/me waves".to_string()
            })
        );
    }

    #[test]
    fn room_commands_act_on_the_current_room() {
        let commands = Commands::default();
        let dev = Some("#dev");
        assert_eq!(commands.action("/part", true, dev), Action::Part("#dev"));
        assert_eq!(
            commands.action("/part #ops", true, dev),
            Action::Part("#ops")
        );
        assert_eq!(
            commands.action("/topic", true, dev),
            Action::Ask(ClientLine::Room(RoomCommand::Topic {
                room: "#dev",
                text: None
            }))
        );
        assert_eq!(
            commands.action("/invite bob", true, dev),
            Action::Invite {
                room: "#dev",
                name: "bob"
            }
        );
        assert_eq!(
            commands.action("/join #hr private", true, dev),
            Action::Enter {
                room: "#hr",
                private: true,
                key: None
            }
        );
        assert_eq!(
            commands.action("/rooms", true, None),
            Action::Ask(ClientLine::Room(RoomCommand::List))
        );
        assert_eq!(
            commands.action("/topic", true, None),
            Action::Ask(ClientLine::Room(RoomCommand::Topic {
                room: "#main",
                text: None
            }))
        );
        assert_eq!(commands.action("/go #ops", false, dev), Action::Go("#ops"));
        assert_eq!(
            commands.action("/mode +m", true, dev),
            Action::Ask(ClientLine::Room(RoomCommand::Mode {
                room: "#dev",
                changes: "+m"
            }))
        );
        assert_eq!(
            commands.action("/kick bob  too loud", true, dev),
            Action::Ask(ClientLine::Room(RoomCommand::Kick {
                room: "#dev",
                name: "bob",
                reason: "too loud"
            }))
        );
        assert_eq!(
            commands.action("/kick", true, dev),
            Action::Answer(Answer::Misused(&KICK))
        );
    }

    #[test]
    fn main_cannot_be_left_nor_invited_to() {
        let commands = Commands::default();
        for line in ["/part", "/part #Main", "/invite bob", "/kick bob"] {
            assert_eq!(
                commands.action(line, true, None),
                Action::Answer(Answer::EveryoneInMain),
                "{line}"
            );
        }
        assert_eq!(
            commands.action("/part #main", true, Some("#dev")),
            Action::Answer(Answer::EveryoneInMain)
        );
    }

    #[test]
    fn room_commands_out_of_the_room_say_not_connected() {
        let commands = Commands::default();
        for line in [
            "/rooms",
            "/topic",
            "/join #dev",
            "/part #dev",
            "/invite bob",
        ] {
            assert_eq!(
                commands.action(line, false, Some("#dev")),
                Action::Answer(Answer::NotConnected),
                "{line}"
            );
        }
    }

    #[test]
    fn quit_leaves() {
        assert_eq!(
            Commands::default().action("/quit", false, None),
            Action::Leave
        );
    }
}
