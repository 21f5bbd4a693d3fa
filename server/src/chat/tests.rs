//! The rules, tested as strings: a line goes in, the effects come out as
//! text; what a line publishes is stored as a store would (numbered in
//! order) and delivered as the store's answer would be.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use chat_shared::{ClientLine, Color, MessageId, ServerLine};

use super::*;
use crate::chat::rooms::{MAX_CREATIONS, MAX_ROOMS_PER_DESK};
use crate::desk::DeskId;
use crate::frames::Frame;
use crate::store::{ClaimOutcome, Completion, Message, RemoteMember, Request};

const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000);

fn settings(history_limit: usize) -> Settings {
    Settings {
        history_limit,
        replay_budget_bytes: usize::MAX,
        max_line_bytes: 4096,
        epoch: "e1".to_string(),
        can_search: true,
        shared_as: None,
    }
}

fn chat(history_limit: usize) -> Chat {
    Chat::new(settings(history_limit), None)
}

fn shared_chat() -> Chat {
    Chat::new(
        Settings {
            shared_as: Some("s1".to_string()),
            ..settings(20)
        },
        None,
    )
}

fn text(frame: &Frame) -> String {
    String::from_utf8(frame.to_vec()).unwrap()
}

fn asker(id: ConnId) -> Asker {
    Asker {
        conn: id,
        serial: id as u64,
    }
}

/// Messages stored so far, to number the next one.
fn stored(chat: &Chat) -> u64 {
    chat.rooms.get(MAIN).history().len() as u64
}

/// Effects as text; what is published is stored and delivered.
fn show(chat: &mut Chat, effects: Vec<Effect>) -> Vec<String> {
    let mut out = Vec::new();
    for effect in effects {
        match effect {
            Effect::Send(to, f) => out.push(format!("to {to} {}", text(&f))),
            Effect::Answer(to, f) => out.push(format!("answer {} {}", to.conn, text(&f))),
            Effect::Broadcast(room, f) | Effect::Message { room, frame: f, .. } if room == MAIN => {
                out.push(format!("all {}", text(&f)))
            }
            Effect::Message { room, frame: f, .. } => {
                let name = chat.rooms.get(room).name().to_string();
                out.push(format!("{name} {}", text(&f)))
            }
            Effect::Copy(to, f) => out.push(format!("to {to} {}", text(&f))),
            Effect::SendRaw(to, f) => out.push(format!("raw {to} {}", text(&f))),
            Effect::Broadcast(room, f) => {
                let name = chat.rooms.get(room).name().to_string();
                out.push(format!("{name} {}", text(&f)))
            }
            Effect::BroadcastOthers(room, except, f) => {
                let name = chat.rooms.get(room).name().to_string();
                out.push(format!("{name} but {except} {}", text(&f)))
            }
            Effect::NoticeAll(f) => out.push(format!("notice {}", text(&f))),
            Effect::Departure(to, f) => out.push(format!("unless in main {to} {}", text(&f))),
            Effect::Publish(draft) => {
                let id = MessageId::from_sequence(stored(chat) + 1);
                let mut delivered = Vec::new();
                chat.answer(
                    Completion::Appended(vec![Message::from_draft(draft, id)]),
                    &mut delivered,
                );
                out.extend(show(chat, delivered));
            }
            Effect::Ask(Request::Replay {
                after, desk, scope, ..
            }) => out.push(format!(
                "replay {after} {}{}",
                desk.is_some(),
                rooms_of(&scope)
            )),
            Effect::Ask(Request::Search {
                words, desk, scope, ..
            }) => out.push(format!(
                "search {words} {}{}",
                desk.is_some(),
                rooms_of(&scope)
            )),
            Effect::Ask(Request::ChangeRoom { change, .. }) => {
                // Kept at once, as a store would.
                let mut kept = Vec::new();
                chat.answer(Completion::RoomChanged(change), &mut kept);
                out.extend(show(chat, kept));
            }
            Effect::Ask(Request::Append(_)) => unreachable!("messages go out as Publish"),
            Effect::Claim { claim, .. } => out.push(format!("claim {}", claim.name)),
            Effect::Release(claim) => out.push(format!("release {}", claim.name)),
            Effect::Redesk(claim) => out.push(format!("redesk {}", claim.name)),
            Effect::ReadOn(id) => out.push(format!("read on {id}")),
            Effect::Close(id, reason) => out.push(format!("close {id} ({reason})")),
        }
    }
    out
}

/// The rooms of a scope, as `show` writes them: nothing for `#main` alone.
fn rooms_of(scope: &crate::store::Scope) -> String {
    let mut out = String::new();
    if !scope.main {
        out.push_str(" without #main");
    }
    for room in &scope.rooms {
        out.push(' ');
        out.push_str(room);
    }
    out
}

/// Connection `id` (new to the chat: it enters first) sends `line`.
fn run(chat: &mut Chat, id: ConnId, line: &str) -> Vec<String> {
    let mut effects = Vec::new();
    if !chat.is_in(id) {
        chat.connected(id, &mut Vec::new());
    }
    chat.handle(
        asker(id),
        PEER,
        Instant::now(),
        Input::Line(ClientLine::parse(line)),
        &mut effects,
    );
    show(chat, effects)
}

/// The store's answer to connection `id`'s claim, shown.
fn answer(chat: &mut Chat, id: ConnId, outcome: ClaimOutcome) -> Vec<String> {
    let claim = crate::store::NameClaim {
        name: "alice".to_string(),
        key: "alice".to_string(),
        color: Color::for_name("alice"),
        desk: DeskId::of("x"),
    };
    let mut effects = Vec::new();
    chat.answer(
        Completion::Claimed {
            asker: asker(id),
            claim,
            outcome,
        },
        &mut effects,
    );
    show(chat, effects)
}

fn leave(chat: &mut Chat, id: ConnId) -> Vec<String> {
    let mut effects = Vec::new();
    chat.leave(id, &mut effects);
    show(chat, effects)
}

#[test]
fn first_say_joins_then_broadcasts() {
    let mut chat = chat(20);
    let out = run(&mut chat, 1, "alice<SEP>hello");
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].starts_with("to 1 WELCOME<SEP>alice<SEP>"));
    assert!(out[1].starts_with("all JOIN<SEP>"));
    assert!(out[2].starts_with("all MSG<SEP>1<SEP>"), "{out:?}");
    assert!(out[2].contains("<SEP>alice<SEP>"), "{out:?}");
    assert!(out[2].ends_with("<SEP>hello\n"), "{out:?}");
}

#[test]
fn second_say_only_broadcasts() {
    let mut chat = chat(20);
    run(&mut chat, 1, "alice<SEP>one");
    let out = run(&mut chat, 1, "alice<SEP>two");
    assert_eq!(out.len(), 1);
    assert!(out[0].ends_with("<SEP>two\n"));
}

