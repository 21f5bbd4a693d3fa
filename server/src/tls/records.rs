//! TLS 1.3 after the handshake, at the cost of its keys: once rustls has
//! made the handshake ([`super::session`]) it hands the traffic keys over
//! (`dangerous_into_kernel_connection`, the API it has for kernel TLS), and
//! the records are sealed and opened here with rustls's own AEAD for the
//! negotiated suite. The keys are kept as bytes and expanded only while a
//! batch of records is sealed or opened.
//!
//! Why: an idle desk's rustls connection holds about 3.4 KiB even through
//! its unbuffered API (the connection, its handshake joiner, both
//! directions' expanded AES keys, its state); what is kept here (the key
//! bytes, the sequence numbers, and what rustls needs to derive the next
//! keys of a key update) holds about 1 KiB. Expanding an AES-256 key costs
//! about as much as sealing one chat line, once per batch of lines.
//!
//! This layer does the record protocol's bookkeeping, nothing of the
//! cryptography: the record header and its limits (RFC 8446 §5.1, §5.2),
//! the sequence numbers, key updates (§4.6.3, the next keys from rustls),
//! alerts (§6), and the flood limits rustls keeps (32 key updates in a row,
//! as BoringSSL). Only TLS 1.3 with a 32-byte key (AES-256-GCM,
//! ChaCha20-Poly1305) is taken over: rustls rebuilds those keys from bytes.
//! Anything else (TLS 1.2, AES-128) stays with rustls for its whole life.

use std::io::IoSlice;

use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, Iv, MessageDecrypter, MessageEncrypter, OutboundChunks,
    OutboundPlainMessage, NONCE_LEN,
};
use rustls::kernel::KernelConnection;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::{
    AlertDescription, ConnectionTrafficSecrets, ContentType, Error, HandshakeType, PeerMisbehaved,
    ProtocolVersion, SupportedCipherSuite, Tls13CipherSuite,
};
use zeroize::Zeroizing;

/// Key bytes of the suites taken over (AES-256-GCM, ChaCha20-Poly1305).
pub const KEY_BYTES: usize = 32;

/// A record's header: type, legacy version, length.
const HEADER_BYTES: usize = 5;

/// Most plaintext in one record (2^14, RFC 8446 §5.1).
const MAX_PLAINTEXT: usize = 1 << 14;

/// Most ciphertext in one TLS 1.3 record (2^14 + 256, RFC 8446 §5.2).
pub const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;

/// Most plaintext sealed per call: four full records, about what one
/// `writev` of queued lines carries.
const MAX_SEAL_BYTES: usize = 4 * MAX_PLAINTEXT;

/// Key updates and warnings a peer may send in a row, with no application
/// data between them (rustls's and BoringSSL's limit).
const MAX_IN_A_ROW: u8 = 32;

/// The alert levels (RFC 8446 §6): close_notify goes as a warning, as
/// rustls sends it; every other alert is fatal.
const WARNING: u8 = 1;
const FATAL: u8 = 2;

/// KeyUpdate's `request_update` (RFC 8446 §4.6.3).
const UPDATE_NOT_REQUESTED: u8 = 0;
const UPDATE_REQUESTED: u8 = 1;

/// Why a connection's TLS ended, and the alert to tell the peer (`None`
/// when the peer ended it with an alert of its own).
#[derive(Debug)]
pub struct Fatal {
    /// What to send before closing.
    pub alert: Option<AlertDescription>,
    /// What went wrong, for the log.
    pub error: Error,
}

impl Fatal {
    /// `error`, told to the peer as `alert`.
    pub fn telling(alert: AlertDescription, error: impl Into<Error>) -> Fatal {
        Fatal {
            alert: Some(alert),
            error: error.into(),
        }
    }
}

/// What one pass over received records came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Application data now at the front of the buffer.
    pub plaintext: usize,
    /// Bytes of whole records used; the rest is a record still arriving.
    pub consumed: usize,
}

/// One direction's traffic key, as bytes, and the sequence number of its
/// next record.
struct TrafficKey {
    key: Zeroizing<[u8; KEY_BYTES]>,
    iv: [u8; NONCE_LEN],
    seq: u64,
}

