//! `--mode threads`: the seed project's design, kept as a baseline for the
//! comparison, not for production.
//!
//! One OS thread per client; a shared list of client sockets behind one lock;
//! each message is written to every client with blocking writes while the
//! lock is held, exactly as the seed's `for client_socket in client_sockets:
//! client_socket.send(...)` did. It speaks the same protocol through the same
//! rules ([`Chat`]), so a comparison measures the design and nothing else. What it
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

use chat_shared::LineReader;

use crate::chat::{Chat, Context, Settings, SHUTDOWN_REASON};
use crate::close::AfterLine;
use crate::config::Config;
use crate::effect::Effect;
use crate::frames;
use crate::framing::Dialect;
use crate::ids::{Asker, ConnId};
use crate::listener;
use crate::rate::TokenBucket;
use crate::store::memory::MemoryStore;
use crate::store::{Request, Store};

/// Each client thread's read buffer; the seed read 1024 bytes at a time.
const READ_BUFFER_BYTES: usize = 4096;

/// What every client thread shares.
#[derive(Debug)]
struct Shared {
    config: Config,
    state: Mutex<State>,
    stopping: AtomicBool,
}

/// The seed's `client_sockets` set, plus the rules and the store (in
/// memory: the durable store is for the event loop).
#[derive(Debug)]
struct State {
    clients: Vec<(ConnId, TcpStream)>,
    chat: Chat,
    store: MemoryStore,
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
        let store = MemoryStore::new();
        let settings = Settings {
            history_limit: config.history,
            // A thread blocks on its writes: nothing is queued to bound.
            replay_budget_bytes: usize::MAX,
            max_line_bytes: config.max_line_bytes,
            epoch: store.epoch().to_string(),
            can_search: store.can_search(),
            shared_as: None,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                clients: Vec::new(),
                chat: Chat::new(settings, None),
                store,
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
                tracing::info!(signal, "[*] Received a signal; shutting down.");
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
                    tracing::warn!(error = %e, "[!] accept failed");
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
            tracing::warn!(%peer, error = %e, "[!] could not set socket options");
        }
        let _ = stream.set_read_timeout(self.shared.config.idle_timeout);
        let writer = match stream.try_clone() {
            Ok(writer) => writer,
            Err(e) => {
                tracing::info!(%peer, reason = %e, "[-] refused");
                return;
            }
        };
        let id = state.next_id;
        state.next_id += 1;
        let mut history = Vec::new();
        state.chat.connected(id, &mut history);
        for effect in history {
            if let Effect::Send(_, frame) = effect {
                if stream.write_all(&frame).is_err() {
                    state.chat.leave(id, &mut Vec::new());
                    return;
                }
            }
        }
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name(format!("client-{id}"))
            .spawn(move || serve_client(&shared, id, stream, peer));
        match spawned {
            Ok(_) => {
                state.clients.push((id, writer));
                tracing::info!(%peer, "[+] connected");
            }
            Err(e) => tracing::info!(%peer, reason = %e, "[-] refused: cannot start a thread"),
        }
    }

    fn shut_down(&self) {
        let mut state = lock(&self.shared);
        tracing::info!(
            clients = state.clients.len(),
            "[*] Shutting down: telling every client."
        );
        let bye = frames::bye(SHUTDOWN_REASON);
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
    let from = Asker {
        conn: id,
        serial: id as u64,
    };
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
            let mut effects = Vec::new();
            let next = Dialect::Desk.handle(
                line,
                &mut Context {
                    chat: &mut state.chat,
                    from,
                    peer,
                    now: Instant::now(),
                    effects: &mut effects,
                },
            );
            carry_out(&mut state, effects);
            quit = matches!(next, AfterLine::Stop(_));
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
    let mut effects = Vec::new();
    state.chat.leave(id, &mut effects);
    carry_out(&mut state, effects);
    drop(state);
    let _ = stream.shutdown(Shutdown::Both);
    if !shared.stopping.load(Ordering::SeqCst) {
        tracing::info!(%peer, %reason, "[-] disconnected");
    }
}

/// Carries out what the rules decided, under the lock, with blocking
/// writes; requests to the store (in memory: it answers at once) are
/// answered on the spot.
fn carry_out(state: &mut State, effects: Vec<Effect>) {
    for effect in effects {
        let request = match effect {
            Effect::Send(to, frame)
            | Effect::Copy(to, frame)
            | Effect::SendRaw(to, frame)
            | Effect::Answer(Asker { conn: to, .. }, frame) => {
                if let Some((_, stream)) = state.clients.iter_mut().find(|(id, _)| *id == to) {
                    let _ = stream.write_all(&frame);
                }
                continue;
            }
            // Its one room is the seed's, everyone's: no desk enters
            // another here.
            Effect::Broadcast(_, frame)
            | Effect::BroadcastOthers(_, _, frame)
            | Effect::Message { frame, .. }
            | Effect::NoticeAll(frame) => {
                broadcast(state, &frame);
                continue;
            }
            Effect::Publish(draft) => Request::Append(vec![draft]),
            Effect::Ask(request) => request,
            // This baseline's store is never shared (`--redis` is refused
            // with `--mode threads`), so it claims nothing; nor has it
            // accounts, whose revocation alone closes a connection here.
            Effect::Claim { .. }
            | Effect::Release(_)
            | Effect::Redesk(_)
            | Effect::ReadOn(_)
            | Effect::Close(..) => continue,
            // Every desk hears the one room, where its LEAVE went.
            Effect::Departure(..) => continue,
        };
        let _ = state.store.submit(request);
        let mut answers = Vec::new();
        state.store.completions(&mut answers);
        let mut more = Vec::new();
        for answer in answers {
            state.chat.answer(answer, &mut more);
        }
        carry_out(state, more);
    }
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