#[test]
fn taken_name_is_refused_case_blind() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    assert_eq!(
        run(&mut chat, 2, "Alice<SEP>hi"),
        vec!["to 2 ERR<SEP>name-taken<SEP>the name Alice is taken; choose another\n"]
    );
}

#[test]
fn lookalike_name_is_taken() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let out = run(&mut chat, 2, "\u{430}lice<SEP>hi");
    assert!(out[0].starts_with("to 2 ERR<SEP>name-taken"), "{out:?}");
    let own = run(&mut chat, 1, "ALICE<SEP>still me");
    assert!(own[0].contains("<SEP>alice<SEP>"), "{own:?}");
}

#[test]
fn name_is_free_again_after_leave() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let out = leave(&mut chat, 1);
    assert!(out[0].starts_with("all LEAVE<SEP>"), "{out:?}");
    assert!(run(&mut chat, 2, "/join alice")[0].starts_with("to 2 WELCOME"));
}

#[test]
fn leaving_without_a_name_is_silent() {
    let mut chat = chat(20);
    run(&mut chat, 7, "/who");
    assert!(leave(&mut chat, 7).is_empty());
    assert!(!chat.is_in(7));
}

#[test]
fn other_name_on_a_named_connection_is_refused() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let out = run(&mut chat, 1, "bob<SEP>hi");
    assert!(out[0].starts_with("to 1 ERR<SEP>wrong-name"), "{out:?}");
}

#[test]
fn a_desk_coming_back_keeps_its_secret() {
    let mut chat = chat(20);
    let secret = "00112233445566778899aabbccddeeff";
    let out = run(&mut chat, 1, &format!("/join alice cyan {secret}"));
    assert!(
        out[0].starts_with("to 1 WELCOME<SEP>alice<SEP>cyan<SEP>1<SEP>e1<SEP>")
            && out[0].contains(secret),
        "{out:?}"
    );
}

#[test]
fn join_keeps_the_chosen_colour() {
    let mut chat = chat(20);
    let out = run(&mut chat, 1, "/join alice bright-cyan");
    assert!(out[0].starts_with("to 1 WELCOME<SEP>alice<SEP>bright-cyan<SEP>1"));
}

#[test]
fn controls_in_text_are_made_visible() {
    let mut chat = chat(20);
    let out = run(&mut chat, 1, "alice<SEP>\x1b[2Jboom\x07");
    assert!(out[2].ends_with("<SEP>^[[2Jboom^G\n"), "{out:?}");
}

#[test]
fn resume_of_this_store_asks_it_for_a_replay() {
    let mut chat = chat(0);
    assert_eq!(run(&mut chat, 1, "/resume e1 41"), vec!["replay 41 false"]);
}

#[test]
fn resume_of_another_store_gets_the_recent_history() {
    let mut chat = chat(20);
    run(&mut chat, 1, "alice<SEP>one");
    let out = run(&mut chat, 2, "/resume e0 41");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0], "answer 2 RESUME<SEP>e1<SEP>0<SEP>1\n");
    assert!(out[1].starts_with("answer 2 HIST<SEP>1<SEP>"), "{out:?}");
}

#[test]
fn a_newcomer_gets_the_history_first() {
    let mut chat = chat(20);
    run(&mut chat, 1, "alice<SEP>one");
    let mut effects = Vec::new();
    chat.connected(2, &mut effects);
    let out = show(&mut chat, effects);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].starts_with("to 2 HIST<SEP>1<SEP>"), "{out:?}");
    assert!(chat.is_in(2));
}

/// The desk secret a `WELCOME` gave.
fn secret_of(welcome: &str) -> String {
    let line = welcome.split_once(' ').unwrap().1;
    let line = line.split_once(' ').unwrap().1;
    match ServerLine::parse(line.trim_end()) {
        Ok(ServerLine::Welcome { desk, .. }) => desk.to_string(),
        other => panic!("expected a WELCOME, got {other:?}"),
    }
}

#[test]
fn a_direct_message_goes_to_its_two_desks_only() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 3, "/join carol");
    let out = run(&mut chat, 1, "/msg BOB see you at 3");
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out[0].starts_with("to 1 DM<SEP>1<SEP>")
            && out[0].ends_with("<SEP>alice<SEP>bright-yellow<SEP>bob<SEP>see you at 3\n"),
        "{out:?}"
    );
    assert!(out[1].starts_with("to 2 DM<SEP>1<SEP>"), "{out:?}");
    assert_eq!(stored(&chat), 0, "direct messages stay out of the history");
}

#[test]
fn a_direct_message_to_oneself_arrives_once() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let out = run(&mut chat, 1, "/msg alice note to self");
    assert_eq!(out.len(), 1, "{out:?}");
}

#[test]
fn a_direct_message_to_nobody_online_is_refused() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    assert_eq!(
        run(&mut chat, 1, "/msg bob hi"),
        vec!["to 1 ERR<SEP>no-such-name<SEP>nobody called bob is online\n"]
    );
    assert!(run(&mut chat, 2, "/msg alice hi")[0].starts_with("to 2 ERR<SEP>wrong-name<SEP>"));
}

#[test]
fn welcome_gives_each_desk_its_own_secret() {
    let mut chat = chat(20);
    let a = secret_of(&run(&mut chat, 1, "/join alice")[0]);
    let b = secret_of(&run(&mut chat, 2, "/join bob")[0]);
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
}

#[test]
fn a_resumed_desk_gets_its_direct_messages_and_the_next_bob_does_not() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let bobs_secret = secret_of(&run(&mut chat, 2, "/join bob")[0]);
    leave(&mut chat, 2);
    // Someone else takes the name; then bob comes back as "bobby" and
    // proves his desk.
    run(&mut chat, 3, "/join bob");
    run(&mut chat, 4, "/join bobby");
    assert_eq!(
        run(&mut chat, 4, &format!("/resume e1 0 {bobs_secret}")),
        vec!["replay 0 true"]
    );
    let out = run(&mut chat, 1, "/msg bobby welcome back");
    assert!(out[1].starts_with("to 4 "), "{out:?}");
    let bob = DeskId::of(&bobs_secret);
    assert_eq!(chat.directory.member(4).unwrap().desk, bob);
    assert_ne!(
        chat.directory.member(3).unwrap().desk,
        bob,
        "the new bob is not the old desk"
    );
}

#[test]
fn who_shows_how_long_each_has_been_idle() {
    let mut chat = chat(0);
    run(&mut chat, 1, "/join bob");
    assert_eq!(
        run(&mut chat, 2, "/who"),
        vec!["to 2 WHO<SEP>1<SEP>bob 0\n"]
    );
}

