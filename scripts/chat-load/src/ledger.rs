//! The restart scenario's accounting: which messages each client counted,
//! by the ID the room's log gave them, checked at the end against the log
//! itself.
//!
//! A client owes every message of the run that the log holds from the first
//! message the client saw onwards: the server had registered it by then, so
//! everything stored later was broadcast to it, live or, after a restart,
//! in the replay its `/resume` asks for. Counted twice is a duplicate;
//! counted after a higher ID is out of order (still a delivery); owed and
//! never counted is lost. Counted, but missing from the log although older
//! than its newest message, is worse: delivered, then lost by the log.
//! Nothing here does I/O.

use std::collections::BTreeSet;

use chat_shared::MessageId;

/// One client's record.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// The first message this client saw, of anyone's: where what it is
    /// owed begins.
    from: Option<MessageId>,
    /// The run's messages it counted, each once.
    counted: BTreeSet<MessageId>,
    /// The highest ID counted so far.
    highest: Option<MessageId>,
    /// Arrivals of a message already counted.
    duplicated: u64,
    /// Arrivals below the highest ID already counted.
    out_of_order: u64,
}

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A message not counted before, in order.
    New,
    /// A message not counted before, but after a higher ID: a delivery, out
    /// of order.
    Late,
    /// Counted before.
    Duplicate,
}

impl Ledger {
    /// Notes a message seen (the run's or not): the first one opens what the
    /// client is owed.
    pub fn saw(&mut self, id: MessageId) {
        self.from.get_or_insert(id);
    }

    /// Whether the client has seen a message yet, so that the server has
    /// certainly registered it.
    pub fn is_open(&self) -> bool {
        self.from.is_some()
    }

    /// Counts an arrival of the run's message `id`.
    pub fn record(&mut self, id: MessageId) -> Arrival {
        self.saw(id);
        if !self.counted.insert(id) {
            self.duplicated += 1;
            return Arrival::Duplicate;
        }
        if self.highest.is_some_and(|highest| id < highest) {
            self.out_of_order += 1;
            return Arrival::Late;
        }
        self.highest = Some(id);
        Arrival::New
    }

    /// The messages of `log` this client is owed.
    fn owed<'a>(&self, log: &'a BTreeSet<MessageId>) -> impl Iterator<Item = &'a MessageId> {
        let from = self.from;
        log.iter()
            .filter(move |id| from.is_some_and(|from| **id >= from))
    }
}

/// The ledgers summed against the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Deliveries owed: per client, the run's messages in the log from its
    /// first message on.
    pub expected: u64,
    /// Of those, how many it counted.
    pub received: u64,
    /// Owed and never counted.
    pub lost: u64,
    /// Arrivals of a message the client had already counted.
    pub duplicated: u64,
    /// Arrivals after a higher ID.
    pub out_of_order: u64,
    /// The run's messages counted by a client that the log does not hold,
    /// though they fall within what it was read for: delivered, then lost.
    pub unlogged: u64,
}

