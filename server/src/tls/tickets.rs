//! Session tickets: a desk that comes back resumes its TLS session (a PSK
//! handshake, with a fresh (EC)DHE exchange) instead of making a full one,
//! and the server keeps nothing per session: the ticket is the session's
//! state, sealed with a key only the server has.
//!
//! rustls's own ticketer makes its keys at random and never shows them, so
//! its tickets die with the process, just when every desk reconnects at
//! once. Here the key is kept in a file beside the certificate (or the
//! room's log), `tls-ticket-keys`, readable by its owner only, and rotated:
//! a key seals tickets for [`ROTATE_AFTER`], opens them for as long again,
//! and is then gone from the file. With `--db none` the keys live in
//! memory only, and resumption lasts the server's life. The sealing is
//! rustls's own construction (ChaCha20-Poly1305, a random nonce, the key's
//! random name as associated data) with ring, which rustls already uses.
//!
//! What a stolen key exposes is in the README ("TLS session resumption").

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;
use zeroize::Zeroizing;

/// How long a key seals tickets; it opens them for as long again. Also the
/// lifetime tickets are given: a desk does not offer one older than this.
pub const ROTATE_AFTER: Duration = Duration::from_secs(12 * 60 * 60);

/// The file's name, beside the certificate.
pub const FILE_NAME: &str = "tls-ticket-keys";

/// Bytes of a key's random name, at the front of every ticket.
const NAME_BYTES: usize = 16;

/// Bytes of a key.
const KEY_BYTES: usize = 32;

/// The longest ticket opened. rustls's tickets for this server (no client
/// certificates) are a few hundred bytes; anything far longer is not ours,
/// and is not given to the AEAD at all.
const MAX_TICKET_BYTES: usize = 4096;

/// The file's first line.
const HEADER: &str =
    "# chat-server TLS ticket keys: secret, owner only; rotated every 12 hours (made_at name key)";

/// One ticket key: its name, its bytes, when it was made.
struct TicketKey {
    name: [u8; NAME_BYTES],
    bytes: Zeroizing<[u8; KEY_BYTES]>,
    /// Seconds since the Unix epoch.
    made_at: u64,
    sealing: LessSafeKey,
}

impl TicketKey {
    fn new(name: [u8; NAME_BYTES], bytes: [u8; KEY_BYTES], made_at: u64) -> TicketKey {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .expect("a 32-byte key is what ChaCha20-Poly1305 takes");
        TicketKey {
            name,
            bytes: Zeroizing::new(bytes),
            made_at,
            sealing: LessSafeKey::new(unbound),
        }
    }

    fn random(random: &SystemRandom, now: u64) -> io::Result<TicketKey> {
        let mut name = [0u8; NAME_BYTES];
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        random
            .fill(&mut name)
            .and_then(|()| random.fill(&mut bytes[..]))
            .map_err(|_| io::Error::other("no randomness for a TLS ticket key"))?;
        Ok(TicketKey::new(name, *bytes, now))
    }

    fn age(&self, now: u64) -> Duration {
        Duration::from_secs(now.saturating_sub(self.made_at))
    }

    /// The file's line for this key.
    fn line(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{} {} {}\n",
            self.made_at,
            hex(&self.name),
            hex(&self.bytes[..])
        ))
    }

    fn parse(line: &str) -> Option<TicketKey> {
        let mut fields = line.split_whitespace();
        let made_at = fields.next()?.parse().ok()?;
        let name = unhex(fields.next()?)?;
        let bytes = Zeroizing::new(unhex(fields.next()?)?);
        fields
            .next()
            .is_none()
            .then(|| TicketKey::new(name, *bytes, made_at))
    }
}

/// The key that seals, and the one before it, which still opens.
struct KeyRing {
    current: TicketKey,
    previous: Option<TicketKey>,
}