#[test]
fn who_lists_names_sorted_with_count() {
    let mut chat = chat(0);
    run(&mut chat, 1, "/join bob");
    run(&mut chat, 2, "/join alice");
    assert_eq!(
        run(&mut chat, 3, "/who"),
        vec!["to 3 WHO<SEP>2<SEP>alice 0<SEP>bob 0\n"]
    );
}

#[test]
fn quit_says_bye_then_stops_reading() {
    let mut chat = chat(0);
    chat.connected(1, &mut Vec::new());
    let mut effects = Vec::new();
    let next = chat.handle(
        asker(1),
        PEER,
        Instant::now(),
        Input::Line(ClientLine::parse("/quit")),
        &mut effects,
    );
    assert!(
        matches!(next, AfterLine::Stop(CloseReason::Quit)),
        "{next:?}"
    );
    assert_eq!(show(&mut chat, effects), vec!["to 1 BYE<SEP>goodbye\n"]);
}

#[test]
fn bad_lines_get_errors() {
    let mut chat = chat(0);
    assert!(run(&mut chat, 1, "hello")[0].starts_with("to 1 ERR<SEP>bad-line"));
    assert!(run(&mut chat, 1, "/dance")[0].starts_with("to 1 ERR<SEP>bad-command"));
    assert!(run(&mut chat, 1, "a b<SEP>x")[0].starts_with("to 1 ERR<SEP>bad-name"));
    assert!(run(&mut chat, 1, "").is_empty());
}

#[test]
fn a_line_too_long_is_refused_with_the_limit() {
    let mut chat = chat(0);
    let mut effects = Vec::new();
    chat.handle(asker(1), PEER, Instant::now(), Input::TooLong, &mut effects);
    assert_eq!(
        show(&mut chat, effects),
        vec![
            "to 1 ERR<SEP>line-too-long<SEP>lines are at most 4096 bytes; that one was discarded\n"
        ]
    );
}

#[test]
fn a_seed_desk_joins_with_its_colour_by_its_first_message() {
    let mut chat = chat(20);
    chat.connected(1, &mut Vec::new());
    let frame = chat_shared::seed::parse_frame("\x1b[34m[2026-01-01 10:00:00] old<SEP>hi there");
    let mut effects = Vec::new();
    chat.handle(
        asker(1),
        PEER,
        Instant::now(),
        Input::Seed(frame),
        &mut effects,
    );
    let out = show(&mut chat, effects);
    assert!(
        out[0].starts_with("to 1 WELCOME<SEP>old<SEP>blue<SEP>"),
        "{out:?}"
    );
    assert!(
        out[2].ends_with("<SEP>old<SEP>blue<SEP>hi there\n"),
        "{out:?}"
    );
}

#[test]
fn search_goes_to_the_store_or_is_refused_without_one() {
    let mut chat = chat(0);
    assert_eq!(
        run(&mut chat, 1, "/search lunch"),
        vec!["search lunch false"]
    );
    let mut memory = Chat::new(
        Settings {
            can_search: false,
            ..settings(0)
        },
        None,
    );
    assert!(run(&mut memory, 1, "/search lunch")[0].starts_with("to 1 ERR<SEP>needs-log<SEP>"));
}

#[test]
fn a_store_that_cannot_save_refuses_and_says_so_once() {
    let mut chat = chat(0);
    run(&mut chat, 1, "/join alice");
    let draft = |text: &str| crate::store::Draft {
        from: asker(1),
        time: String::new(),
        name: "alice".to_string(),
        color: Color::for_name("alice"),
        text: text.to_string(),
        direct: None,
        tx: None,
        room: None,
    };
    let mut effects = Vec::new();
    chat.not_saved(vec![draft("a")], "disk full", &mut effects);
    chat.not_saved(vec![draft("b")], "disk full", &mut effects);
    let out = show(&mut chat, effects);
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(
        out[0].starts_with("notice NOTE<SEP>the server cannot save"),
        "{out:?}"
    );
    assert!(
        out[1].starts_with("answer 1 ERR<SEP>not-saved<SEP>"),
        "{out:?}"
    );
    let out = run(&mut chat, 1, "alice<SEP>back");
    assert!(
        out[0].starts_with("notice NOTE<SEP>messages are saved"),
        "{out:?}"
    );
}

#[test]
fn a_login_comes_first_and_lets_the_desk_in() {
    let accounts = crate::store::accounts::Accounts::from([(
        chat_shared::name::name_key("alice"),
        crate::store::accounts::Account {
            name: "alice".to_string(),
            created: String::new(),
            token_hash: crate::secret::hash_token("t0ken"),
        },
    )]);
    let mut chat = Chat::new(settings(20), Some(Gate::new(accounts)));
    chat.connected(1, &mut Vec::new());
    assert!(!chat.is_in(1), "not in the room before its login");
    let out = run_in(&mut chat, 1, "alice<SEP>hi");
    assert!(
        out[0].starts_with("to 1 ERR<SEP>auth-required<SEP>"),
        "{out:?}"
    );
    let out = run_in(&mut chat, 1, "/auth alice t0ken");
    assert!(out.is_empty(), "{out:?}");
    assert!(chat.is_in(1));
    let out = run_in(&mut chat, 1, "mallory<SEP>hi");
    assert!(
        out[0].starts_with("to 1 ERR<SEP>wrong-name<SEP>"),
        "{out:?}"
    );
    let out = run_in(&mut chat, 1, "/join Alice");
    assert!(out[0].starts_with("to 1 WELCOME<SEP>alice<SEP>"), "{out:?}");
}

/// [`run`] for a connection that is already connected (and may not be in
/// the room).
fn run_in(chat: &mut Chat, id: ConnId, line: &str) -> Vec<String> {
    let mut effects = Vec::new();
    chat.handle(
        asker(id),
        PEER,
        Instant::now(),
        Input::Line(ClientLine::parse(line)),
        &mut effects,
    );
    show(chat, effects)
}

#[test]
fn a_shared_room_claims_the_name_before_the_welcome() {
    let mut chat = shared_chat();
    assert_eq!(run(&mut chat, 1, "alice<SEP>hi"), vec!["claim alice"]);
    assert!(chat.holds_lines(1));
    let out = answer(&mut chat, 1, ClaimOutcome::Granted);
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].starts_with("to 1 WELCOME<SEP>alice<SEP>"), "{out:?}");
    assert!(
        out[1].starts_with("all MSG<SEP>"),
        "no JOIN here: it comes from the store"
    );
    assert_eq!(out[2], "read on 1");
    assert!(!chat.holds_lines(1));
}

