//! `chat-load search-storm`: issue 17's first attack. Does searching delay
//! the room?
//!
//! The log is filled with `--messages` messages of eight common words and
//! one of two animals, `zebra` and `quokka`, in turn, so that no message
//! holds both: `/search zebra quokka` reads every posting of both words and
//! finds nothing, the most a search of two common words costs. Then `-n`
//! desks each send that search every 50 ms, as fast as the server's default
//! rate limit lets them, for `-d` seconds, whatever the answers; from half
//! a second in, alice sends bob a line every 50 ms. Reported: alice→bob
//! latency (the top-level `latency_us`), how many of her lines arrived
//! (within [`ARRIVAL_LIMIT`] of the storm's end), and what the searchers got
//! back ([`SearchStormReport`]).
//!
//! Every desk is a thread of its own (see [`crate::attack`]); alice's lines
//! carry their send time, so bob needs nothing from her thread but how many
//! she sent.

use std::collections::BTreeMap;
use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chat_shared::SEPARATOR;
use hdrhistogram::Histogram;

use crate::attack::{self, field, kind, Desk, ReadEnd, Target};
use crate::common::{Progress, Rng};
use crate::config::{AttackPlan, Config};
use crate::report::{Report, SearchStormReport};
use crate::stats::{self, new_histogram};
use crate::Error;

/// What every searcher asks: two common words that never meet.
const SEARCH: &str = "/search zebra quokka";

/// The animals, one per message in turn.
const ANIMALS: [&str; 2] = ["zebra", "quokka"];

/// The common words of the log's messages, eight a message.
const WORDS: [&str; 10] = [
    "lunch", "meeting", "report", "coffee", "build", "deploy", "review", "today", "please",
    "thanks",
];

/// Words a message has besides its animal.
const WORDS_PER_MESSAGE: usize = 8;

/// A searcher's pace: the server's default rate limit, 20 lines a second.
const SEARCH_INTERVAL: Duration = Duration::from_millis(50);

/// Alice's pace: a line every 50 ms, as in the issue.
const PAIR_INTERVAL: Duration = Duration::from_millis(50);

/// Alice starts once the storm is on.
const PAIR_START: Duration = Duration::from_millis(500);

/// After the storm, how long searchers still count answers to searches
/// that were in flight.
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// After the storm, how long bob waits for alice's last lines; later ones
/// count as not arrived.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(10);

/// How often bob looks whether alice has finished and all her lines are in.
const ARRIVAL_CHECK: Duration = Duration::from_millis(100);

