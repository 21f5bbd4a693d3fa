//! chat-load spread over two chat-servers (in-process, port 0) that share one
//! room through a real `redis-server`: every delivery arrives and every
//! receiver, on either server, sees the room's one order. Skipped with a
//! line on stderr when `redis-server` is missing, except in CI (`CI` set),
//! which installs it (`scripts/setup`).

mod common;

use chat_load::{parse_args, run};
use chat_server::config::Db;
use chat_server::config::RedisTarget;
use chat_server::Config as ServerConfig;
use common::{assert_complete_delivery, quiet_server, start_server};
use test_support::{Persistence, RedisServer};

#[test]
fn two_servers_on_one_redis_room_deliver_everything_in_one_order() {
    let Some(redis) = RedisServer::start_or_skip(Persistence::None) else {
        return;
    };
    let on_redis = || ServerConfig {
        db: Db::Redis(RedisTarget {
            url: redis.url(),
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
