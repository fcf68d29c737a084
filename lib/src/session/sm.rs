//! Stream management (XEP-0198), sans I/O: the counters and the queue of
//! unacknowledged stanzas.
//!
//! [`StreamManagement`] decides what the counters say: how many of our
//! stanzas the server has acknowledged (and so which queued ones can go),
//! what `h` we answer, when to ask for an acknowledgement, what to send
//! again after a resumption or a new session, and whether the server's `h`
//! is possible at all. Counters are mod 2^32, as XEP-0198 §4 says.
//!
//! What the caller does:
//!
//! - write the stanzas, and call [`StreamManagement::sent`] for each one
//!   that [`is_counted`]; write [`request`] when it says so;
//! - parse `<a/>`, `<r/>`, `<resumed/>` and `<failed/>` and call the
//!   matching method; call [`StreamManagement::handled`] for each inbound
//!   stanza once it is delivered or answered;
//! - on an impossible `h`, end the stream (XEP-0198 asks for an
//!   `<undefined-condition/>` stream error with `<handled-count-too-high/>`);
//! - report or keep the stanzas taken out of the queue, and bound the
//!   queue's size if it must: nothing here limits it.
//!
//! Each queued stanza carries a tag of the caller's type `T` (for example
//! whether it came from downstream), returned with it.

use crate::exit::Error;
use crate::stream::NS_SM;
use std::collections::VecDeque;

/// Ask for an acknowledgement each time this many stanzas wait for one, so
/// that a long session (a log followed for months) keeps only the last few.
pub const ACK_EVERY: usize = 64;

/// The local name of a stanza line's root element (with its prefix, if any).
fn root_name(line: &str) -> &str {
    let name = line.strip_prefix('<').unwrap_or_default();
    let end = name
        .find([' ', '\t', '\r', '\n', '/', '>'])
        .unwrap_or(name.len());
    &name[..end]
}

/// Whether XEP-0198 counts this stanza line: a `message`, `presence` or `iq`
/// root without a prefix (nonzas such as `<r/>` and `<a/>`, and
/// `<stream:error/>`, are not counted).
pub fn is_counted(line: &str) -> bool {
    matches!(root_name(line), "message" | "presence" | "iq")
}

/// The acknowledgement request, `<r xmlns='urn:xmpp:sm:3'/>`.
pub fn request() -> String {
    format!("<r xmlns='{NS_SM}'/>")
}

/// A stanza sent and not acknowledged yet, with the caller's tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued<T> {
    /// The stanza line as it was written.
    pub line: String,
    /// What the caller attached to it.
    pub tag: T,
}

/// The stream-management state of one session; see the module documentation.
#[derive(Clone, Debug)]
pub struct StreamManagement<T> {
    /// Our stanzas counted since stream management was enabled (mod 2^32).
    sent: u32,
    /// The last `h` the server acknowledged; `sent - acked` is `unacked.len()`.
    acked: u32,
    /// The server's stanzas handled (mod 2^32): the `h` we send.
    handled: u32,
    /// Our stanzas not acknowledged yet, oldest first.
    unacked: VecDeque<Queued<T>>,
}

impl<T> Default for StreamManagement<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> StreamManagement<T> {
    /// The state just after `<enabled/>`: all counters zero, nothing queued.
    pub fn new() -> Self {
        Self::with_counters(0, 0)
    }

    /// The state of a session whose counters are known (nothing queued):
    /// `sent` of our stanzas, all acknowledged, and `handled` of theirs. For
    /// a session carried over from elsewhere, and for tests of wrapping.
    pub fn with_counters(sent: u32, handled: u32) -> Self {
        StreamManagement {
            sent,
            acked: sent,
            handled,
            unacked: VecDeque::new(),
        }
    }

    /// Record a counted stanza just written (see [`is_counted`]); `true` when
    /// a [`request`] should follow now (each [`ACK_EVERY`] outstanding).
    pub fn sent(&mut self, line: String, tag: T) -> bool {
        self.sent = self.sent.wrapping_add(1);
        self.unacked.push_back(Queued { line, tag });
        self.unacked.len().is_multiple_of(ACK_EVERY)
    }