/// Sums every client's ledger against `log`, the run's messages the log
/// holds at the end. Messages a client counted above the log's newest were
/// stored after it was read: neither owed nor lost. Those between its oldest
/// and its newest that it lacks are unlogged.
pub fn tally<'a>(
    log: &BTreeSet<MessageId>,
    ledgers: impl IntoIterator<Item = &'a Ledger>,
) -> Tally {
    let mut sum = Tally::default();
    let span = log.first().zip(log.last());
    for ledger in ledgers {
        if let Some((&oldest, &newest)) = span {
            sum.unlogged += ledger
                .counted
                .range(oldest..=newest)
                .filter(|id| !log.contains(id))
                .count() as u64;
        }
        for id in ledger.owed(log) {
            sum.expected += 1;
            if ledger.counted.contains(id) {
                sum.received += 1;
            } else {
                sum.lost += 1;
            }
        }
        sum.duplicated += ledger.duplicated;
        sum.out_of_order += ledger.out_of_order;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> MessageId {
        MessageId::from_sequence(n)
    }

    fn log(ids: impl IntoIterator<Item = u64>) -> BTreeSet<MessageId> {
        ids.into_iter().map(id).collect()
    }

    fn ledger(from: u64, arrivals: &[u64]) -> (Ledger, Vec<Arrival>) {
        let mut ledger = Ledger::default();
        ledger.saw(id(from));
        let kinds = arrivals.iter().map(|&n| ledger.record(id(n))).collect();
        (ledger, kinds)
    }

    #[test]
    fn everything_once_in_order_is_clean() {
        let (ledger, kinds) = ledger(1, &[2, 3, 4]);
        assert!(kinds.iter().all(|k| *k == Arrival::New));
        let sum = tally(&log(2..=4), [&ledger]);
        assert_eq!(
            sum,
            Tally {
                expected: 3,
                received: 3,
                ..Tally::default()
            }
        );
    }

    #[test]
    fn a_message_twice_is_a_duplicate_and_one_delivery() {
        let (ledger, kinds) = ledger(1, &[2, 3, 3, 4]);
        assert_eq!(kinds[2], Arrival::Duplicate);
        let sum = tally(&log(2..=4), [&ledger]);
        assert_eq!((sum.received, sum.duplicated, sum.lost), (3, 1, 0));
    }

    #[test]
    fn a_lower_id_after_a_higher_one_is_out_of_order_but_delivered() {
        let (ledger, kinds) = ledger(1, &[2, 4, 3]);
        assert_eq!(kinds, [Arrival::New, Arrival::New, Arrival::Late]);
        let sum = tally(&log(2..=4), [&ledger]);
        assert_eq!((sum.received, sum.out_of_order, sum.lost), (3, 1, 0));
    }

    #[test]
    fn a_gap_is_lost() {
        let (ledger, _) = ledger(1, &[2, 5]);
        let sum = tally(&log(2..=5), [&ledger]);
        assert_eq!((sum.expected, sum.received, sum.lost), (4, 2, 2));
    }

    #[test]
    fn nothing_before_the_first_message_seen_is_owed() {
        // Its first message was 10, a probe (not the run's): 1 to 9 were
        // stored before it was there.
        let (late_joiner, _) = ledger(10, &[11, 12]);
        let sum = tally(&log((1..=12).filter(|n| *n != 10)), [&late_joiner]);
        assert_eq!((sum.expected, sum.lost), (2, 0));
    }

    #[test]
    fn messages_stored_after_the_log_was_read_are_not_counted_against_anyone() {
        let (ledger, _) = ledger(1, &[2, 3, 4, 5]);
        let sum = tally(&log(2..=3), [&ledger]);
        assert_eq!((sum.expected, sum.received, sum.lost), (2, 2, 0));
    }

    #[test]
    fn a_message_counted_but_missing_from_the_log_is_unlogged() {
        // 3 reached the client, yet the log kept 2 and 4 only.
        let (ledger, _) = ledger(1, &[2, 3, 4, 5]);
        let sum = tally(&log([2, 4]), [&ledger]);
        assert_eq!((sum.unlogged, sum.lost, sum.received), (1, 0, 2));
    }

    #[test]
    fn a_client_that_never_saw_a_message_owes_nothing() {
        let silent = Ledger::default();
        assert!(!silent.is_open());
        assert_eq!(tally(&log(1..=3), [&silent]), Tally::default());
    }

    #[test]
    fn clients_add_up() {
        let (a, _) = ledger(1, &[2, 3]);
        let (b, _) = ledger(2, &[3, 3]);
        let sum = tally(&log(2..=3), [&a, &b]);
        assert_eq!(
            sum,
            Tally {
                expected: 4,
                received: 3,
                lost: 1,
                duplicated: 1,
                out_of_order: 0,
                unlogged: 0
            }
        );
    }

    #[test]
    fn stream_ids_compare_number_by_number() {
        let mut ledger = Ledger::default();
        ledger.saw(MessageId::new(100, 0));
        assert_eq!(ledger.record(MessageId::new(100, 1)), Arrival::New);
        assert_eq!(ledger.record(MessageId::new(101, 0)), Arrival::New);
        assert_eq!(ledger.record(MessageId::new(100, 2)), Arrival::Late);
    }
}
