//! IRC lines as text, for both ends: reading one ([`Message::parse`]: tags,
//! command, parameters; the prefix is skipped) and writing one ([`Out`]).
//! The server's IRC desks read clients' lines and write theirs with it;
//! the load tool's IRC desks do the reverse.

/// Most parameters a message has.
const MAX_PARAMS: usize = 15;

/// One IRC line, read.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The tags, without the `@`, if any.
    pub tags: Option<&'a str>,
    /// The command, as sent (compare with [`Message::is`]).
    pub command: &'a str,
    /// The parameters, the trailing one unescaped of its `:`.
    pub params: Vec<&'a str>,
}

impl<'a> Message<'a> {
    /// Parses a line without its line end; `None` when it has no command.
    pub fn parse(line: &'a str) -> Option<Message<'a>> {
        let mut rest = line.trim_start_matches(' ');
        let mut tags = None;
        if let Some(tagged) = rest.strip_prefix('@') {
            let (found, after) = tagged.split_once(' ').unwrap_or((tagged, ""));
            tags = Some(found);
            rest = after.trim_start_matches(' ');
        }
        if rest.starts_with(':') {
            // Skipped: a client's prefix can only name itself, and the load
            // tool does not need the sender's.
            rest = rest.split_once(' ').map_or("", |(_, after)| after);
            rest = rest.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if params.len() == MAX_PARAMS - 1 || rest.starts_with(':') {
                params.push(rest.strip_prefix(':').unwrap_or(rest));
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param);
            rest = after;
        }
        Some(Message {
            tags,
            command,
            params,
        })
    }

    /// Whether the command is `name` (commands are case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.command.eq_ignore_ascii_case(name)
    }

    /// Parameter `index`, if it was sent.
    pub fn param(&self, index: usize) -> Option<&'a str> {
        self.params.get(index).copied()
    }

    /// The value of the tag `name`, if it was sent.
    pub fn tag(&self, name: &str) -> Option<&'a str> {
        self.tags?.split(';').find_map(|tag| {
            let (key, value) = tag.split_once('=').unwrap_or((tag, ""));
            (key == name).then_some(value)
        })
    }
}

/// Lines written one after another into one buffer (the server's: one
/// frame to one connection).
#[derive(Debug, Default)]
pub struct Out {
    bytes: Vec<u8>,
}

impl Out {
    /// An empty buffer.
    pub fn new() -> Out {
        Out::default()
    }

    /// Writes `@TAGS :PREFIX COMMAND PARAMS...` and the line end; the last
    /// parameter is written as a trailing one when it must be (empty,
    /// spaces, a leading `:`). `tags` is written as given, without `@`.
    pub fn line(&mut self, tags: &str, prefix: &str, command: &str, params: &[&str]) {
        self.write(tags, prefix, command, params, false);
    }

    /// The same, with the last parameter always written as a trailing one:
    /// for text (a message, a reason, a numeric's words), which clients
    /// expect after a `:` whatever it holds.
    pub fn text_line(&mut self, tags: &str, prefix: &str, command: &str, params: &[&str]) {
        self.write(tags, prefix, command, params, true);
    }

    fn write(&mut self, tags: &str, prefix: &str, command: &str, params: &[&str], text: bool) {
        if !tags.is_empty() {
            self.bytes.push(b'@');
            self.bytes.extend_from_slice(tags.as_bytes());
            self.bytes.push(b' ');
        }
        if !prefix.is_empty() {
            self.bytes.push(b':');
            self.bytes.extend_from_slice(prefix.as_bytes());
            self.bytes.push(b' ');
        }
        self.bytes.extend_from_slice(command.as_bytes());
        if let Some((last, middle)) = params.split_last() {
            for param in middle {
                self.bytes.push(b' ');
                self.bytes.extend_from_slice(param.as_bytes());
            }
            self.bytes.push(b' ');
            if text || last.is_empty() || last.contains(' ') || last.starts_with(':') {
                self.bytes.push(b':');
            }
            self.bytes.extend_from_slice(last.as_bytes());
        }
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_read_with_tags_prefix_and_trailing() {
        let m = Message::parse("@a=b;+c :nick!u@h PRIVMSG #chan :hello there").unwrap();
        assert_eq!(m.tags, Some("a=b;+c"));
        assert!(m.is("privmsg"));
        assert_eq!(m.params, ["#chan", "hello there"]);
        assert_eq!(m.tag("a"), Some("b"));
        assert_eq!(m.tag("+c"), Some(""));
        let m = Message::parse("NICK  foo").unwrap();
        assert_eq!(m.params, ["foo"]);
        let m = Message::parse("PRIVMSG #c :").unwrap();
        assert_eq!(m.params, ["#c", ""]);
        assert_eq!(Message::parse("   "), None);
    }

    #[test]
    fn the_fifteenth_parameter_takes_the_rest() {
        let line = format!(
            "CMD {}",
            (1..=17)
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let m = Message::parse(&line).unwrap();
        assert_eq!(m.params.len(), 15);
        assert_eq!(m.params[14], "15 16 17");
    }

    #[test]
    fn lines_are_written_with_a_trailing_parameter_when_needed() {
        let mut out = Out::new();
        out.line("", "srv", "001", &["nick", "Welcome home"]);
        out.line("time=x", "", "PING", &["token"]);
        out.line("", "srv", "331", &["nick", "#c", ""]);
        assert_eq!(
            String::from_utf8(out.into_bytes()).unwrap(),
            ":srv 001 nick :Welcome home\r\n@time=x PING token\r\n:srv 331 nick #c :\r\n"
        );
    }
}