impl TrafficKey {
    /// The key rustls handed over, if it is one this layer can rebuild.
    fn new((seq, secrets): (u64, ConnectionTrafficSecrets)) -> Result<TrafficKey, Error> {
        let (key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes256Gcm { key, iv }
            | ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (key.as_ref(), iv.as_ref()),
            _ => return Err(Error::General("a TLS suite kept by rustls".into())),
        };
        let (Ok(key), Ok(iv)) = (<[u8; KEY_BYTES]>::try_from(key), iv.try_into()) else {
            return Err(Error::General("unexpected TLS key sizes".into()));
        };
        Ok(TrafficKey {
            key: Zeroizing::new(key),
            iv,
            seq,
        })
    }

    fn sealer(&self, suite: &Tls13CipherSuite) -> Box<dyn MessageEncrypter> {
        suite
            .aead_alg
            .encrypter(AeadKey::from(*self.key), Iv::from(self.iv))
    }

    fn opener(&self, suite: &Tls13CipherSuite) -> Box<dyn MessageDecrypter> {
        suite
            .aead_alg
            .decrypter(AeadKey::from(*self.key), Iv::from(self.iv))
    }

    /// The next record's sequence number. It never wraps: a connection
    /// that would need 2^64 records ends instead.
    fn next_seq(&mut self) -> Result<u64, Error> {
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(Error::EncryptError)?;
        Ok(seq)
    }
}

/// A TLS 1.3 connection after its handshake, kept small.
pub struct Records {
    /// What rustls keeps to derive the next keys of a key update.
    kernel: KernelConnection<ServerConnectionData>,
    suite: &'static Tls13CipherSuite,
    send: TrafficKey,
    receive: TrafficKey,
    /// Key updates and warnings received since the last application data.
    in_a_row: u8,
    /// The peer asked for a key update: ours goes before our next
    /// application data (RFC 8446 §4.6.3), once however often it asked.
    key_update_owed: bool,
    /// close_notify arrived: nothing after it is read.
    peer_closed: bool,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("suite", &self.suite.common.suite)
            .field("send_seq", &self.send.seq)
            .field("receive_seq", &self.receive.seq)
            .finish_non_exhaustive()
    }
}

/// Whether connections on `suite` can be taken over: TLS 1.3 with a key
/// rustls rebuilds from bytes.
pub fn can_keep(suite: SupportedCipherSuite) -> bool {
    matches!(suite, SupportedCipherSuite::Tls13(suite) if suite.aead_alg.key_len() == KEY_BYTES)
}

impl Records {
    /// Whether `connection` can be taken over: its handshake is done, on a
    /// suite [`can_keep`] accepts.
    pub fn can_take_over(connection: &UnbufferedServerConnection) -> bool {
        !connection.is_handshaking() && connection.negotiated_cipher_suite().is_some_and(can_keep)
    }

    /// Takes the keys over from rustls. `connection` must have nothing
    /// left to send or to read ([`Records::can_take_over`], after rustls
    /// said `WriteTraffic`).
    pub fn take_over(connection: UnbufferedServerConnection) -> Result<Records, Error> {
        let (secrets, kernel) = connection.dangerous_into_kernel_connection()?;
        let SupportedCipherSuite::Tls13(suite) = kernel.negotiated_cipher_suite() else {
            return Err(Error::General("not a TLS 1.3 connection".into()));
        };
        Ok(Records {
            send: TrafficKey::new(secrets.tx)?,
            receive: TrafficKey::new(secrets.rx)?,
            kernel,
            suite,
            in_a_row: 0,
            key_update_owed: false,
            peer_closed: false,
        })
    }