#[test]
fn a_name_taken_elsewhere_is_refused_and_free_here_again() {
    let mut chat = shared_chat();
    run(&mut chat, 1, "/join alice");
    assert_eq!(
        run(&mut chat, 2, "/join alice"),
        vec!["to 2 ERR<SEP>name-taken<SEP>the name alice is taken; choose another\n"],
        "held here while claimed"
    );
    let out = answer(&mut chat, 1, ClaimOutcome::Taken);
    assert!(
        out[0].starts_with("to 1 ERR<SEP>name-taken<SEP>"),
        "{out:?}"
    );
    assert_eq!(out[1], "read on 1");
    assert_eq!(run(&mut chat, 2, "/join alice"), vec!["claim alice"]);
}

#[test]
fn a_claim_the_store_cannot_answer_says_goodbye() {
    let mut chat = shared_chat();
    run(&mut chat, 1, "/join alice");
    let out = answer(&mut chat, 1, ClaimOutcome::Unavailable("down".into()));
    assert!(out[0].starts_with("to 1 BYE<SEP>"), "{out:?}");
    assert!(out[1].starts_with("close 1 "), "{out:?}");
    assert_eq!(run(&mut chat, 2, "/join alice"), vec!["claim alice"]);
}

#[test]
fn leaving_a_shared_room_gives_the_name_back() {
    let mut chat = shared_chat();
    run(&mut chat, 1, "/join alice");
    answer(&mut chat, 1, ClaimOutcome::Granted);
    assert_eq!(leave(&mut chat, 1), vec!["release alice"]);
}

#[test]
fn a_claim_answered_after_its_desk_left_gives_the_name_back() {
    let mut chat = shared_chat();
    run(&mut chat, 1, "/join alice");
    leave(&mut chat, 1);
    assert_eq!(
        answer(&mut chat, 1, ClaimOutcome::Granted),
        vec!["release alice"]
    );
}

#[test]
fn a_claim_answered_to_a_later_connection_on_the_same_slot_is_stale() {
    let mut chat = shared_chat();
    run(&mut chat, 1, "/join alice");
    let mut effects = Vec::new();
    chat.answer(
        Completion::Claimed {
            asker: Asker {
                conn: 1,
                serial: 99,
            },
            claim: crate::store::NameClaim {
                name: "alice".to_string(),
                key: "alice".to_string(),
                color: Color::for_name("alice"),
                desk: DeskId::of("x"),
            },
            outcome: ClaimOutcome::Granted,
        },
        &mut effects,
    );
    assert_eq!(show(&mut chat, effects), vec!["release alice"]);
    assert!(chat.holds_lines(1));
}

#[test]
fn who_and_welcome_count_the_other_servers_desks() {
    let mut chat = Chat::new(
        Settings {
            shared_as: Some("s1".to_string()),
            ..settings(0)
        },
        None,
    );
    let mut effects = Vec::new();
    chat.answer(
        Completion::Roster(vec![RemoteMember {
            name: "zed".to_string(),
            color: Color::for_name("zed"),
            server: "s2".to_string(),
            desk: DeskId::of("z"),
        }]),
        &mut effects,
    );
    run(&mut chat, 1, "/join bob");
    let out = answer(&mut chat, 1, ClaimOutcome::Granted);
    assert!(
        out[0].starts_with("to 1 WELCOME<SEP>bob<SEP>blue<SEP>2<SEP>"),
        "{out:?}"
    );
    assert_eq!(
        run(&mut chat, 2, "/who"),
        vec!["to 2 WHO<SEP>2<SEP>bob 0<SEP>zed 0\n"]
    );
    chat.directory.remote_left("zed", "another server");
    assert!(run(&mut chat, 2, "/who")[0].starts_with("to 2 WHO<SEP>2<SEP>"));
    chat.directory.remote_left("zed", "s2");
    assert_eq!(
        run(&mut chat, 2, "/who"),
        vec!["to 2 WHO<SEP>1<SEP>bob 0\n"]
    );
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let mut chat = chat(0);
    chat.connected(1, &mut Vec::new());
    let mut effects = Vec::new();
    let decoded = String::from_utf8_lossy(b"alice<SEP>caf\xe9");
    chat.handle(
        asker(1),
        PEER,
        Instant::now(),
        Input::Line(ClientLine::parse(&decoded)),
        &mut effects,
    );
    assert!(matches!(effects.last(), Some(Effect::Publish(draft)) if draft.text == "caf\u{FFFD}"));
}

#[test]
fn a_tagged_message_is_acknowledged_before_its_copy() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    let out = run(&mut chat, 1, "/tx t1 alice<SEP>hello");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0], "to 1 SENT<SEP>t1<SEP>1\n");
    assert!(out[1].starts_with("all MSG<SEP>1<SEP>"), "{out:?}");
}

#[test]
fn a_tagged_direct_message_is_acknowledged_too() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    let out = run(&mut chat, 1, "/tx t2 /msg bob hi");
    assert_eq!(out[0], "to 1 SENT<SEP>t2<SEP>1\n", "{out:?}");
    assert!(out[1].starts_with("to 1 DM<SEP>") && out[2].starts_with("to 2 DM<SEP>"));
}

#[test]
fn a_message_stored_before_is_acknowledged_without_a_copy() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let mut effects = Vec::new();
    chat.handle(
        asker(1),
        PEER,
        Instant::now(),
        Input::Line(ClientLine::parse("/tx t1 alice<SEP>again")),
        &mut effects,
    );
    let Some(Effect::Publish(draft)) = effects.pop() else {
        panic!("expected a draft");
    };
    let mut answered = Vec::new();
    chat.answer(
        Completion::Duplicate {
            draft,
            id: MessageId::from_sequence(7),
        },
        &mut answered,
    );
    assert_eq!(
        show(&mut chat, answered),
        vec!["answer 1 SENT<SEP>t1<SEP>7\n"]
    );
}

#[test]
fn a_store_that_cannot_tell_says_unsure_not_lost() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let mut effects = Vec::new();
    for line in ["/tx t1 alice<SEP>tagged", "alice<SEP>untagged"] {
        chat.handle(
            asker(1),
            PEER,
            Instant::now(),
            Input::Line(ClientLine::parse(line)),
            &mut effects,
        );
    }
    let drafts = effects
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Publish(draft) => Some(draft),
            _ => None,
        })
        .collect();
    let mut answered = Vec::new();
    chat.answer(
        Completion::Unsure {
            drafts,
            error: "timed out".to_string(),
        },
        &mut answered,
    );
    let out = show(&mut chat, answered);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].starts_with("answer 1 UNSURE<SEP>t1<SEP>"), "{out:?}");
    assert!(
        out[1].starts_with("answer 1 ERR<SEP>unsure<SEP>"),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|line| line.contains("not-saved")),
        "{out:?}"
    );
}

