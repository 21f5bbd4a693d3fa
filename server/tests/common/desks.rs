//! What a desk does, as lines of our protocol, for the tests of rooms and
//! search: taking a name (and keeping the desk's secret and the log's epoch
//! for a resume), joining and listing rooms, saying something in one, and
//! searching.

use chat_shared::{MessageId, ServerLine};

use super::{Client, ServerProcess};

/// A desk that took a name: its connection, the log's epoch and its desk
/// secret.
pub struct Desk {
    pub client: Client,
    pub epoch: String,
    pub secret: String,
}

/// A new desk that took `name`.
#[track_caller]
pub fn desk(server: &ServerProcess, name: &str) -> Desk {
    desk_with(server, name, None)
}

/// A desk that took `name`, coming back with `secret` if given (so it is
/// the desk that had it, with its rooms).
#[track_caller]
pub fn desk_with(server: &ServerProcess, name: &str, secret: Option<&str>) -> Desk {
    let mut client = Client::connect(server.addr());
    match secret {
        Some(secret) => client.send_line(&format!("/join {name} blue {secret}")),
        None => client.send_line(&format!("/join {name}")),
    }
    let welcome = client.wait_for(&format!("WELCOME for {name}"), |line| {
        line.starts_with(&format!("WELCOME<SEP>{name}<SEP>"))
    });
    let Ok(ServerLine::Welcome { epoch, desk, .. }) = ServerLine::parse(&welcome) else {
        panic!("expected a WELCOME, got {welcome:?}");
    };
    Desk {
        epoch: epoch.to_string(),
        secret: desk.to_string(),
        client,
    }
}

/// Sends `/room join ROOM` and waits to be in it; returns the `INROOM`.
#[track_caller]
pub fn join_room(client: &mut Client, room: &str) -> String {
    client.send_line(&format!("/room join {room}"));
    in_room(client, room)
}

/// The `INROOM` line for `room` (skipping others).
#[track_caller]
pub fn in_room(client: &mut Client, room: &str) -> String {
    client.wait_for(&format!("INROOM for {room}"), |line| {
        line.starts_with(&format!("INROOM<SEP>{room}<SEP>"))
    })
}

/// Says `text` in `room` as a desk in it and waits for its copy; returns
/// the message's ID.
#[track_caller]
pub fn say_in(client: &mut Client, room: &str, text: &str) -> MessageId {
    client.send_line(&format!("/to {room} {text}"));
    let copy = client.wait_for(&format!("RMSG {text}"), |line| {
        line.starts_with(&format!("RMSG<SEP>{room}<SEP>"))
            && line.ends_with(&format!("<SEP>{text}"))
    });
    match ServerLine::parse(&copy) {
        Ok(ServerLine::RoomMsg(message)) => message.chat.id,
        other => panic!("expected an RMSG, got {other:?}"),
    }
}

/// Waits for a line ending with `<SEP>TEXT` (a message of any kind).
#[track_caller]
pub fn wait_for_text(client: &mut Client, text: &str) -> String {
    client.wait_for(text, |line| line.ends_with(&format!("<SEP>{text}")))
}

/// The `ROOM` lines of a `/room list` answer.
#[track_caller]
pub fn list(client: &mut Client) -> Vec<String> {
    client.send_line("/room list");
    let head = client.wait_for("ROOMS", |line| line.starts_with("ROOMS<SEP>"));
    let count: usize = head["ROOMS<SEP>".len()..].parse().expect("a count");
    (0..count).map(|_| client.line()).collect()
}

/// Sends `/search WORDS` and returns the results as `name:text`, with
/// `#room ` before a room's and `>to` after the writer of a direct message.
#[track_caller]
pub fn search(client: &mut Client, words: &str) -> Vec<String> {
    client.send_line(&format!("/search {words}"));
    let head = client.wait_for("SEARCH or ERR", |line| {
        line.starts_with("SEARCH<SEP>") || line.starts_with("ERR<SEP>")
    });
    let count = match ServerLine::parse(&head) {
        Ok(ServerLine::Searched { count }) => count,
        _ => panic!("expected search results, got {head:?}"),
    };
    (0..count)
        .map(|_| match ServerLine::parse(&client.line()) {
            Ok(ServerLine::Found(found)) => match found.to {
                Some(to) => format!("{}>{to}:{}", found.chat.name, found.chat.text),
                None => format!("{}:{}", found.chat.name, found.chat.text),
            },
            Ok(ServerLine::RoomFound(found)) => {
                format!("{} {}:{}", found.room, found.chat.name, found.chat.text)
            }
            other => panic!("expected a FOUND line, got {other:?}"),
        })
        .collect()
}
