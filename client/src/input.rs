//! What the user types, and what it asks for. On a terminal a rustyline
//! editor reads each line (Up-arrow recalls earlier ones; incoming lines
//! are printed above it by `screen`); on pipes a plain reader does. Either
//! runs on its own thread and hands lines to the session as
//! [`InputEvent`]s. Owns the prompts and [`interpret`]; it sends nothing.

use std::io::{self, BufRead, Write};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread;

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Editor, Helper};
use unicode_width::UnicodeWidthChar;

use chat_shared::message::check_name;

use crate::notify::NotifyLevel;
use crate::screen::{Printer, Screen};

/// What the input thread tells the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    /// A line, without its line ending.
    Line(String),
    /// End of input: Ctrl-D on an empty line, or stdin closed.
    Closed,
    /// Ctrl-C while the editor reads (elsewhere Ctrl-C is a plain SIGINT).
    Interrupted,
}

/// Which question the next line answers; the editor shows its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The name to join as.
    Name,
    /// A message or a command.
    Chat,
}

impl Prompt {
    /// The prompt's text.
    pub fn text(self) -> &'static str {
        match self {
            Prompt::Name => "Enter your name: ",
            Prompt::Chat => "> ",
        }
    }
}

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

/// Where lines come from, before its thread starts.
pub enum Keyboard {
    /// A terminal: the line editor (boxed: it is large, and moved once).
    Editor(Box<LineEditor>),
    /// A pipe or file (or a terminal rustyline cannot drive).
    Plain,
}

/// The line editor with its helper.
pub type LineEditor = Editor<EchoEraser, DefaultHistory>;

/// Opens the keyboard and the screen that goes with it: the editor and its
/// external printer when stdin and stdout are both terminals, plain
/// reading and printing otherwise (the printer is refused with `ENOTTY`
/// then, and drawing an editor on a pipe would garble it).
pub fn open() -> (Keyboard, Arc<Screen>) {
    let Ok(mut editor) = LineEditor::new() else {
        return (Keyboard::Plain, Arc::new(Screen::plain()));
    };
    let printer: Printer = match editor.create_external_printer() {
        Ok(printer) => Box::new(printer),
        Err(_) => return (Keyboard::Plain, Arc::new(Screen::plain())),
    };
    let screen = Arc::new(Screen::with_editor(printer));
    editor.set_helper(Some(EchoEraser {
        screen: Arc::clone(&screen),
    }));
    (Keyboard::Editor(Box::new(editor)), screen)
}

/// The terminal's modes from before the line editor ran. rustyline puts
/// them back when a read returns; if the session must end in the middle of
/// one (the server refused the desk for good), the process would leave the
/// terminal raw and in bracketed-paste mode, so the session puts both back.
#[derive(Debug)]
pub struct TerminalModes {
    /// `None` when stdin is no terminal.
    #[cfg(unix)]
    saved: Option<libc::termios>,
}

impl TerminalModes {
    /// Saves stdin's modes, if it is a terminal. Called before the editor
    /// first reads.
    pub fn save() -> TerminalModes {
        #[cfg(unix)]
        {
            let mut modes = std::mem::MaybeUninit::<libc::termios>::uninit();
            // SAFETY: tcgetattr writes a termios into the pointer it is
            // given, and the value is only read when it reports success.
            let saved = unsafe {
                (libc::tcgetattr(libc::STDIN_FILENO, modes.as_mut_ptr()) == 0)
                    .then(|| modes.assume_init())
            };
            TerminalModes { saved }
        }
        #[cfg(not(unix))]
        TerminalModes {}
    }

    /// Puts the saved modes back and ends bracketed paste, while the
    /// editor is reading: the process is about to exit under it.
    pub fn restore(&self) {
        #[cfg(unix)]
        if let Some(modes) = &self.saved {
            // SAFETY: a termios that tcgetattr filled, for the same fd.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, modes);
            }
            let mut out = io::stdout().lock();
            // The editor's input line stays; what follows starts below it.
            let _ = out.write_all(b"\x1b[?2004l\r\n");
            let _ = out.flush();
        }
    }
}

/// What the session asks of the input thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read one line under this prompt. The editor reads only when asked,
    /// so its prompt always matches the question the session is asking,
    /// and it is never in raw mode while the session says goodbye.
    Read(Prompt),
    /// Add this line to the editor's history, so that Up-arrow brings it
    /// back (a message the room did not take).
    Recall(String),
}

impl Keyboard {
    /// Starts the thread that reads lines and passes them to `forward`
    /// until input ends, the user leaves, or `forward` returns false (the
    /// session is gone). The editor reads a line per [`Request::Read`]; the
    /// plain reader reads ahead and ignores `requests` (the session prints
    /// its prompts).
    pub fn start<F>(
        self,
        screen: Arc<Screen>,
        requests: Receiver<Request>,
        forward: F,
    ) -> io::Result<thread::JoinHandle<()>>
    where
        F: FnMut(InputEvent) -> bool + Send + 'static,
    {
        let builder = thread::Builder::new().name("input".into());
        match self {
            Keyboard::Editor(editor) => {
                builder.spawn(move || read_edited(*editor, &screen, &requests, forward))
            }
            Keyboard::Plain => builder.spawn(move || read_plain(forward)),
        }
    }
}