/// Runs the search storm `plan` describes.
pub fn run(config: &Config, plan: &AttackPlan) -> Result<Report, Error> {
    let started = Instant::now();
    let mut progress = Progress::new(config);
    let target = Target::new(plan)?;
    progress.say(&format!("filling the log with {} messages", plan.messages));
    let mut rng = Rng::new(7);
    let fill = target.fill(plan.messages, |index| message(index, &mut rng))?;
    progress.say(&format!(
        "log filled in {:.1} s; {} searchers for {:.1} s",
        fill.as_secs_f64(),
        config.clients,
        config.duration.as_secs_f64()
    ));
    let mut server = target.start_attacked(&[])?;
    let addr = server.addr();
    let (pid, watch) = attack::watch(&server)?;

    let join = |name: &str| {
        Desk::join(addr, name).map_err(|source| Error::Io {
            context: format!("{name} joining the attacked server"),
            source,
        })
    };
    let searchers: Vec<Desk> = (0..config.clients)
        .map(|index| join(&format!("searcher{index}")))
        .collect::<Result<_, _>>()?;
    let mut alice = join("alice")?;
    let bob = join("bob")?;

    let cpu_before = watch.cpu_ticks();
    let start = Instant::now();
    let stop = start + config.duration;
    let searching: Vec<JoinHandle<io::Result<Answers>>> = searchers
        .into_iter()
        .map(|desk| thread::spawn(move || search(desk, start, stop)))
        .collect();
    let alice_sent = Arc::new(AtomicU64::new(u64::MAX));
    let listening = {
        let alice_sent = Arc::clone(&alice_sent);
        thread::spawn(move || listen(bob, start, stop + ARRIVAL_LIMIT, &alice_sent))
    };
    let sent = talk(&mut alice, start, stop);
    alice_sent.store(sent.as_ref().map_or(0, |&n| n), Ordering::Relaxed);

    let mut errors = Vec::new();
    let mut answers = Answers::default();
    for handle in searching {
        match handle.join() {
            Ok(Ok(one)) => answers.add(one),
            Ok(Err(err)) => errors.push(format!("a searcher failed: {err}")),
            Err(_) => errors.push("a searcher's thread panicked".into()),
        }
    }
    let heard = listening
        .join()
        .map_err(|_| Error::Worker("bob's thread panicked".into()))?
        .map_err(|source| Error::Io {
            context: "bob reading alice's lines".into(),
            source,
        })?;
    let sent = sent.map_err(|source| Error::Io {
        context: "alice sending".into(),
        source,
    })?;
    let server_figures = attack::server_report(pid, watch, cpu_before);
    errors.extend(attack::stop(&mut server));
    progress.finish();

    let mut report = Report::of_run(config, addr.to_string());
    // The searchers; alice and bob are the pair's figures.
    report.connected = config.clients;
    report.messages_sent = sent;
    report.deliveries_expected = sent;
    report.deliveries_received = heard.len();
    report.delivered_fraction = (sent > 0).then(|| heard.len() as f64 / sent as f64);
    report.deliveries_per_sec = heard.len() as f64 / config.duration.as_secs_f64();
    report.latency_us = stats::summarize(&heard);
    report.search_storm = Some(SearchStormReport {
        log_messages: plan.messages as u64,
        searchers: config.clients as u64,
        searches_sent: answers.sent,
        answered: answers.answered,
        search_busy: answers.busy,
        search_too_broad: answers.too_broad,
        other_refusals: answers.other,
    });
    report.server = Some(server_figures);
    report.wall_secs = started.elapsed().as_secs_f64();
    report.errors = errors;
    Ok(report)
}

/// The `index`-th message of the log: eight common words and its animal.
fn message(index: usize, rng: &mut Rng) -> String {
    let mut words: Vec<&str> = (0..WORDS_PER_MESSAGE)
        .map(|_| WORDS[(rng.fraction() * WORDS.len() as f64) as usize % WORDS.len()])
        .collect();
    words.push(ANIMALS[index % ANIMALS.len()]);
    words.join(" ")
}

/// What the searchers sent and got back.
#[derive(Debug, Default)]
struct Answers {
    sent: u64,
    answered: u64,
    busy: u64,
    too_broad: u64,
    other: BTreeMap<String, u64>,
}

impl Answers {
    /// Counts one server line, if it answers a search.
    fn count(&mut self, line: &str) {
        match (kind(line), field(line, 1)) {
            ("SEARCH", _) => self.answered += 1,
            ("ERR", Some("search-busy")) => self.busy += 1,
            ("ERR", Some("search-too-broad")) => self.too_broad += 1,
            ("ERR", code) => *self.other.entry(code.unwrap_or("").into()).or_default() += 1,
            _ => {}
        }
    }

    fn add(&mut self, other: Answers) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.busy += other.busy;
        self.too_broad += other.too_broad;
        for (code, count) in other.other {
            *self.other.entry(code).or_default() += count;
        }
    }
}

/// One searcher: `/search` every [`SEARCH_INTERVAL`] from `start` to
/// `stop`, counting the answers until [`ANSWER_GRACE`] after.
fn search(mut desk: Desk, start: Instant, stop: Instant) -> io::Result<Answers> {
    let mut answers = Answers::default();
    let mut next = start;
    let end = stop + ANSWER_GRACE;
    loop {
        let now = Instant::now();
        if now >= end {
            return Ok(answers);
        }
        if now < stop && now >= next {
            desk.send(SEARCH)?;
            answers.sent += 1;
            next += SEARCH_INTERVAL;
        }
        let until = if now < stop { next.min(stop) } else { end };
        let read = desk.read_until(until, |line| {
            answers.count(line);
            ControlFlow::Continue(())
        })?;
        if read == ReadEnd::Closed {
            return Ok(answers);
        }
    }
}