#[test]
fn only_messages_can_be_tagged() {
    let mut chat = chat(0);
    assert!(run(&mut chat, 1, "/tx t1 /who")[0].starts_with("to 1 ERR<SEP>bad-command"));
    assert!(run(&mut chat, 1, "/tx bad!id alice<SEP>x")[0].starts_with("to 1 ERR<SEP>bad-command"));
}

#[test]
fn one_search_at_a_time_per_desk() {
    let mut chat = chat(0);
    assert_eq!(
        run(&mut chat, 1, "/search lunch"),
        vec!["search lunch false"]
    );
    let out = run(&mut chat, 1, "/search dinner");
    assert!(
        out[0].starts_with("to 1 ERR<SEP>search-busy<SEP>"),
        "{out:?}"
    );
    assert_eq!(
        run(&mut chat, 2, "/search dinner"),
        vec!["search dinner false"]
    );
    let mut effects = Vec::new();
    chat.answer(
        Completion::Found {
            asker: asker(1),
            messages: Vec::new(),
        },
        &mut effects,
    );
    assert_eq!(
        run(&mut chat, 1, "/search dinner"),
        vec!["search dinner false"]
    );
}

#[test]
fn search_refusals_say_what_to_do_and_never_the_engines_words() {
    use crate::store::SearchRefusal;
    let cases = [
        (SearchRefusal::Busy, "search-busy"),
        (SearchRefusal::Indexing, "search-busy"),
        (SearchRefusal::TooBroad, "search-too-broad"),
        (SearchRefusal::BadWords, "bad-search"),
        (
            SearchRefusal::Failed("fts5: syntax error near \"\"".to_string()),
            "search-failed",
        ),
    ];
    for (why, code) in cases {
        let mut chat = chat(0);
        run(&mut chat, 1, "/search x");
        let mut effects = Vec::new();
        chat.answer(
            Completion::SearchFailed {
                asker: asker(1),
                why,
            },
            &mut effects,
        );
        let out = show(&mut chat, effects);
        assert!(
            out[0].starts_with(&format!("answer 1 ERR<SEP>{code}<SEP>")),
            "{out:?}"
        );
        assert!(!out[0].contains("fts5"), "{out:?}");
        assert_eq!(run(&mut chat, 1, "/search y"), vec!["search y false"]);
    }
}

// --- Rooms ---------------------------------------------------------------

#[test]
fn joining_a_new_room_makes_it_and_puts_the_desk_in() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    let out = run(&mut chat, 1, "/room join #dev");
    assert_eq!(out, vec!["to 1 INROOM<SEP>#dev<SEP>public<SEP>1<SEP>\n"]);
}

#[test]
fn others_see_a_desk_enter_and_it_gets_the_rooms_history() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 1, "/room join #dev");
    run(&mut chat, 1, "/to #dev first words");
    let out = run(&mut chat, 2, "/room join #DEV");
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], "to 2 INROOM<SEP>#dev<SEP>public<SEP>2<SEP>\n");
    assert!(
        out[1].starts_with("to 2 RHIST<SEP>#dev<SEP>1<SEP>"),
        "{out:?}"
    );
    assert!(
        out[2].starts_with("#dev but 2 ENTER<SEP>#dev<SEP>"),
        "{out:?}"
    );
    assert!(out[2].contains("<SEP>bob<SEP>"), "{out:?}");
}

#[test]
fn a_rooms_messages_go_to_its_members_only() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 1, "/room join #dev");
    let out = run(&mut chat, 1, "/to #dev shipping today");
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].starts_with("#dev RMSG<SEP>#dev<SEP>1<SEP>")
            && out[0].ends_with("<SEP>alice<SEP>bright-yellow<SEP>shipping today\n"),
        "{out:?}"
    );
    assert_eq!(
        chat.rooms.get(MAIN).history().count(),
        0,
        "not #main's history"
    );
    assert!(run(&mut chat, 2, "/to #dev hi")[0].starts_with("to 2 ERR<SEP>not-in-room<SEP>"));
    assert!(run(&mut chat, 2, "/to #ops hi")[0].starts_with("to 2 ERR<SEP>no-such-room<SEP>"));
    let main = run(&mut chat, 2, "/to #main hello all");
    assert!(main[0].starts_with("all MSG<SEP>"), "{main:?}");
}

#[test]
fn a_private_room_is_hidden_until_an_invitation() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    let out = run(&mut chat, 1, "/room join #hr private");
    assert_eq!(out, vec!["to 1 INROOM<SEP>#hr<SEP>private<SEP>1<SEP>\n"]);
    let refused = run(&mut chat, 2, "/room join #hr");
    assert!(
        refused[0].starts_with("to 2 ERR<SEP>not-invited<SEP>"),
        "{refused:?}"
    );
    let listed = run(&mut chat, 2, "/room list");
    assert_eq!(listed.len(), 2, "only #main: {listed:?}");
    assert!(run(&mut chat, 2, "/search #hr pay")[0].starts_with("to 2 ERR<SEP>no-such-room"));
    let invited = run(&mut chat, 1, "/room invite #hr bob");
    assert_eq!(invited, vec!["to 2 INVITED<SEP>#hr<SEP>alice\n"]);
    let listed = run(&mut chat, 2, "/room list");
    assert_eq!(listed[0], "to 2 ROOMS<SEP>2\n");
    assert_eq!(listed[2], "to 2 ROOM<SEP>#hr<SEP>private<SEP>1<SEP>\n");
    let joined = run(&mut chat, 2, "/room join #hr");
    assert!(
        joined[0].starts_with("to 2 INROOM<SEP>#hr<SEP>private<SEP>2"),
        "{joined:?}"
    );
}

#[test]
fn leaving_a_room_says_so_to_the_desk_and_the_others() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 1, "/room join #dev");
    run(&mut chat, 2, "/room join #dev");
    let out = run(&mut chat, 2, "/room part #dev");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0], "to 2 PARTED<SEP>#dev\n");
    assert!(out[1].starts_with("#dev EXIT<SEP>#dev<SEP>"), "{out:?}");
    assert!(run(&mut chat, 2, "/to #dev x")[0].starts_with("to 2 ERR<SEP>not-in-room"));
    assert!(run(&mut chat, 2, "/room part #main")[0].starts_with("to 2 ERR<SEP>bad-room<SEP>"));
}

