//! The chat-server that chat-load starts itself: the one restart mode
//! kills with SIGKILL and starts again, storm mode's TLS server that it
//! stops and starts again ([`crate::storm`]), and the attacks' servers
//! ([`crate::attack`]). Always on 127.0.0.1, a port picked here, the log
//! file the run names, no idle timeout. It dies with us
//! (`PR_SET_PDEATHSIG`, and SIGKILL when dropped), so no run leaves a
//! server behind.

use std::ffi::OsStr;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a started server gets to accept a first connection.
pub const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server gets to exit after SIGTERM at the end.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The server's `--max-queue`: big enough that half of it (a replay's
/// budget) holds a whole replay of 1,000 messages of the longest payload,
/// so the check reads the entire run.
const MAX_QUEUE_BYTES: usize = 16 << 20;

/// A chat-server process and the command that starts it again.
#[derive(Debug)]
pub struct Server {
    /// The same every start.
    command: Command,
    /// Where it listens.
    addr: SocketAddr,
    /// The process, while there is one.
    child: Option<Child>,
}

impl Server {
    /// Starts `bin` on a free loopback port with its log in `db`, a
    /// `--max-queue` that holds restart's whole replay and `extra` flags,
    /// and waits (up to [`LISTEN_TIMEOUT`]) until it accepts a connection.
    pub fn start(bin: &Path, db: &Path, extra: &[&str]) -> io::Result<Server> {
        let max_queue = MAX_QUEUE_BYTES.to_string();
        let flags = [&["--max-queue", max_queue.as_str()], extra].concat();
        Server::start_with(bin, db, &flags, Stdio::inherit())
    }

    /// Starts `bin` like [`Server::start`], with only `flags` (no
    /// `--max-queue` of ours) and its stderr into `stderr`.
    pub fn start_with<S: AsRef<OsStr>>(
        bin: &Path,
        db: &Path,
        flags: &[S],
        stderr: Stdio,
    ) -> io::Result<Server> {
        // Another program could take the port before the server binds it;
        // the server would then fail to start and say so.
        let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), test_support::free_port()?);
        let mut command = Command::new(bin);
        command
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .arg("--db")
            .arg(db)
            .args(["--idle-timeout", "0"])
            // A line per connection would bury the tool's own lines; what
            // goes wrong in the server still shows.
            .args(["--log-level", "warn"])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        test_support::process::die_with_parent(&mut command);
        let mut server = Server {
            command,
            addr,
            child: None,
        };
        server.restart()?;
        server.wait_listening()?;
        Ok(server)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// SIGKILL, and reaped: `kill -9`, nothing flushed, nothing said.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again, same port, same log; does not wait for it.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill()?;
        self.child = Some(self.command.spawn()?);
        Ok(())
    }

    /// Starts the server again after [`Server::stop`], same port, same
    /// log, and waits until it listens.
    pub fn start_again(&mut self) -> io::Result<()> {
        self.restart()?;
        self.wait_listening()
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How the server ended, if it has ended on its own.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Connects until one connection is accepted; an error if the server
    /// exits first or the time runs out.
    fn wait_listening(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(io::Error::other(format!(
                    "it ended ({status}) before listening; its stderr says why"
                )));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("not listening after {} s", LISTEN_TIMEOUT.as_secs()),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL after a grace period; how it ended.
    pub fn stop(&mut self) -> io::Result<Option<ExitStatus>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        // SAFETY: kill(2) on our own child, not yet reaped, so the pid is still ours.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(Some(status));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill()?;
        Ok(None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The chat-server to start: `given` (`--server-bin`), else the one next
/// to this program, where cargo builds both.
pub fn binary(given: Option<&Path>) -> Result<PathBuf, crate::Error> {
    match given {
        Some(bin) => Ok(bin.to_path_buf()),
        None => std::env::current_exe()
            .map(|exe| exe.with_file_name("chat-server"))
            .map_err(|source| crate::Error::Io {
                context: "finding chat-server next to chat-load".into(),
                source,
            }),
    }
}
