//! Reading what the user types. On a terminal a rustyline editor reads
//! each line (Up-arrow recalls earlier ones; incoming lines are printed
//! above it by `screen`); on pipes a plain reader does. Either runs on its
//! own thread and hands lines to the session as [`InputEvent`]s; [`Input`]
//! is the session's side of it. Owns the prompts; what a line means is
//! `commands`'s business, and it sends nothing.

use std::borrow::Cow;
use std::io::{self, BufRead, Write};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;

use chat_shared::sanitize::clean;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Editor, Helper};
use unicode_width::UnicodeWidthChar;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// The name to join as.
    Name,
    /// A message or a command, for this room (`None`: `#main`).
    Chat(Option<String>),
}

impl Prompt {
    /// The prompt's text: `> ` in `#main`, `#dev> ` in `#dev`.
    pub fn text(&self) -> Cow<'static, str> {
        match self {
            Prompt::Name => "Enter your name: ".into(),
            Prompt::Chat(None) => "> ".into(),
            Prompt::Chat(Some(room)) => format!("{}> ", clean(room)).into(),
        }
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
enum Request {
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
    fn start<F>(
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

/// Where the input thread's events go.
type Forward = Box<dyn FnMut(InputEvent) -> bool + Send>;

/// The session's side of the input thread: starts it when the first line
/// is wanted, asks it for each line under its prompt, and hands it lines
/// to recall.
pub struct Input {
    /// Until the first line is wanted: the keyboard, the receiving end of
    /// `requests`, and where its events go. Started late so that nothing
    /// reads the terminal before there is a question to answer.
    unstarted: Option<(Keyboard, Receiver<Request>, Forward)>,
    /// To the input thread.
    requests: Sender<Request>,
    /// The prompt of the line the editor is reading, if it is.
    reading: Option<Prompt>,
    /// Where the prompts go, with plain input, and the editor's output.
    screen: Arc<Screen>,
}

impl Input {
    /// Input from `keyboard`, whose events will go to `forward`.
    pub fn new<F>(keyboard: Keyboard, screen: Arc<Screen>, forward: F) -> Input
    where
        F: FnMut(InputEvent) -> bool + Send + 'static,
    {
        let (requests, request_inbox) = mpsc::channel();
        Input {
            unstarted: Some((keyboard, request_inbox, Box::new(forward))),
            requests,
            reading: None,
            screen,
        }
    }

    /// Asks for the next line under `prompt`: the editor reads one; plain
    /// input reads ahead anyway, so only the name prompt is printed. Does
    /// nothing while the editor is already reading one (it answers
    /// whatever is being asked when it comes).
    pub fn read_line(&mut self, prompt: Prompt) {
        if let Some((keyboard, requests, forward)) = self.unstarted.take() {
            if let Err(err) = keyboard.start(Arc::clone(&self.screen), requests, forward) {
                self.screen
                    .print(&format!("[!] Cannot read the keyboard: {err}"));
            }
        }
        if !self.screen.has_editor() {
            if prompt == Prompt::Name {
                self.screen.prompt(&prompt.text());
            }
            return;
        }
        if self.reading.is_none() && self.requests.send(Request::Read(prompt.clone())).is_ok() {
            self.reading = Some(prompt);
        }
    }

    /// An event came from the input thread: the editor is no longer
    /// reading.
    pub fn answered(&mut self) {
        self.reading = None;
    }

    /// Whether the editor is reading a line: the terminal is in its modes.
    pub fn is_reading(&self) -> bool {
        self.reading.is_some()
    }

    /// Puts `typed` in the editor's history, where Up-arrow finds it;
    /// false without an editor.
    pub fn recall(&self, typed: &str) -> bool {
        self.screen.has_editor()
            && self
                .requests
                .send(Request::Recall(typed.to_string()))
                .is_ok()
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
        let text = prompt.text();
        let event = match editor.readline(text.as_ref()) {
            Ok(line) => {
                let columns = editor.dimensions().map_or(0, |(columns, _)| columns);
                screen.line_entered(echo_rows(&text, &line, columns.into()));
                if prompt != Prompt::Name && !line.trim().is_empty() {
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
    fn line_endings_are_stripped() {
        assert_eq!(strip_line_ending(b"hi\r\n"), "hi");
        assert_eq!(strip_line_ending(b"hi\n"), "hi");
        assert_eq!(strip_line_ending(b"hi"), "hi");
        assert_eq!(strip_line_ending(b"\xffhi\n"), "\u{FFFD}hi");
    }

    #[test]
    fn the_chat_prompt_names_a_room_other_than_main() {
        assert_eq!(Prompt::Chat(None).text(), "> ");
        assert_eq!(Prompt::Chat(Some("#dev".to_string())).text(), "#dev> ");
        assert_eq!(Prompt::Name.text(), "Enter your name: ");
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