    /// True once the peer said close_notify.
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Opens the whole records at the front of `received`, in place,
    /// moving their application data to its front, in order. Stops at a
    /// record still arriving, or after close_notify (what follows it is
    /// ignored, RFC 8446 §6.1).
    pub fn open(&mut self, received: &mut [u8]) -> Result<Opened, Fatal> {
        // Expanded once per pass, and again only after a key update.
        let mut opener: Option<Box<dyn MessageDecrypter>> = None;
        let mut opened = Opened {
            plaintext: 0,
            consumed: 0,
        };
        while !self.peer_closed {
            let start = opened.consumed;
            let Some(header) = received.get(start..start + HEADER_BYTES) else {
                break;
            };
            let kind = ContentType::from(header[0]);
            let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
            if length > MAX_CIPHERTEXT {
                return Err(Fatal::telling(
                    AlertDescription::RecordOverflow,
                    Error::PeerSentOversizedRecord,
                ));
            }
            // After the handshake every record is protected, and says so.
            if kind != ContentType::ApplicationData {
                return Err(Fatal::telling(
                    AlertDescription::UnexpectedMessage,
                    Error::InappropriateMessage {
                        expect_types: vec![ContentType::ApplicationData],
                        got_type: kind,
                    },
                ));
            }
            let end = start + HEADER_BYTES + length;
            if end > received.len() {
                break;
            }
            let opener = opener.get_or_insert_with(|| self.receive.opener(self.suite));
            let seq = self
                .receive
                .next_seq()
                .map_err(|e| Fatal::telling(AlertDescription::InternalError, e))?;
            let base = received.as_ptr() as usize;
            let record = InboundOpaqueMessage::new(
                kind,
                ProtocolVersion::TLSv1_2,
                &mut received[start + HEADER_BYTES..end],
            );
            let plain = opener
                .decrypt(record, seq)
                .map_err(|e| Fatal::telling(alert_for(&e), e))?;
            opened.consumed = end;
            match plain.typ {
                ContentType::ApplicationData => {
                    self.in_a_row = 0;
                    let from = plain.payload.as_ptr() as usize - base;
                    let length = plain.payload.len();
                    received.copy_within(from..from + length, opened.plaintext);
                    opened.plaintext += length;
                }
                ContentType::Alert => self.on_alert(plain.payload)?,
                ContentType::Handshake => {
                    if self.on_handshake(plain.payload)? {
                        // Later records are sealed with the next key.
                        *opener = self.receive.opener(self.suite);
                    }
                }
                other => {
                    return Err(Fatal::telling(
                        AlertDescription::UnexpectedMessage,
                        Error::InappropriateMessage {
                            expect_types: vec![ContentType::ApplicationData],
                            got_type: other,
                        },
                    ))
                }
            }
        }
        Ok(opened)
    }

    /// close_notify ends the stream; user_canceled is a warning; anything
    /// else is the peer ending the connection.
    fn on_alert(&mut self, payload: &[u8]) -> Result<(), Fatal> {
        let &[_level, description] = payload else {
            return Err(Fatal::telling(
                AlertDescription::DecodeError,
                PeerMisbehaved::IllegalTlsInnerPlaintext,
            ));
        };
        match AlertDescription::from(description) {
            AlertDescription::CloseNotify => {
                self.peer_closed = true;
                Ok(())
            }
            AlertDescription::UserCanceled => self.one_more_in_a_row(),
            other => Err(Fatal {
                alert: None,
                error: Error::AlertReceived(other),
            }),
        }
    }

    /// The one handshake message a client may send after the handshake
    /// is a KeyUpdate, alone in its record. Returns whether the keys of
    /// what the peer sends changed.
    fn on_handshake(&mut self, payload: &[u8]) -> Result<bool, Fatal> {
        let &[kind, 0, 0, 1, request] = payload else {
            return Err(Fatal::telling(
                AlertDescription::UnexpectedMessage,
                Error::InappropriateHandshakeMessage {
                    expect_types: vec![HandshakeType::KeyUpdate],
                    got_type: payload
                        .first()
                        .map_or(HandshakeType::Unknown(0), |&kind| HandshakeType::from(kind)),
                },
            ));
        };
        if HandshakeType::from(kind) != HandshakeType::KeyUpdate {
            return Err(Fatal::telling(
                AlertDescription::UnexpectedMessage,
                Error::InappropriateHandshakeMessage {
                    expect_types: vec![HandshakeType::KeyUpdate],
                    got_type: HandshakeType::from(kind),
                },
            ));
        }
        match request {
            UPDATE_NOT_REQUESTED => {}
            UPDATE_REQUESTED => self.key_update_owed = true,
            _ => {
                return Err(Fatal::telling(
                    AlertDescription::IllegalParameter,
                    Error::General("a KeyUpdate with an unknown request".into()),
                ))
            }
        }
        self.one_more_in_a_row()?;
        let next = self
            .kernel
            .update_rx_secret()
            .and_then(TrafficKey::new)
            .map_err(|e| Fatal::telling(AlertDescription::InternalError, e))?;
        self.receive = next;
        Ok(true)
    }

