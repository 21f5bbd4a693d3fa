//! The known-hosts file: which certificate each server showed the first time
//! this user connected to it over TLS without `--ca` or `--fingerprint`, as
//! SSH keeps `~/.ssh/known_hosts`. One line per server, `HOST:PORT
//! SHA256:...`; blank lines and lines starting with `#` are ignored. Owns
//! the file's location, format, reading and appending; deciding what a
//! mismatch means is `tls`'s business.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chat_shared::Fingerprint;

/// The file, under the user's configuration directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHosts {
    path: PathBuf,
}

/// A server's line in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Its line number, from 1, for the person who must delete it.
    pub line: usize,
    /// The certificate trusted for it.
    pub fingerprint: Fingerprint,
}

impl KnownHosts {
    /// `$XDG_CONFIG_HOME/chat-client/known_hosts`, or under `~/.config`
    /// when that is unset (the XDG default); `None` without either.
    pub fn default_location() -> Option<KnownHosts> {
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|dir| !dir.is_empty())
                    .map(|home| PathBuf::from(home).join(".config"))
            })?;
        Some(KnownHosts::at(
            config_home.join("chat-client").join("known_hosts"),
        ))
    }

    /// The file at `path`.
    pub fn at(path: PathBuf) -> KnownHosts {
        KnownHosts { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry for `server` (`HOST:PORT`), if the file has one; a missing
    /// file has none. The first entry wins, as in SSH.
    pub fn lookup(&self, server: &str) -> io::Result<Option<Entry>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            if fields.next() != Some(server) {
                continue;
            }
            let Some(fingerprint) = fields.next().and_then(Fingerprint::parse) else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} line {}: expected HOST:PORT SHA256:...",
                        self.path.display(),
                        index + 1
                    ),
                ));
            };
            return Ok(Some(Entry {
                line: index + 1,
                fingerprint,
            }));
        }
        Ok(None)
    }

    /// Appends a line for `server`, creating the file (and its directory)
    /// if needed.
    pub fn add(&self, server: &str, fingerprint: Fingerprint) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        writeln!(file, "{server} {fingerprint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "chat-client-known-hosts-{label}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir.join("chat-client").join("known_hosts")
    }

    #[test]
    fn missing_file_knows_nobody() {
        let hosts = KnownHosts::at(temp_file("missing"));
        assert_eq!(hosts.lookup("a:5002").unwrap(), None);
    }

    #[test]
    fn added_servers_are_found_with_their_line() {
        let path = temp_file("added");
        let hosts = KnownHosts::at(path.clone());
        let one = Fingerprint::of_certificate(b"one");
        let two = Fingerprint::of_certificate(b"two");
        hosts.add("a:5002", one).unwrap();
        hosts.add("[::1]:5002", two).unwrap();
        assert_eq!(
            hosts.lookup("a:5002").unwrap(),
            Some(Entry {
                line: 1,
                fingerprint: one
            })
        );
        assert_eq!(hosts.lookup("[::1]:5002").unwrap().unwrap().line, 2);
        assert_eq!(hosts.lookup("a:5003").unwrap(), None);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("a:5002 {one}\n[::1]:5002 {two}\n"));
        let _ = fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn comments_and_blank_lines_count_as_lines_but_not_entries() {
        let path = temp_file("comments");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let print = Fingerprint::of_certificate(b"x");
        fs::write(&path, format!("# servers\n\n  b:1 {print}\n")).unwrap();
        let hosts = KnownHosts::at(path.clone());
        assert_eq!(hosts.lookup("b:1").unwrap().unwrap().line, 3);
        fs::write(&path, "b:1 not-a-fingerprint\n").unwrap();
        let err = hosts.lookup("b:1").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let _ = fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }
}