#[test]
fn a_topic_is_told_to_the_room_and_on_asking() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 1, "/room join #dev");
    let set = run(&mut chat, 1, "/room topic #dev release on friday");
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(
        set[0].starts_with("#dev TOPIC<SEP>#dev<SEP>")
            && set[0].ends_with("<SEP>alice<SEP>release on friday\n"),
        "{set:?}"
    );
    let asked = run(&mut chat, 2, "/room topic #dev");
    assert!(
        asked[0].starts_with("to 2 ERR<SEP>wrong-name"),
        "a name first: {asked:?}"
    );
    run(&mut chat, 2, "/join bob");
    let asked = run(&mut chat, 2, "/room topic #dev");
    assert!(asked[0].ends_with("<SEP>release on friday\n"), "{asked:?}");
    let listed = run(&mut chat, 2, "/room list");
    assert_eq!(
        listed[2],
        "to 2 ROOM<SEP>#dev<SEP>public<SEP>1<SEP>release on friday\n"
    );
    assert!(run(&mut chat, 2, "/room topic #dev x")[0].starts_with("to 2 ERR<SEP>not-in-room"));
}

#[test]
fn a_desk_makes_at_most_five_rooms_a_minute() {
    let mut chat = chat(0);
    run(&mut chat, 1, "/join alice");
    for n in 0..MAX_CREATIONS {
        let out = run(&mut chat, 1, &format!("/room join #r{n}"));
        assert!(out[0].starts_with("to 1 INROOM"), "{out:?}");
    }
    let out = run(&mut chat, 1, "/room join #one-more");
    assert!(
        out[0].starts_with("to 1 ERR<SEP>rooms-too-fast<SEP>"),
        "{out:?}"
    );
    assert!(
        run(&mut chat, 1, "/room join #r0")[0].starts_with("to 1 INROOM"),
        "an old one"
    );
}

#[test]
fn a_desk_is_in_at_most_fifty_rooms() {
    let mut chat = chat(0);
    for n in 0..MAX_ROOMS_PER_DESK {
        let maker = 100 + n;
        run(&mut chat, maker, &format!("/join maker{n}"));
        run(&mut chat, maker, &format!("/room join #r{n}"));
    }
    run(&mut chat, 1, "/join alice");
    for n in 0..MAX_ROOMS_PER_DESK {
        assert!(run(&mut chat, 1, &format!("/room join #r{n}"))[0].starts_with("to 1 INROOM"));
    }
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 2, "/room join #extra");
    let out = run(&mut chat, 1, "/room join #extra");
    assert!(
        out[0].starts_with("to 1 ERR<SEP>too-many-rooms<SEP>"),
        "{out:?}"
    );
}

#[test]
fn bad_room_names_are_refused_with_their_own_code() {
    let mut chat = chat(0);
    run(&mut chat, 1, "/join alice");
    assert!(run(&mut chat, 1, "/room join #a,b")[0].starts_with("to 1 ERR<SEP>bad-room<SEP>"));
    assert!(run(&mut chat, 1, "/room join dev")[0].starts_with("to 1 ERR<SEP>bad-room<SEP>"));
    assert!(run(&mut chat, 3, "/room join #dev")[0].starts_with("to 3 ERR<SEP>wrong-name<SEP>"));
}

#[test]
fn resume_and_search_cover_the_desks_rooms() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 1, "/room join #dev");
    assert_eq!(
        run(&mut chat, 1, "/resume e1 4"),
        vec!["replay 4 true #dev"]
    );
    assert_eq!(
        run(&mut chat, 1, "/search lunch"),
        vec!["search lunch true #dev"]
    );
    let mut effects = Vec::new();
    chat.answer(
        Completion::Found {
            asker: asker(1),
            messages: Vec::new(),
        },
        &mut effects,
    );
    assert_eq!(
        run(&mut chat, 1, "/search #dev lunch"),
        vec!["search lunch true without #main #dev"]
    );
}

#[test]
fn a_desk_coming_back_is_in_its_rooms_again_unannounced() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join bob");
    let secret = secret_of(&run(&mut chat, 2, "/join alice")[0]);
    run(&mut chat, 1, "/room join #dev");
    run(&mut chat, 2, "/room join #dev");
    run(&mut chat, 1, "/to #dev while you were here");
    leave(&mut chat, 2);
    let out = run(&mut chat, 3, &format!("/join alice yellow {secret}"));
    assert!(
        out.iter()
            .any(|l| l == "to 3 INROOM<SEP>#dev<SEP>public<SEP>2<SEP>\n"),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("to 3 RHIST<SEP>#dev<SEP>1<SEP>")),
        "{out:?}"
    );
    assert!(!out.iter().any(|l| l.contains("ENTER")), "{out:?}");
    assert!(run(&mut chat, 3, "/to #dev back")[0].starts_with("#dev RMSG<SEP>"));
}

#[test]
fn a_fresh_desk_under_an_old_name_gets_none_of_its_rooms() {
    let mut chat = chat(20);
    run(&mut chat, 2, "/join alice");
    run(&mut chat, 2, "/room join #secret-plans");
    leave(&mut chat, 2);
    let out = run(&mut chat, 3, "/join alice");
    assert!(!out.iter().any(|l| l.contains("INROOM")), "{out:?}");
}

#[test]
fn restored_rooms_keep_their_members_and_history() {
    let holder = crate::store::Holder::Desk(DeskId::of("5ec7e700000000000000000000000000"));
    let mut chat = chat(20);
    chat.restore(
        vec![crate::store::RoomState {
            key: "dev".into(),
            name: "#dev".into(),
            private: false,
            topic: None,
            holders: vec![holder],
            invited: Vec::new(),
        }],
        &[Message {
            id: MessageId::from_sequence(5),
            time: "t".into(),
            name: "bob".into(),
            color: Color::for_name("bob"),
            text: "before the restart".into(),
            direct: None,
            tx: None,
            room: Some("#dev".into()),
        }],
    );
    let out = run(
        &mut chat,
        1,
        "/join alice yellow 5ec7e700000000000000000000000000",
    );
    assert!(
        out.iter().any(|l| l.starts_with("to 1 INROOM<SEP>#dev")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("to 1 RHIST<SEP>#dev<SEP>5<SEP>")
                && l.ends_with("before the restart\n")),
        "{out:?}"
    );
}

#[test]
fn a_desk_coming_back_after_a_restart_is_not_news() {
    // A server that starts afresh told nobody the desk left.
    let mut chat = chat(20);
    let out = run(
        &mut chat,
        1,
        "/join alice yellow 00112233445566778899aabbccddeeff",
    );
    assert_eq!(out.len(), 1, "a WELCOME, no JOIN: {out:?}");
    assert!(out[0].starts_with("to 1 WELCOME<SEP>alice<SEP>"));
}

#[test]
fn a_desk_coming_back_after_its_leaving_was_told_is_greeted() {
    let mut chat = chat(20);
    let secret = secret_of(&run(&mut chat, 1, "/join alice")[0]);
    assert!(leave(&mut chat, 1)[0].starts_with("all LEAVE<SEP>"));
    let out = run(&mut chat, 2, &format!("/join alice yellow {secret}"));
    assert!(out[1].starts_with("all JOIN<SEP>"), "{out:?}");
}

