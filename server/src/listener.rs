//! The listening socket, each client socket's options, and the process's fd
//! limit, set up the way a server for thousands of desks needs them.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use chat_shared::ServerLine;

use crate::frames::encode;

/// Connections the kernel may queue before we accept them. When a thousand
/// desks reconnect after a restart, std's 128 drops SYNs and makes clients
/// wait seconds for a retry; Linux caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// Binds `host:port` with SO_REUSEADDR (a restart must not fail on sockets
/// in TIME_WAIT), a large backlog and the client sockets' options, which
/// Linux copies to every socket accepted from it ([`CLIENT_OPTIONS_INHERITED`]).
/// The listener is left blocking; each mode sets what it needs.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    let addr = resolve(host, port)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    configure_client_socket(&socket)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address found for {host}"),
        )
    })
}

/// Raises the soft fd limit to the hard one, so `--max-clients` can reach
/// what the system allows. Returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// The kernel send buffer of each client socket. Linux would otherwise grow
/// it up to `tcp_wmem`'s maximum (4 MiB here) for a peer that stops reading,
/// so a stuck desk could hold megabytes of kernel memory before `--max-queue`
/// ever saw a byte. 64 KiB (the kernel doubles it for bookkeeping) is more
/// than a LAN round trip of chat needs.
const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Whether a socket accepted from [`bind`]'s listener already has
/// [`configure_client_socket`]'s options: Linux copies a listener's socket
/// options to the sockets it accepts. Setting them once spares the event loop
/// six system calls per newcomer, ~2% of its work in a storm of reconnecting
/// TLS desks.
pub const CLIENT_OPTIONS_INHERITED: bool = cfg!(target_os = "linux");

/// Low latency for small lines (no Nagle delay), a bounded kernel send
/// buffer, and TCP keepalive so a peer that vanished is noticed by the
/// kernel even if the client never writes. Both modes set the same options.
pub fn configure_client_socket(socket: &impl AsFd) -> io::Result<()> {
    let socket = SockRef::from(socket);
    socket.set_tcp_nodelay(true)?;
    socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(6);
    socket.set_tcp_keepalive(&keepalive)
}

/// Sends a newcomer a one-line refusal, in a single write that does not wait
/// (a short line fits any fresh socket buffer), logs it, and closes it.
pub fn refuse(mut stream: impl Write, peer: SocketAddr, reason: &str) {
    let _ = stream.write(&encode(&ServerLine::Bye { reason }));
    tracing::info!(%peer, %reason, "[-] refused");
}

/// The refusal reason past `--max-clients`.
pub fn full_reason(max_clients: usize) -> String {
    format!("the server is full ({max_clients} clients); try again later")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event loop leaves a newcomer's socket as accepted, so on Linux
    /// the options must already be there.
    #[test]
    fn an_accepted_socket_has_the_client_options_when_inherited() {
        let listener = bind("127.0.0.1", 0).expect("a listener");
        let _peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().expect("a connection");
        let socket = SockRef::from(&accepted);
        let options = (
            socket.tcp_nodelay().unwrap(),
            socket.keepalive().unwrap(),
            socket.tcp_keepalive_time().unwrap(),
            socket.send_buffer_size().unwrap() == 2 * SEND_BUFFER_BYTES, // Linux doubles it
        );
        let wanted = (true, true, Duration::from_secs(60), true);
        assert_eq!(options == wanted, CLIENT_OPTIONS_INHERITED, "{options:?}");
    }
}
