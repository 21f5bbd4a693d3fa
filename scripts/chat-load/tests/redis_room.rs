//! chat-load spread over two chat-servers (in-process, port 0) that share one
//! room through a real `redis-server`: every delivery arrives and every
//! receiver, on either server, sees the room's one order. Skipped with a
//! line on stderr when `redis-server` is missing, except in CI (`CI` set),
//! which installs it (`scripts/setup`).

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chat_load::{parse_args, run};
use chat_server::config::Db;
use chat_server::config::RedisTarget;
use chat_server::Config as ServerConfig;
use common::{assert_complete_delivery, quiet_server, start_server};

/// Ports tried before giving up: another process may take the free port
/// between our probe and Redis's bind.
const PORT_ATTEMPTS: usize = 5;

/// How long redis-server gets to accept connections.
const REDIS_READY: Duration = Duration::from_secs(10);

/// A redis-server on a free port of 127.0.0.1 (never `--port 0`, which
/// turns TCP off), keeping nothing; SIGKILLed and reaped when dropped.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis_or_skip() -> Option<Redis> {
    let installed = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is not installed, and CI must run this test (scripts/setup installs it)"
        );
        eprintln!("skipped: redis-server is not installed (scripts/setup installs it)");
        return None;
    }
    for _ in 0..PORT_ATTEMPTS {
        let dir = tempfile::tempdir().expect("a folder for redis-server");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port");
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = Instant::now() + REDIS_READY;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Redis {
                    child,
                    port,
                    _dir: dir,
                });
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("redis-server did not start on any of {PORT_ATTEMPTS} free ports");
}

#[test]
fn two_servers_on_one_redis_room_deliver_everything_in_one_order() {
    let Some(redis) = start_redis_or_skip() else {
        return;
    };
    let on_redis = || ServerConfig {
        db: Db::Redis(RedisTarget {
            url: format!("redis://127.0.0.1:{}", redis.port),
            office: "load-test".into(),
        }),
        ..quiet_server()
    };
    let first = start_server(on_redis());
    let second = start_server(on_redis());
    let both = format!("{},{}", first.addr(), second.addr());
    let config = parse_args(&[
        "fanout",
        "-n",
        "100",
        "--senders",
        "10",
        "--rate",
        "4",
        "-d",
        "2",
        "--addr",
        &both,
        "--quiet",
        "--drain",
        "5",
    ])
    .expect("test flags are valid");
    let report = run(&config).expect("the run completes");
    assert_complete_delivery(&report);
    let order = report.order.expect("the order was checked");
    assert_eq!(order.servers, 2);
    assert_eq!(order.receivers, 100);
    assert_eq!(order.receivers_differing, 0, "{order:?}");
}