/// The editor's loop.
fn read_edited<F>(
    mut editor: LineEditor,
    screen: &Screen,
    requests: &Receiver<Request>,
    mut forward: F,
) where
    F: FnMut(InputEvent) -> bool,
{
    // Ends when the session is gone (its sender dropped).
    while let Ok(request) = requests.recv() {
        let prompt = match request {
            Request::Recall(line) => {
                let _ = editor.add_history_entry(line);
                continue;
            }
            Request::Read(prompt) => prompt,
        };
        screen.editing();
        let event = match editor.readline(prompt.text()) {
            Ok(line) => {
                let columns = editor.dimensions().map_or(0, |(columns, _)| columns);
                screen.line_entered(echo_rows(prompt.text(), &line, columns.into()));
                if prompt == Prompt::Chat && !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                // One event even for a paste of several lines, so that one
                // read answers one request.
                InputEvent::Line(line)
            }
            Err(ReadlineError::Interrupted) => {
                screen.line_entered(0);
                InputEvent::Interrupted
            }
            Err(_) => {
                screen.line_entered(0);
                InputEvent::Closed
            }
        };
        let last = !matches!(event, InputEvent::Line(_));
        if !forward(event) || last {
            return;
        }
    }
}

/// The plain reader's loop: lines up to `\n` (a `\r` before it is dropped),
/// invalid UTF-8 made U+FFFD.
fn read_plain<F>(mut forward: F)
where
    F: FnMut(InputEvent) -> bool,
{
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let event = match input.read_until(b'\n', &mut buf) {
            Ok(0) => InputEvent::Closed,
            Ok(_) => InputEvent::Line(strip_line_ending(&buf)),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => InputEvent::Closed,
        };
        let last = event == InputEvent::Closed;
        if !forward(event) || last {
            return;
        }
    }
}

fn strip_line_ending(raw: &[u8]) -> String {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// How many rows the editor used for `prompt` and `line` on a terminal
/// `columns` wide, counting the row its final line end moved to: how far
/// up the echo starts. Follows rustyline's own layout (wide characters
/// take two columns, a tab runs to the next multiple of 8, a row filled to
/// the last column wraps). 0 when the width is unknown.
pub fn echo_rows(prompt: &str, line: &str, columns: usize) -> usize {
    const TAB_STOP: usize = 8;
    if columns == 0 {
        return 0;
    }
    let (mut row, mut column) = (0, 0);
    for c in prompt.chars().chain(line.chars()) {
        if c == '\n' {
            row += 1;
            column = 0;
            continue;
        }
        let width = if c == '\t' {
            TAB_STOP - column % TAB_STOP
        } else {
            c.width().unwrap_or(0)
        };
        column += width;
        if column > columns {
            row += 1;
            column = width;
        }
    }
    if column == columns {
        row += 1;
    }
    row + 1
}

/// The editor's helper: tells the screen the moment Enter is pressed, so
/// nothing is printed between the echoed line and its erasing.
pub struct EchoEraser {
    screen: Arc<Screen>,
}

impl Validator for EchoEraser {
    fn validate(&self, _: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        // Called as Enter is handled, before the editor lets go of the
        // terminal: every line is complete, and from here on lines wait.
        self.screen.accepting();
        Ok(ValidationResult::Valid(None))
    }
}

impl Completer for EchoEraser {
    type Candidate = String;
}

impl Hinter for EchoEraser {
    type Hint = String;
}

impl Highlighter for EchoEraser {}

impl Helper for EchoEraser {}

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
    fn line_endings_are_stripped() {
        assert_eq!(strip_line_ending(b"hi\r\n"), "hi");
        assert_eq!(strip_line_ending(b"hi\n"), "hi");
        assert_eq!(strip_line_ending(b"hi"), "hi");
        assert_eq!(strip_line_ending(b"\xffhi\n"), "\u{FFFD}hi");
    }

    #[test]
    fn a_short_line_is_one_row() {
        assert_eq!(echo_rows("> ", "hello", 80), 1);
        assert_eq!(echo_rows("> ", "", 80), 1);
    }

    #[test]
    fn long_lines_wrap() {
        // 2 + 78 = 80 columns exactly: the cursor wraps to a second row.
        assert_eq!(echo_rows("> ", &"x".repeat(78), 80), 2);
        assert_eq!(echo_rows("> ", &"x".repeat(77), 80), 1);
        assert_eq!(echo_rows("> ", &"x".repeat(79), 80), 2);
        assert_eq!(echo_rows("> ", &"x".repeat(238), 80), 4);
    }

    #[test]
    fn wide_characters_take_two_columns() {
        // 2 + 2 * 39 = 80.
        assert_eq!(echo_rows("> ", &"李".repeat(39), 80), 2);
        // A wide character that does not fit wraps whole.
        assert_eq!(echo_rows("> ", &format!("{}李", "x".repeat(77)), 80), 2);
    }

    #[test]
    fn pasted_line_breaks_start_rows() {
        assert_eq!(echo_rows("> ", "one\ntwo", 80), 2);
    }

    #[test]
    fn unknown_width_erases_nothing() {
        assert_eq!(echo_rows("> ", "hello", 0), 0);
    }
}