    /// The server's `<a h='..'/>`: take out the stanzas it acknowledges,
    /// oldest first. An `h` equal to the last one acknowledges nothing new;
    /// an `h` beyond what was sent is a protocol error and changes nothing.
    pub fn acknowledge(&mut self, h: u32) -> Result<Vec<Queued<T>>, Error> {
        let newly = self.newly_acknowledged(h)?;
        self.acked = h;
        Ok(self.unacked.drain(..newly).collect())
    }

    /// How many queued stanzas `h` acknowledges, if that many are queued.
    fn newly_acknowledged(&self, h: u32) -> Result<usize, Error> {
        let newly = h.wrapping_sub(self.acked);
        let outstanding = self.unacked.len();
        match usize::try_from(newly) {
            Ok(newly) if newly <= outstanding => Ok(newly),
            _ => Err(Error::protocol(format!(
                "the server acknowledged {newly} stanzas but only {outstanding} were sent \
                 since its last acknowledgement (h='{h}' after h='{}')",
                self.acked
            ))),
        }
    }

    /// Count one inbound stanza handled (delivered or answered).
    pub fn handled(&mut self) {
        self.handled = self.handled.wrapping_add(1);
    }

    /// How many inbound stanzas were handled (mod 2^32): the `h` of `<a/>` and `<resume/>`.
    pub fn inbound(&self) -> u32 {
        self.handled
    }

    /// The answer to the server's `<r/>`: `<a xmlns='urn:xmpp:sm:3' h='N'/>`.
    pub fn answer(&self) -> String {
        format!("<a xmlns='{NS_SM}' h='{}'/>", self.handled)
    }

    /// How many of our stanzas wait for an acknowledgement.
    pub fn outstanding(&self) -> usize {
        self.unacked.len()
    }

    /// Our stanzas waiting for an acknowledgement, oldest first.
    pub fn unacked(&self) -> impl Iterator<Item = &Queued<T>> {
        self.unacked.iter()
    }

    /// The server's `<resumed h='..'/>` on a new connection: acknowledge
    /// through `h` (an impossible `h` is an error and changes nothing), then
    /// take out what is still unacknowledged, oldest first, for the caller
    /// to send again, calling [`StreamManagement::sent`] for each so that
    /// the count goes on from `h`. The inbound count is kept.
    ///
    /// Returns the stanzas acknowledged now and those to send again.
    #[allow(clippy::type_complexity)] // the pair the callers destructure
    pub fn resumed(&mut self, h: u32) -> Result<(Vec<Queued<T>>, Vec<Queued<T>>), Error> {
        let acked = self.acknowledge(h)?;
        let resend = self.unacked.drain(..).collect();
        self.sent = h;
        Ok((acked, resend))
    }

    /// A new session instead of the old one (resumption refused, or the
    /// server lost the session): acknowledge through `failed_h` if the
    /// server gave it in `<failed/>`, then take out everything still queued
    /// for the caller to send again (through [`StreamManagement::sent`] if
    /// the new session has stream management), and restart every counter
    /// at zero. An impossible `failed_h` acknowledges nothing: the old
    /// session is over, so it is only a warning.
    pub fn restart(&mut self, failed_h: Option<u32>) -> Restarted<T> {
        let (acked, warning) = match failed_h.map(|h| self.acknowledge(h)) {
            None => (Vec::new(), None),
            Some(Ok(acked)) => (acked, None),
            Some(Err(err)) => (
                Vec::new(),
                Some(format!("{err}: sending every unacknowledged stanza again")),
            ),
        };
        let resend = self.unacked.drain(..).collect();
        *self = Self::new();
        Restarted {
            acked,
            resend,
            warning,
        }
    }
}