impl KeyRing {
    /// Rotates if the current key is due; drops a previous key that no
    /// ticket it sealed can outlive. True if anything changed.
    fn rotate_if_due(&mut self, random: &SystemRandom, now: u64) -> io::Result<bool> {
        let mut changed = false;
        if self.current.age(now) >= ROTATE_AFTER {
            let next = TicketKey::random(random, now)?;
            self.previous = Some(std::mem::replace(&mut self.current, next));
            changed = true;
        }
        if self
            .previous
            .as_ref()
            .is_some_and(|previous| previous.age(now) >= 2 * ROTATE_AFTER)
        {
            self.previous = None;
            changed = true;
        }
        Ok(changed)
    }

    fn find(&self, name: &[u8]) -> Option<&TicketKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.name[..] == *name)
    }
}

/// The server's ticket keys, kept in a file or in memory.
pub struct TicketKeys {
    /// `None`: in memory only.
    file: Option<PathBuf>,
    ring: Mutex<KeyRing>,
    random: SystemRandom,
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKeys")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl TicketKeys {
    /// Keys kept in memory only: tickets last the server's life.
    pub fn in_memory() -> io::Result<TicketKeys> {
        let random = SystemRandom::new();
        let current = TicketKey::random(&random, unix_now())?;
        Ok(TicketKeys {
            file: None,
            ring: Mutex::new(KeyRing {
                current,
                previous: None,
            }),
            random,
        })
    }