#[test]
fn a_new_desk_is_always_news() {
    let mut chat = chat(20);
    let out = run(&mut chat, 1, "/join alice");
    assert!(out[1].starts_with("all JOIN<SEP>"), "{out:?}");
}

/// Alice makes #dev (its operator), Bob and Carol enter it.
fn dev_with_three() -> Chat {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 3, "/join carol");
    for id in 1..=3 {
        run(&mut chat, id, "/room join #dev");
    }
    chat
}

#[test]
fn the_maker_of_a_room_changes_its_modes_and_the_members_hear_it() {
    let mut chat = dev_with_three();
    assert_eq!(
        run(&mut chat, 2, "/room mode #dev"),
        vec!["to 2 MODE<SEP>#dev<SEP><SEP>+nt\n"]
    );
    let refused = run(&mut chat, 2, "/room mode #dev +m");
    assert!(
        refused[0].starts_with("to 2 ERR<SEP>not-operator<SEP>"),
        "{refused:?}"
    );
    assert_eq!(
        run(&mut chat, 1, "/room mode #dev +mv-t bob"),
        vec!["#dev MODE<SEP>#dev<SEP>alice<SEP>+mv-t bob\n"]
    );
    // Nothing changes twice.
    assert!(run(&mut chat, 1, "/room mode #dev +m").is_empty());
    assert_eq!(
        run(&mut chat, 1, "/room mode #dev"),
        vec!["to 1 MODE<SEP>#dev<SEP><SEP>+mn\n"]
    );
}

#[test]
fn a_moderated_room_hears_only_its_operators_and_voiced_desks() {
    let mut chat = dev_with_three();
    run(&mut chat, 1, "/room mode #dev +mv bob");
    let refused = run(&mut chat, 3, "/to #dev hello");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with("to 3 ERR<SEP>cannot-send<SEP>#dev is moderated"),
        "{refused:?}"
    );
    assert!(run(&mut chat, 2, "/to #dev voiced")[0].starts_with("#dev RMSG<SEP>"));
    assert!(run(&mut chat, 1, "/to #dev op")[0].starts_with("#dev RMSG<SEP>"));
}

#[test]
fn a_room_without_n_hears_desks_outside_it() {
    let mut chat = dev_with_three();
    run(&mut chat, 4, "/join dave");
    assert!(run(&mut chat, 4, "/to #dev hi")[0].starts_with("to 4 ERR<SEP>not-in-room<SEP>"));
    run(&mut chat, 1, "/room mode #dev -n");
    let heard = run(&mut chat, 4, "/to #dev from outside");
    assert!(
        heard[0].starts_with("#dev RMSG<SEP>#dev<SEP>")
            && heard[0].ends_with("<SEP>from outside\n"),
        "{heard:?}"
    );
}

#[test]
fn the_topic_of_a_t_room_is_its_operators() {
    let mut chat = dev_with_three();
    let refused = run(&mut chat, 2, "/room topic #dev mine");
    assert!(
        refused[0].starts_with("to 2 ERR<SEP>not-operator<SEP>"),
        "{refused:?}"
    );
    assert!(run(&mut chat, 1, "/room topic #dev ours")[0].starts_with("#dev TOPIC<SEP>#dev<SEP>"));
    run(&mut chat, 1, "/room mode #dev -t");
    assert!(run(&mut chat, 2, "/room topic #dev mine")[0].starts_with("#dev TOPIC<SEP>"));
}

#[test]
fn an_operator_kicks_a_desk_out_and_everyone_hears_it() {
    let mut chat = dev_with_three();
    let refused = run(&mut chat, 2, "/room kick #dev carol");
    assert!(
        refused[0].starts_with("to 2 ERR<SEP>not-operator<SEP>"),
        "{refused:?}"
    );
    let out = run(&mut chat, 1, "/room kick #dev carol too loud");
    assert_eq!(
        out,
        vec![
            "to 3 KICKED<SEP>#dev<SEP>carol<SEP>alice<SEP>too loud\n",
            "#dev KICKED<SEP>#dev<SEP>carol<SEP>alice<SEP>too loud\n",
        ]
    );
    let room = chat.rooms.find("#dev").unwrap();
    assert!(!chat.rooms.get(room).contains(3));
    assert!(run(&mut chat, 3, "/to #dev back?")[0].starts_with("to 3 ERR<SEP>not-in-room<SEP>"));
    let nobody = run(&mut chat, 1, "/room kick #dev carol");
    assert!(
        nobody[0].starts_with("to 1 ERR<SEP>not-there<SEP>"),
        "{nobody:?}"
    );
    let ghost = run(&mut chat, 1, "/room kick #dev zed");
    assert!(
        ghost[0].starts_with("to 1 ERR<SEP>no-such-name<SEP>"),
        "{ghost:?}"
    );
}

#[test]
fn a_rooms_modes_keep_desks_out_with_a_clear_refusal() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 1, "/room join #dev");
    let refused = |chat: &mut Chat, line: &str, code: &str| {
        let out = run(chat, 2, line);
        assert!(
            out[0].starts_with(&format!("to 2 ERR<SEP>{code}<SEP>")),
            "{line}: {out:?}"
        );
    };
    run(&mut chat, 1, "/room mode #dev +k s3cret");
    refused(&mut chat, "/room join #dev", "bad-key");
    refused(&mut chat, "/room join #dev key wrong", "bad-key");
    run(&mut chat, 1, "/room mode #dev -k+l * 1");
    refused(&mut chat, "/room join #dev", "room-full");
    run(&mut chat, 1, "/room mode #dev -l+i");
    refused(&mut chat, "/room join #dev", "invite-only");
    run(&mut chat, 1, "/room mode #dev -i+b bob!*@*");
    refused(&mut chat, "/room join #dev", "banned");
    run(&mut chat, 1, "/room mode #dev -b+k bob!*@* s3cret");
    let joined = run(&mut chat, 2, "/room join #dev key s3cret");
    assert!(
        joined[0].starts_with("to 2 INROOM<SEP>#dev<SEP>"),
        "{joined:?}"
    );
}

