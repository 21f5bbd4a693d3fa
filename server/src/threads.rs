//! `--mode threads`: the seed project's design, kept as a baseline for the
//! comparison, not for production.
//!
//! One OS thread per client; a shared list of client sockets behind one lock;
//! each message is written to every client with blocking writes while the
//! lock is held, exactly as the seed's `for client_socket in client_sockets:
//! client_socket.send(...)` did. It speaks the same protocol through the same
//! [`Room`], so a comparison measures the design and nothing else. What it
//! suffers (a thread and its stack per client, a slow reader stalling every
//! broadcast, thread limits) comes from that design; nothing here is slowed
//! on purpose.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Instant;

use chat_shared::{ErrorCode, Line, LineReader, ServerLine};

use crate::config::Config;
use crate::listener;
use crate::outbox::encode;
use crate::rate::TokenBucket;
use crate::room::{ConnId, Delivery, Effect, Room, SHUTDOWN_REASON};
use crate::store::memory::MemoryLog;
use crate::store::{Asker, Completion, Request, RoomLog};

/// Each client thread's read buffer; the seed read 1024 bytes at a time.
const READ_BUFFER_BYTES: usize = 4096;

/// What every client thread shares.
#[derive(Debug)]
struct Shared {
    config: Config,
    state: Mutex<State>,
    stopping: AtomicBool,
}

/// The seed's `client_sockets` set, plus the room and its log (in memory:
/// the durable log is for the event loop).
#[derive(Debug)]
struct State {
    clients: Vec<(ConnId, TcpStream)>,
    room: Room,
    log: MemoryLog,
    next_id: ConnId,
}

/// Stops a running thread-per-client server from another thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl ShutdownHandle {
    /// Asks the server to say goodbye to every client and stop.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // The accept loop is blocked in accept(): a connection wakes it.
        let _ = TcpStream::connect(self.addr);
    }
}

/// The thread-per-client server.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    max_clients: usize,
}

impl Server {
    /// Takes over a bound listener.
    pub fn new(listener: TcpListener, config: Config) -> io::Result<Server> {
        listener.set_nonblocking(false)?;
        let max_clients = config.max_clients.unwrap_or(usize::MAX);
        let log = MemoryLog::new();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                clients: Vec::new(),
                room: Room::new(config.history, log.epoch()),
                log,
                next_id: 0,
            }),
            config,
            stopping: AtomicBool::new(false),
        });
        Ok(Server {
            listener,
            shared,
            max_clients,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        let mut addr = self
            .listener
            .local_addr()
            .expect("a bound listener has an address");
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
            addr,
        }
    }

    /// Shuts down on SIGINT and SIGTERM, from a thread that waits for them.
    pub fn handle_signals(&self) -> io::Result<()> {
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])?;
        let handle = self.shutdown_handle();
        thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                tracing::info!("[*] Received signal {signal}; shutting down.");
                handle.shutdown();
            }
        });
        Ok(())
    }

    /// Accepts clients, one thread each, until shut down.
    pub fn run(self) -> io::Result<()> {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!("[!] accept failed: {e}");
                    if self.shared.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
            };
            if self.shared.stopping.load(Ordering::SeqCst) {
                break;
            }
            self.admit(stream, peer);
        }
        self.shut_down();
        Ok(())
    }

    fn admit(&self, mut stream: TcpStream, peer: SocketAddr) {
        let mut state = lock(&self.shared);
        if state.clients.len() >= self.max_clients {
            listener::refuse(stream, peer, &listener::full_reason(self.max_clients));
            return;
        }
        if let Err(e) = listener::configure_client_socket(&stream) {
            tracing::warn!("[!] {peer}: could not set socket options: {e}");
        }
        let _ = stream.set_read_timeout(self.shared.config.idle_timeout);
        let writer = match stream.try_clone() {
            Ok(writer) => writer,
            Err(e) => {
                tracing::info!("[-] {peer} refused ({e}).");
                return;
            }
        };
        let id = state.next_id;
        state.next_id += 1;
        for frame in state.room.history() {
            if stream.write_all(frame).is_err() {
                return;
            }
        }
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name(format!("client-{id}"))
            .spawn(move || serve_client(&shared, id, stream, peer));
        match spawned {
            Ok(_) => {
                state.clients.push((id, writer));
                tracing::info!("[+] {peer} connected.");
            }
            Err(e) => tracing::info!("[-] {peer} refused (cannot start a thread: {e})."),
        }
    }

    fn shut_down(&self) {
        let mut state = lock(&self.shared);
        tracing::info!(
            "[*] Shutting down: telling {} clients.",
            state.clients.len()
        );
        let bye = encode(&ServerLine::Bye {
            reason: SHUTDOWN_REASON,
        });
        for (_, stream) in state.clients.iter_mut() {
            let _ = stream.write_all(&bye);
            // Wakes the client's thread from its blocking read.
            let _ = stream.shutdown(Shutdown::Both);
        }
        state.clients.clear();
        tracing::info!("[*] Server stopped.");
    }
}