/// What [`StreamManagement::restart`] took out of the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restarted<T> {
    /// The stanzas the server's `<failed h='..'/>` acknowledged, oldest first.
    pub acked: Vec<Queued<T>>,
    /// The stanzas to send again in the new session, oldest first (they may
    /// have reached the server: it did not say).
    pub resend: Vec<Queued<T>>,
    /// Why `<failed/>`'s `h` was ignored, to tell the user.
    pub warning: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Status;

    /// A state with the stanzas `m0`, `m1`, … sent, tagged with their number.
    fn with_sent(sm: &mut StreamManagement<usize>, n: usize) {
        for i in 0..n {
            sm.sent(format!("<message id='m{i}'/>"), i);
        }
    }

    fn tags(queued: &[Queued<usize>]) -> Vec<usize> {
        queued.iter().map(|q| q.tag).collect()
    }

    #[test]
    fn counting_and_the_nonzas() {
        assert!(is_counted("<message to='a'/>"));
        assert!(is_counted("<iq>"));
        assert!(is_counted("<presence/>"));
        assert!(is_counted("<message\ntype='chat'>"));
        assert!(!is_counted("<r xmlns='urn:xmpp:sm:3'/>"));
        assert!(!is_counted("<a xmlns='urn:xmpp:sm:3' h='1'/>"));
        assert!(!is_counted("<stream:error/>"));
        assert!(!is_counted("<client:message/>"));
        assert!(!is_counted("<messages/>"));
        assert!(!is_counted(""));
        assert_eq!(request(), "<r xmlns='urn:xmpp:sm:3'/>");
    }

    #[test]
    fn acks_in_order() {
        let mut sm = StreamManagement::new();
        with_sent(&mut sm, 3);
        assert_eq!(sm.outstanding(), 3);
        let acked = sm.acknowledge(3).unwrap();
        assert_eq!(tags(&acked), [0, 1, 2]);
        assert_eq!(acked[0].line, "<message id='m0'/>");
        assert_eq!(sm.outstanding(), 0);
    }

    #[test]
    fn partial_acks() {
        let mut sm = StreamManagement::new();
        with_sent(&mut sm, 5);
        assert_eq!(tags(&sm.acknowledge(2).unwrap()), [0, 1]);
        assert_eq!(sm.unacked().map(|q| q.tag).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(tags(&sm.acknowledge(4).unwrap()), [2, 3]);
        assert_eq!(tags(&sm.acknowledge(5).unwrap()), [4]);
    }

    #[test]
    fn a_repeated_h_acknowledges_nothing() {
        let mut sm = StreamManagement::new();
        assert!(sm.acknowledge(0).unwrap().is_empty());
        with_sent(&mut sm, 2);
        sm.acknowledge(1).unwrap();
        assert!(sm.acknowledge(1).unwrap().is_empty());
        assert_eq!(sm.outstanding(), 1);
    }

    #[test]
    fn too_high_h_is_refused_without_change() {
        let mut sm = StreamManagement::new();
        with_sent(&mut sm, 3);
        sm.acknowledge(1).unwrap();
        let err = sm.acknowledge(4).unwrap_err();
        assert_eq!(err.status(), Status::Protocol);
        assert_eq!(
            err.message(),
            "the server acknowledged 3 stanzas but only 2 were sent since its last \
             acknowledgement (h='4' after h='1')"
        );
        // An h "behind" the last one is, mod 2^32, far too high.
        let err = sm.acknowledge(0).unwrap_err();
        assert!(
            err.message().contains("acknowledged 4294967295 stanzas"),
            "{err}"
        );
        assert_eq!(sm.outstanding(), 2);
        assert_eq!(tags(&sm.acknowledge(3).unwrap()), [1, 2]);
    }

    #[test]
    fn a_request_every_ack_every_outstanding() {
        let mut sm = StreamManagement::new();
        let asks: Vec<usize> = (0..3 * ACK_EVERY)
            .filter(|&i| sm.sent(format!("<message id='m{i}'/>"), i))
            .collect();
        assert_eq!(asks, [ACK_EVERY - 1, 2 * ACK_EVERY - 1, 3 * ACK_EVERY - 1]);
        // Counted from what is outstanding, not from the start.
        let mut sm = StreamManagement::new();
        with_sent(&mut sm, ACK_EVERY - 1);
        sm.acknowledge(1).unwrap();
        assert!(!sm.sent("<presence/>".into(), 0));
        assert!(sm.sent("<presence/>".into(), 0));
    }

    #[test]
    fn counters_wrap_at_2_32() {
        let mut sm = StreamManagement::with_counters(u32::MAX - 1, 0);
        with_sent(&mut sm, 4);
        assert_eq!(tags(&sm.acknowledge(u32::MAX).unwrap()), [0]);
        assert_eq!(tags(&sm.acknowledge(0).unwrap()), [1]);
        assert!(sm.acknowledge(3).is_err());
        assert_eq!(tags(&sm.acknowledge(2).unwrap()), [2, 3]);
        assert_eq!(sm.outstanding(), 0);
    }

    #[test]
    fn handled_wraps_and_is_answered() {
        let mut sm = StreamManagement::<()>::with_counters(0, u32::MAX);
        assert_eq!(sm.inbound(), u32::MAX);
        assert_eq!(sm.answer(), "<a xmlns='urn:xmpp:sm:3' h='4294967295'/>");
        sm.handled();
        assert_eq!(sm.inbound(), 0);
        sm.handled();
        assert_eq!(sm.answer(), "<a xmlns='urn:xmpp:sm:3' h='1'/>");
    }

    #[test]
    fn resumed_in_the_middle_of_the_queue() {
        let mut sm = StreamManagement::new();
        sm.handled();
        with_sent(&mut sm, 5);
        sm.acknowledge(1).unwrap();
        let (acked, resend) = sm.resumed(3).unwrap();
        assert_eq!(tags(&acked), [1, 2]);
        assert_eq!(tags(&resend), [3, 4]);
        assert_eq!(sm.outstanding(), 0);
        assert_eq!(sm.inbound(), 1);
        // Sent again, they count from h: the server's next h for them is 5.
        for queued in resend {
            sm.sent(queued.line, queued.tag);
        }
        assert!(sm.acknowledge(6).is_err());
        assert_eq!(tags(&sm.acknowledge(5).unwrap()), [3, 4]);
    }

    #[test]
    fn resumed_with_everything_acknowledged() {
        let mut sm = StreamManagement::new();
        with_sent(&mut sm, 3);
        let (acked, resend) = sm.resumed(3).unwrap();
        assert_eq!(tags(&acked), [0, 1, 2]);
        assert!(resend.is_empty());
        sm.sent("<presence/>".into(), 9);
        assert_eq!(tags(&sm.acknowledge(4).unwrap()), [9]);
    }

    #[test]
    fn resumed_with_an_impossible_h_changes_nothing() {
        let mut sm = StreamManagement::new();
        with_sent(&mut sm, 2);
        let err = sm.resumed(3).unwrap_err();
        assert_eq!(err.status(), Status::Protocol);
        assert_eq!(sm.outstanding(), 2);
    }

    #[test]
    fn restart_without_failed_h() {
        let mut sm = StreamManagement::with_counters(10, 7);
        with_sent(&mut sm, 3);
        sm.acknowledge(11).unwrap();
        let restarted = sm.restart(None);
        assert!(restarted.acked.is_empty());
        assert_eq!(tags(&restarted.resend), [1, 2]);
        assert_eq!(restarted.warning, None);
        assert_eq!((sm.outstanding(), sm.inbound()), (0, 0));
        // Everything starts from zero again.
        sm.sent("<presence/>".into(), 5);
        assert_eq!(tags(&sm.acknowledge(1).unwrap()), [5]);
    }

    #[test]
    fn restart_with_failed_h() {
        let mut sm = StreamManagement::new();
        sm.handled();
        with_sent(&mut sm, 4);
        let restarted = sm.restart(Some(3));
        assert_eq!(tags(&restarted.acked), [0, 1, 2]);
        assert_eq!(tags(&restarted.resend), [3]);
        assert_eq!(restarted.warning, None);
        assert_eq!((sm.outstanding(), sm.inbound()), (0, 0));
    }

    #[test]
    fn restart_with_an_impossible_failed_h_warns() {
        let mut sm = StreamManagement::new();
        with_sent(&mut sm, 2);
        let restarted = sm.restart(Some(5));
        assert!(restarted.acked.is_empty());
        assert_eq!(tags(&restarted.resend), [0, 1]);
        assert_eq!(
            restarted.warning.as_deref(),
            Some(
                "the server acknowledged 5 stanzas but only 2 were sent since its last \
                 acknowledgement (h='5' after h='0'): sending every unacknowledged stanza again"
            )
        );
        assert_eq!(sm.outstanding(), 0);
    }
}
