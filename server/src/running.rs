//! A server running on a background thread, for tests and for embedding.

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use crate::config::{Config, Mode};
use crate::event_loop::{Server, ShutdownHandle};
use crate::{listener, threads};

/// A real server on `127.0.0.1` and a free port, serving on its own thread
/// until stopped or dropped.
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<Box<dyn Fn() + Send>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RunningServer {
    /// Binds `127.0.0.1:0` and runs `config.mode` on a background thread;
    /// `config.host` and `config.port` are ignored.
    pub fn start(config: Config) -> io::Result<RunningServer> {
        let listener = listener::bind("127.0.0.1", 0)?;
        let addr = listener.local_addr()?;
        let (shutdown, thread): (Box<dyn Fn() + Send>, _) = match config.mode {
            Mode::Event => {
                let server = Server::new(listener, config)?;
                let handle: ShutdownHandle = server.shutdown_handle();
                let thread = std::thread::spawn(move || server.run());
                (Box::new(move || handle.shutdown()), thread)
            }
            Mode::Threads => {
                let server = threads::Server::new(listener, config)?;
                let handle = server.shutdown_handle();
                let thread = std::thread::spawn(move || server.run());
                (Box::new(move || handle.shutdown()), thread)
            }
        };
        Ok(RunningServer {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tells the clients, stops the server and waits for its thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown();
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}