    fn one_more_in_a_row(&mut self) -> Result<(), Fatal> {
        self.in_a_row += 1;
        if self.in_a_row > MAX_IN_A_ROW {
            return Err(Fatal::telling(
                AlertDescription::UnexpectedMessage,
                PeerMisbehaved::TooManyKeyUpdateRequests,
            ));
        }
        Ok(())
    }

    /// Seals up to [`MAX_SEAL_BYTES`] of `plaintext` into records appended
    /// to `out`; returns how many bytes it took. A key update owed, or due
    /// by the suite's confidentiality limit, goes first.
    pub fn seal(&mut self, plaintext: &[IoSlice<'_>], out: &mut Vec<u8>) -> Result<usize, Error> {
        let mut sealer = self.send.sealer(self.suite);
        if self.key_update_owed || self.send.seq >= self.suite.common.confidentiality_limit {
            let key_update = [
                u8::from(HandshakeType::KeyUpdate),
                0,
                0,
                1,
                UPDATE_NOT_REQUESTED,
            ];
            let message = OutboundChunks::Single(&key_update);
            self.seal_record(&mut *sealer, ContentType::Handshake, message, out)?;
            self.send = self.kernel.update_tx_secret().and_then(TrafficKey::new)?;
            self.key_update_owed = false;
            sealer = self.send.sealer(self.suite);
        }
        // Up to 64 slices (what the outbox hands over), without allocating.
        let mut parts: [&[u8]; 64] = [&[]; 64];
        let mut count = 0;
        let mut total = 0;
        for (part, slice) in parts.iter_mut().zip(plaintext) {
            if total >= MAX_SEAL_BYTES {
                break;
            }
            *part = slice;
            count += 1;
            total += slice.len();
        }
        let total = total.min(MAX_SEAL_BYTES);
        let (mut rest, _) = OutboundChunks::new(&parts[..count]).split_at(total);
        while !rest.is_empty() {
            let (record, after) = rest.split_at(MAX_PLAINTEXT.min(rest.len()));
            self.seal_record(&mut *sealer, ContentType::ApplicationData, record, out)?;
            rest = after;
        }
        Ok(total)
    }

    /// Appends an alert: close_notify (a warning) or why the connection
    /// ends (fatal).
    pub fn seal_alert(&mut self, alert: AlertDescription, out: &mut Vec<u8>) -> Result<(), Error> {
        let level = match alert {
            AlertDescription::CloseNotify => WARNING,
            _ => FATAL,
        };
        let payload = [level, u8::from(alert)];
        let mut sealer = self.send.sealer(self.suite);
        self.seal_record(
            &mut *sealer,
            ContentType::Alert,
            OutboundChunks::Single(&payload),
            out,
        )
    }

    fn seal_record(
        &mut self,
        sealer: &mut dyn MessageEncrypter,
        kind: ContentType,
        payload: OutboundChunks<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let seq = self.send.next_seq()?;
        let message = OutboundPlainMessage {
            typ: kind,
            version: ProtocolVersion::TLSv1_2,
            payload,
        };
        let record = sealer.encrypt(message, seq)?.encode();
        if out.is_empty() {
            *out = record;
        } else {
            out.extend_from_slice(&record);
        }
        Ok(())
    }
}

/// The alert that answers an error opening a record.
fn alert_for(error: &Error) -> AlertDescription {
    match error {
        Error::DecryptError => AlertDescription::BadRecordMac,
        Error::PeerSentOversizedRecord => AlertDescription::RecordOverflow,
        _ => AlertDescription::UnexpectedMessage,
    }
}