#[test]
fn bad_mode_lines_are_refused_and_bounded() {
    let mut chat = dev_with_three();
    let out = run(&mut chat, 1, "/room mode #dev +X");
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with("to 1 ERR<SEP>unknown-mode<SEP>X is not a mode"),
        "{out:?}"
    );
    let out = run(&mut chat, 1, "/room mode #dev +k");
    assert!(
        out[0].starts_with("to 1 ERR<SEP>bad-mode<SEP>a key is"),
        "{out:?}"
    );
    // A limit that is not a positive number is ignored.
    for limit in ["0", "-1", "abc"] {
        assert!(run(&mut chat, 1, &format!("/room mode #dev +l {limit}")).is_empty());
    }
    let out = run(&mut chat, 1, "/room mode #dev +vvvvvvv a b c d e f g");
    assert!(
        out.iter()
            .any(|l| l.contains("ERR<SEP>bad-mode<SEP>at most 6")),
        "{out:?}"
    );
    // Bans stop at the bound; the list says what is kept.
    for n in 0..crate::room::modes::MAX_BANS {
        run(&mut chat, 1, &format!("/room mode #dev +b n{n}!*@*"));
    }
    let full = run(&mut chat, 1, "/room mode #dev +b one!*@*");
    assert!(
        full[0].starts_with("to 1 ERR<SEP>bad-mode<SEP>a room keeps at most 50 bans"),
        "{full:?}"
    );
    let listed = run(&mut chat, 1, "/room mode #dev b");
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].starts_with("to 1 MODE<SEP>#dev<SEP><SEP>+bbbb"),
        "{listed:?}"
    );
    assert_eq!(listed[0].matches("!*@*").count(), 50);
    let main = run(&mut chat, 1, "/room mode #main +m");
    assert!(
        main[0].starts_with("to 1 ERR<SEP>not-operator<SEP>"),
        "{main:?}"
    );
}

#[test]
fn a_secret_room_is_not_listed_nor_its_members_shown_to_outsiders() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 1, "/room join #dev");
    run(&mut chat, 1, "/room mode #dev +s");
    assert_eq!(run(&mut chat, 2, "/room list").len(), 2, "only #main");
    assert_eq!(
        run(&mut chat, 2, "/room who #dev"),
        vec!["to 2 WHO<SEP>0\n"]
    );
    assert_eq!(run(&mut chat, 1, "/room list").len(), 3);
}

#[test]
fn invitations_to_an_i_room_are_its_operators() {
    let mut chat = dev_with_three();
    run(&mut chat, 4, "/join dave");
    run(&mut chat, 1, "/room mode #dev +i");
    let refused = run(&mut chat, 2, "/room invite #dev dave");
    assert!(
        refused[0].starts_with("to 2 ERR<SEP>not-operator<SEP>"),
        "{refused:?}"
    );
    let there = run(&mut chat, 1, "/room invite #dev bob");
    assert!(
        there[0].starts_with("to 1 ERR<SEP>already-there<SEP>"),
        "{there:?}"
    );
    assert_eq!(
        run(&mut chat, 1, "/room invite #dev dave"),
        vec!["to 4 INVITED<SEP>#dev<SEP>alice\n"]
    );
    assert!(run(&mut chat, 4, "/room join #dev")[0].starts_with("to 4 INROOM<SEP>#dev"));
}

#[test]
fn a_banned_member_is_silenced_unless_ranked() {
    let mut chat = dev_with_three();
    run(&mut chat, 1, "/room mode #dev +b carol!*@*");
    let refused = run(&mut chat, 3, "/to #dev hello");
    assert!(
        refused[0].starts_with("to 3 ERR<SEP>cannot-send<SEP>you are banned from #dev"),
        "{refused:?}"
    );
    run(&mut chat, 1, "/room mode #dev +v carol");
    assert!(run(&mut chat, 3, "/to #dev voiced")[0].starts_with("#dev RMSG<SEP>"));
    assert!(run(&mut chat, 2, "/to #dev bob")[0].starts_with("#dev RMSG<SEP>"));
}

#[test]
fn a_change_of_modes_from_the_log_is_made_only_by_an_operator() {
    let mut chat = dev_with_three();
    let told = |chat: &mut Chat, by: &str| {
        let change = crate::store::RoomChange::Modes(Box::new(crate::store::ModeChange {
            key: "#dev".to_string(),
            by: by.to_string(),
            changes: "+m-v+o zed carol".to_string(),
        }));
        let mut effects = Vec::new();
        chat.answer(Completion::RoomChanged(change), &mut effects);
        show(chat, effects)
    };
    // Bob is no operator (on any server): nothing changes.
    assert!(told(&mut chat, "bob").is_empty());
    // Alice is: what applies is made, what no longer does (zed) is skipped.
    assert_eq!(
        told(&mut chat, "alice"),
        vec!["#dev MODE<SEP>#dev<SEP>alice<SEP>+mo carol\n"]
    );
}

#[test]
fn a_leaver_is_a_departure_for_those_who_shared_a_room_with_it() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    run(&mut chat, 3, "/join carol");
    run(&mut chat, 1, "/room join #dev");
    run(&mut chat, 2, "/room join #dev");
    run(&mut chat, 1, "/room join #ops");
    run(&mut chat, 2, "/room join #ops");
    let out = leave(&mut chat, 1);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].starts_with("all LEAVE<SEP>"), "{out:?}");
    // Bob shared two rooms with alice, and is told once; carol none.
    assert!(out[1].starts_with("unless in main 2 LEAVE<SEP>"), "{out:?}");
    assert!(out[1].contains("<SEP>alice<SEP>"), "{out:?}");
}

#[test]
fn a_rename_keeps_the_connection_and_frees_the_old_name() {
    let mut chat = chat(20);
    run(&mut chat, 1, "/join alice");
    run(&mut chat, 2, "/join bob");
    assert_eq!(chat.rename(2, "ALICE"), Err(Unrenamed::Taken));
    assert_eq!(chat.rename(1, "Alice"), Ok("alice".to_string()));
    assert_eq!(chat.rename(1, "malice"), Ok("Alice".to_string()));
    assert_eq!(chat.conn_named("MALICE"), Some(1));
    assert_eq!(chat.conn_named("alice"), None);
    let out = run(&mut chat, 3, "/join alice");
    assert!(out[0].starts_with("to 3 WELCOME<SEP>alice<SEP>"), "{out:?}");
    assert_eq!(chat.rename(4, "nobody"), Err(Unrenamed::Nameless));
}

#[test]
fn on_a_shared_store_a_leaver_is_a_departure_at_once_beside_its_release() {
    let mut chat = shared_chat();
    for (id, name) in [(1, "alice"), (2, "bob")] {
        run(&mut chat, id, &format!("/join {name}"));
        let claim = crate::store::NameClaim {
            name: name.to_string(),
            key: name.to_string(),
            color: Color::for_name(name),
            desk: DeskId::of(name),
        };
        let granted = Completion::Claimed {
            asker: asker(id),
            claim,
            outcome: ClaimOutcome::Granted,
        };
        chat.answer(granted, &mut Vec::new());
        assert_eq!(chat.name_of(id), Some(name));
    }
    run(&mut chat, 1, "/room join #dev");
    run(&mut chat, 2, "/room join #dev");
    let out = leave(&mut chat, 1);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0], "release alice");
    assert!(out[1].starts_with("unless in main 2 LEAVE<SEP>"), "{out:?}");
}
