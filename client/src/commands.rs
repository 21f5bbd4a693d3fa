//! What a line typed at the chat prompt asks for, and what it makes the
//! desk do: the commands (`/msg`, `/r`, `/who`, `/notify`...), their list
//! for `/help` and `--help`, [`interpret`] to read a line, and
//! [`Commands`] to decide what it becomes here and now (sent to the room,
//! asked of the server, answered on this desk). Pure: the session sends and
//! prints what it decides.

use chat_shared::message::check_name;
use chat_shared::ClientLine;

use crate::chat_text::action_text;
use crate::notify::NotifyLevel;
use crate::outbox::Outgoing;

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
    meaning: "show \"* NAME ACTION\" to everyone",
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

/// Everything the client understands besides a message, in the order
/// `/help` and `--help` list it.
pub const COMMANDS: [CommandHelp; 10] = [
    CommandHelp {
        usage: "/who",
        meaning: "list who is online",
    },
    MSG,
    REPLY,
    ME,
    SEARCH,
    CommandHelp {
        usage: "//TEXT",
        meaning: "send /TEXT (//etc/hosts sends /etc/hosts)",
    },
    NOTIFY,
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
        "/notify" => argument
            .parse()
            .map_or(Typed::Misused(&NOTIFY), |level| Typed::Notify(Some(level))),
        word if word.starts_with('/') && word.len() > 1 => Typed::UnknownCommand(word),
        _ => Typed::Say(line),
    }
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
    /// `in_room` when the desk is in the room now.
    pub fn action<'a>(&self, line: &'a str, in_room: bool) -> Action<'a> {
        match interpret(line) {
            Typed::Nothing => Action::Nothing,
            Typed::Quit => Action::Leave,
            Typed::Who if in_room => Action::Ask(ClientLine::Who),
            Typed::Search(words) if in_room => {
                Action::Ask(ClientLine::Search { words, room: None })
            }
            Typed::Who | Typed::Search(_) => Action::Answer(Answer::NotConnected),
            Typed::Help => Action::Answer(Answer::Help),
            Typed::Notify(level) => Action::Notify(level),
            Typed::Misused(command) => Action::Answer(Answer::Misused(command)),
            Typed::UnknownCommand(word) => Action::Answer(Answer::UnknownCommand(word)),
            Typed::Me(action) => Action::Send(Outgoing::Room(action_text(action))),
            Typed::Say(text) => Action::Send(Outgoing::Room(text.to_string())),
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
            "/notify",
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
        let hello = Action::Send(Outgoing::Room("hello".to_string()));
        assert_eq!(commands.action("hello", true), hello);
        assert_eq!(commands.action("hello", false), hello);
    }

    #[test]
    fn an_action_is_sent_as_its_wire_text() {
        assert_eq!(
            Commands::default().action("/me waves", true),
            Action::Send(Outgoing::Room("/me waves".to_string()))
        );
    }

    #[test]
    fn msg_sends_a_direct_message() {
        assert_eq!(
            Commands::default().action("/msg bob lunch?", false),
            Action::Send(Outgoing::Direct {
                to: "bob".to_string(),
                text: "lunch?".to_string()
            })
        );
    }

    #[test]
    fn who_in_the_room_asks_the_server() {
        assert_eq!(
            Commands::default().action("/who", true),
            Action::Ask(ClientLine::Who)
        );
    }

    #[test]
    fn who_out_of_the_room_says_not_connected() {
        assert_eq!(
            Commands::default().action("/who", false),
            Action::Answer(Answer::NotConnected)
        );
    }

    #[test]
    fn search_out_of_the_room_says_not_connected() {
        assert_eq!(
            Commands::default().action("/search budget", false),
            Action::Answer(Answer::NotConnected)
        );
    }

    #[test]
    fn reply_with_nobody_to_answer_says_so() {
        assert_eq!(
            Commands::default().action("/r hi", true),
            Action::Answer(Answer::NobodyToReply)
        );
    }

    #[test]
    fn reply_answers_the_last_sender() {
        let mut commands = Commands::default();
        commands.direct_from("bob");
        commands.direct_from("carol");
        assert_eq!(
            commands.action("/r on my way", true),
            Action::Send(Outgoing::Direct {
                to: "carol".to_string(),
                text: "on my way".to_string()
            })
        );
    }

    #[test]
    fn quit_leaves() {
        assert_eq!(Commands::default().action("/quit", false), Action::Leave);
    }
}
