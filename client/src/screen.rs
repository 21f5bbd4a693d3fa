//! Where every line the client shows goes. On a terminal the line editor
//! owns the bottom line, so lines are printed above it through rustyline's
//! external printer and the half-typed input stays intact; on pipes they
//! are plain `println`s. Also erases the editor's echo of a line the user
//! just entered, so that the server's copy is the only one shown.
//!
//! What is rendered is `render`'s business; reading keys is `input`'s.

use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard};

use rustyline::ExternalPrinter;

/// The line editor's printer, boxed so the rest of the client need not
/// name rustyline's terminal type.
pub type Printer = Box<dyn ExternalPrinter + Send>;

/// The client's output.
pub struct Screen {
    /// `None` on pipes: plain printing.
    editor: Option<EditorOutput>,
}

/// Output while a line editor owns the terminal.
struct EditorOutput {
    /// Prints above the line being edited (it waits for the editor to
    /// draw, so it is never called with `state` held: see [`Screen::print`]).
    printer: Mutex<Printer>,
    /// Where the editor is; decides how a line gets to the screen.
    state: Mutex<EditorState>,
}

/// Where the line editor is in reading a line.
enum EditorState {
    /// Not reading (between two lines, or not started): the terminal is in
    /// its normal mode and lines are written straight to it.
    Idle,
    /// Reading: lines go through the external printer, which draws them
    /// above the input line. The printer hands a line to the editor's
    /// loop, which prefers keys: a line handed over in the same instant as
    /// Enter is drawn only once the next prompt appears, after the lines
    /// held meanwhile, so two lines can trade places on screen (never
    /// lost, never doubled). rustyline offers no way to flush it sooner.
    Editing,
    /// The user pressed Enter and the editor is finishing: lines are held,
    /// because writing now would land between the echoed input and the
    /// erasing of it. [`Screen::line_entered`] writes them.
    Accepting(Vec<String>),
}

impl Screen {
    /// Plain output, for pipes.
    pub fn plain() -> Screen {
        Screen { editor: None }
    }

    /// Output above a line editor's input line.
    pub fn with_editor(printer: Printer) -> Screen {
        Screen {
            editor: Some(EditorOutput {
                printer: Mutex::new(printer),
                state: Mutex::new(EditorState::Idle),
            }),
        }
    }

    /// Whether a line editor owns the terminal.
    pub fn has_editor(&self) -> bool {
        self.editor.is_some()
    }

    /// Shows one line. Write errors (a closed pipe, a gone terminal) are
    /// ignored: the session ends on its own when input or the user does.
    pub fn print(&self, text: &str) {
        let Some(editor) = &self.editor else {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
            return;
        };
        let mut state = lock(&editor.state);
        match &mut *state {
            EditorState::Idle => write_now(&format!("{text}\n")),
            EditorState::Accepting(held) => held.push(text.to_string()),
            EditorState::Editing => {
                // The printer may block until the editor takes the line;
                // the editor needs `state` to finish a line, so let go of
                // it first.
                drop(state);
                let _ = lock(&editor.printer).print(format!("{text}\n"));
            }
        }
    }

    /// Shows a prompt without a line end (plain output only: the editor
    /// draws its own prompt).
    pub fn prompt(&self, text: &str) {
        if self.editor.is_none() {
            write_now(text);
        }
    }

    /// The editor is about to read a line.
    pub fn editing(&self) {
        self.set_state(EditorState::Editing);
    }

    /// The user pressed Enter; the editor is still drawing.
    pub fn accepting(&self) {
        self.set_state(EditorState::Accepting(Vec::new()));
    }

    /// The editor returned a line it echoed on `echo_rows` rows, the cursor
    /// now below them: erases them (0 keeps them), then shows what was held.
    pub fn line_entered(&self, echo_rows: usize) {
        let Some(editor) = &self.editor else {
            return;
        };
        let mut state = lock(&editor.state);
        let mut out = String::new();
        if echo_rows > 0 {
            // Up to the first echoed row, to its start, and clear to the
            // end of the screen.
            out.push_str(&format!("\x1b[{echo_rows}A\r\x1b[J"));
        }
        if let EditorState::Accepting(held) = &*state {
            for line in held {
                out.push_str(line);
                out.push('\n');
            }
        }
        write_now(&out);
        *state = EditorState::Idle;
    }

    fn set_state(&self, new: EditorState) {
        if let Some(editor) = &self.editor {
            *lock(&editor.state) = new;
        }
    }
}

/// Writes and flushes stdout, ignoring errors as [`Screen::print`] does.
fn write_now(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A poisoned lock is still usable: every holder leaves the state whole
/// (one assignment or one push).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