    /// The keys in `file`, made (owner-only) if it is missing, rotated now
    /// if they are due. Every failure is one sentence naming the file.
    pub fn kept_in(file: &Path) -> io::Result<TicketKeys> {
        let random = SystemRandom::new();
        let now = unix_now();
        let bad =
            |what: String| io::Error::other(format!("TLS ticket keys {}: {what}", file.display()));
        let (mut ring, mut changed) = match fs::read_to_string(file) {
            Ok(text) => (
                parse_file(&text).ok_or_else(|| bad("not a ticket key file".into()))?,
                false,
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let current = TicketKey::random(&random, now)?;
                (
                    KeyRing {
                        current,
                        previous: None,
                    },
                    true,
                )
            }
            Err(e) => return Err(bad(e.to_string())),
        };
        changed |= ring.rotate_if_due(&random, now)?;
        if changed {
            write_file(file, &ring).map_err(|e| bad(format!("cannot be written: {e}")))?;
        }
        Ok(TicketKeys {
            file: Some(file.to_path_buf()),
            ring: Mutex::new(ring),
            random,
        })
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, KeyRing> {
        // A panic elsewhere cannot leave the ring half-changed: every
        // change is one assignment.
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(ROTATE_AFTER.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut ring = self.ring();
        let now = unix_now();
        match ring.rotate_if_due(&self.random, now) {
            Ok(true) => {
                if let Some(file) = &self.file {
                    match write_file(file, &ring) {
                        Ok(()) => {
                            tracing::info!(file = %file.display(), "[*] TLS ticket key rotated")
                        }
                        // Tickets still work for this server's life.
                        Err(e) => {
                            tracing::warn!(file = %file.display(), error = %e, "[!] TLS ticket key rotated, but not kept")
                        }
                    }
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "[!] TLS ticket key not rotated"),
        }
        let key = &ring.current;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        // name || nonce || sealed plaintext || tag
        let mut ticket = Vec::with_capacity(NAME_BYTES + NONCE_LEN + plain.len() + 16);
        ticket.extend_from_slice(&key.name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(plain);
        let tag = key
            .sealing
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(key.name),
                &mut ticket[NAME_BYTES + NONCE_LEN..],
            )
            .ok()?;
        ticket.extend_from_slice(tag.as_ref());
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() > MAX_TICKET_BYTES {
            return None;
        }
        let name = ticket.get(..NAME_BYTES)?;
        let nonce = ticket.get(NAME_BYTES..NAME_BYTES + NONCE_LEN)?;
        let sealed = ticket.get(NAME_BYTES + NONCE_LEN..)?;
        let ring = self.ring();
        let key = ring.find(name)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut opened = sealed.to_vec();
        let plain = key
            .sealing
            .open_in_place(nonce, Aad::from(key.name), &mut opened)
            .ok()?
            .len();
        opened.truncate(plain);
        Some(opened)
    }
}

/// Reads the file: the header, the current key, maybe the previous one.
fn parse_file(text: &str) -> Option<KeyRing> {
    let mut lines = text.lines().filter(|line| !line.starts_with('#'));
    let current = TicketKey::parse(lines.next()?)?;
    let previous = match lines.next() {
        Some(line) => Some(TicketKey::parse(line)?),
        None => None,
    };
    lines
        .next()
        .is_none()
        .then_some(KeyRing { current, previous })
}

/// Replaces the file with `ring`'s keys: written beside it, owner-only,
/// synced, then renamed over it, so a crash leaves the old keys or the new
/// ones, never half of either.
fn write_file(file: &Path, ring: &KeyRing) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = Zeroizing::new(format!("{HEADER}\n"));
    text.push_str(&ring.current.line());
    if let Some(previous) = &ring.previous {
        text.push_str(&previous.line());
    }
    let fresh = file.with_extension("new");
    let _ = fs::remove_file(&fresh);
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&fresh)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    fs::rename(&fresh, file)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_ticket_opens_after_a_restart_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let first = TicketKeys::kept_in(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        let ticket = first.encrypt(b"a session").unwrap();
        assert_eq!(first.decrypt(&ticket).unwrap(), b"a session");
        drop(first);

        let again = TicketKeys::kept_in(&file).unwrap();
        assert_eq!(again.decrypt(&ticket).unwrap(), b"a session");
        let mut forged = ticket.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert!(again.decrypt(&forged).is_none());
        assert!(again.decrypt(&ticket[..20]).is_none());
        assert!(again.decrypt(&[0; MAX_TICKET_BYTES + 1]).is_none());
        assert!(TicketKeys::in_memory().unwrap().decrypt(&ticket).is_none());
    }

    #[test]
    fn a_due_key_is_rotated_and_the_one_before_opens_for_one_more_period() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let keys = TicketKeys::kept_in(&file).unwrap();
        let old_ticket = keys.encrypt(b"old").unwrap();
        // Make the current key one period old, as if written long ago.
        let period = ROTATE_AFTER.as_secs();
        keys.ring().current.made_at -= period;
        write_file(&file, &keys.ring()).unwrap();
        drop(keys);

        let keys = TicketKeys::kept_in(&file).unwrap();
        let new_ticket = keys.encrypt(b"new").unwrap();
        assert_ne!(new_ticket[..NAME_BYTES], old_ticket[..NAME_BYTES]);
        assert_eq!(keys.decrypt(&old_ticket).unwrap(), b"old");
        assert_eq!(keys.decrypt(&new_ticket).unwrap(), b"new");
        assert_eq!(
            parse_file(&fs::read_to_string(&file).unwrap()).map(|r| r.previous.is_some()),
            Some(true)
        );

        // Another period on: the old key is gone from memory and file.
        keys.ring().current.made_at -= period;
        keys.ring().previous.as_mut().unwrap().made_at -= 2 * period;
        write_file(&file, &keys.ring()).unwrap();
        drop(keys);
        let keys = TicketKeys::kept_in(&file).unwrap();
        assert!(keys.decrypt(&old_ticket).is_none());
        assert_eq!(keys.decrypt(&new_ticket).unwrap(), b"new");
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn a_damaged_file_is_a_one_sentence_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        fs::write(&file, "not keys\n").unwrap();
        let error = TicketKeys::kept_in(&file).unwrap_err().to_string();
        assert!(error.starts_with("TLS ticket keys "), "{error}");
        assert!(error.contains(FILE_NAME), "{error}");
    }
}