/// Alice: a line every [`PAIR_INTERVAL`] from [`PAIR_START`] into the storm
/// to its end, each carrying its send time; how many she sent.
fn talk(alice: &mut Desk, start: Instant, stop: Instant) -> io::Result<u64> {
    let mut next = start + PAIR_START;
    let mut sent = 0;
    while next < stop {
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let micros = start.elapsed().as_micros();
        alice.send(&format!("alice{SEPARATOR}ping {sent} {micros}"))?;
        sent += 1;
        next += PAIR_INTERVAL;
    }
    Ok(sent)
}

/// Bob: the latency of each of alice's lines he gets before `deadline`, or
/// until he has all she sent.
fn listen(
    mut bob: Desk,
    start: Instant,
    deadline: Instant,
    alice_sent: &AtomicU64,
) -> io::Result<Histogram<u64>> {
    let mut latency = new_histogram();
    while Instant::now() < deadline && latency.len() < alice_sent.load(Ordering::Relaxed) {
        let until = (Instant::now() + ARRIVAL_CHECK).min(deadline);
        let read = bob.read_until(until, |line| {
            if let Some(sent_at) = ping_time(line) {
                let now = start.elapsed().as_micros() as u64;
                latency.saturating_record(now.saturating_sub(sent_at));
            }
            ControlFlow::Continue(())
        })?;
        if read == ReadEnd::Closed {
            break;
        }
    }
    Ok(latency)
}

/// When alice sent this line, microseconds into the storm, if it is hers:
/// an `MSG` whose text (its last field) is `ping SEQ MICROS`.
fn ping_time(line: &str) -> Option<u64> {
    if kind(line) != "MSG" || !line.contains(&format!("{SEPARATOR}alice{SEPARATOR}")) {
        return None;
    }
    let text = line.rsplit(SEPARATOR).next()?;
    let mut words = text.strip_prefix("ping ")?.split(' ');
    let _seq = words.next()?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_message_holds_both_animals() {
        let mut rng = Rng::new(7);
        for index in 0..100 {
            let text = message(index, &mut rng);
            assert_eq!(text.split(' ').count(), WORDS_PER_MESSAGE + 1, "{text}");
            assert!(
                !(text.contains("zebra") && text.contains("quokka")),
                "{text}"
            );
        }
    }

    #[test]
    fn answers_are_told_apart() {
        let mut answers = Answers::default();
        for line in [
            "SEARCH<SEP>0",
            "ERR<SEP>search-busy<SEP>wait",
            "ERR<SEP>search-too-broad<SEP>narrow it",
            "ERR<SEP>bad-search<SEP>no words",
            "FOUND<SEP>x",
            "MSG<SEP>1<SEP>t<SEP>alice<SEP>red<SEP>hi",
        ] {
            answers.count(line);
        }
        assert_eq!(
            (answers.answered, answers.busy, answers.too_broad),
            (1, 1, 1)
        );
        assert_eq!(answers.other, BTreeMap::from([("bad-search".into(), 1)]));
    }

    #[test]
    fn only_alices_pings_are_timed() {
        let sep = SEPARATOR;
        assert_eq!(
            ping_time(&format!(
                "MSG{sep}9{sep}t{sep}alice{sep}red{sep}ping 3 1500"
            )),
            Some(1500)
        );
        assert_eq!(
            ping_time(&format!(
                "MSG{sep}9{sep}t{sep}mallory{sep}red{sep}ping 3 1500"
            )),
            None
        );
        assert_eq!(
            ping_time(&format!(
                "HIST{sep}9{sep}t{sep}alice{sep}red{sep}ping 3 1500"
            )),
            None
        );
    }
}