/// One client's thread: the seed's `listen_for_client`.
fn serve_client(shared: &Shared, id: ConnId, mut stream: TcpStream, peer: SocketAddr) {
    let config = &shared.config;
    let mut lines = LineReader::new(config.max_line_bytes);
    let mut rate = config
        .rate_limit
        .map(|n| TokenBucket::new(n, Instant::now()));
    let mut buffer = [0u8; READ_BUFFER_BYTES];
    let mut effects = Vec::new();
    let reason = loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => break "closed by peer".to_string(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break "idle timeout".to_string()
            }
            Err(e) => break format!("read error: {e}"),
        };
        let mut quit = false;
        let _ = lines.feed(&buffer[..n], |line| {
            if let Some(bucket) = rate.as_mut() {
                // A thread of its own can simply sleep off its rate limit.
                let now = Instant::now();
                if !bucket.has_token(now) {
                    thread::sleep(bucket.next_token_at().saturating_duration_since(now));
                }
                bucket.take();
            }
            let mut state = lock(shared);
            let from = Asker {
                conn: id,
                serial: id as u64,
            };
            match line {
                Line::Complete(bytes) => state.room.handle_line(from, bytes, &mut effects),
                Line::TooLong => {
                    effects.push(Effect::Reply(Room::line_too_long(config.max_line_bytes)))
                }
            }
            for effect in effects.drain(..) {
                match effect {
                    Effect::Reply(frame) => {
                        let _ = stream.write_all(&frame);
                    }
                    Effect::Broadcast(frame) => broadcast(&mut state, &frame),
                    Effect::Publish(draft) => {
                        through_log(&mut state, Request::Append(vec![draft]));
                    }
                    Effect::Resume { epoch, after, desk } => {
                        let frames = if epoch == state.room.epoch() {
                            let request = Request::Replay {
                                asker: from,
                                after,
                                desk,
                            };
                            through_log(&mut state, request)
                        } else {
                            state.room.replay_history()
                        };
                        for frame in frames {
                            let _ = stream.write_all(&frame);
                        }
                    }
                    Effect::Search { words, desk } => {
                        let request = Request::Search {
                            asker: from,
                            words,
                            desk,
                        };
                        for frame in through_log(&mut state, request) {
                            let _ = stream.write_all(&frame);
                        }
                    }
                    Effect::Quit => quit = true,
                    // This baseline's room is never shared (`--redis` is
                    // refused with `--mode threads`), so it claims nothing.
                    Effect::Claim(_) | Effect::Release(_) | Effect::Redesk(_) => {}
                }
            }
            if quit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if quit {
            break "quit".to_string();
        }
    };
    let mut state = lock(shared);
    state.clients.retain(|(client, _)| *client != id);
    state.room.leave(id, &mut effects);
    for effect in effects.drain(..) {
        if let Effect::Broadcast(frame) = effect {
            broadcast(&mut state, &frame);
        }
    }
    drop(state);
    let _ = stream.shutdown(Shutdown::Both);
    if !shared.stopping.load(Ordering::SeqCst) {
        tracing::info!("[-] {peer} disconnected ({reason}).");
    }
}

/// Runs a request through the in-memory log (it answers at once):
/// delivers what it stored, returns what the asker is to be sent (a replay,
/// or why a search cannot be done).
fn through_log(state: &mut State, request: Request) -> Vec<crate::outbox::Frame> {
    let _ = state.log.submit(request);
    let mut done = Vec::new();
    state.log.completions(&mut done);
    let mut replay = Vec::new();
    for completion in done {
        match completion {
            Completion::Appended(messages) => {
                for message in messages {
                    match state.room.record(&message) {
                        Delivery::Everyone(frame) => broadcast(state, &frame),
                        Delivery::Desks(frame, desks) => {
                            for (id, stream) in state.clients.iter_mut() {
                                if desks.contains(id) {
                                    let _ = stream.write_all(&frame);
                                }
                            }
                        }
                        Delivery::Nobody => {}
                    }
                }
            }
            Completion::Replay {
                messages, skipped, ..
            } => replay = state.room.replay(&messages, skipped, usize::MAX),
            Completion::SearchFailed { error, .. } => {
                replay = vec![encode(&ServerLine::Error {
                    code: ErrorCode::NeedsLog,
                    detail: &error,
                })]
            }
            // An in-memory log neither fails to save nor to read, nor
            // finds anything, nor is it shared with other servers.
            Completion::NotSaved { .. }
            | Completion::ReplayFailed { .. }
            | Completion::Found { .. }
            | Completion::Claimed { .. }
            | Completion::Presence(_)
            | Completion::Roster(_)
            | Completion::LinkDown(_)
            | Completion::LinkUp => {}
        }
    }
    replay
}

/// The seed's broadcast: a blocking write to every client, in turn, under
/// the lock. A client that does not read stalls this, and everyone with it.
fn broadcast(state: &mut State, frame: &[u8]) {
    for (_, stream) in state.clients.iter_mut() {
        let _ = stream.write_all(frame);
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panicking client thread must not take the whole server with it.
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
