//! Live copies of events recorded while NATS was out of reach.
//!
//! The live feed is core NATS (no persistence), so an event recorded while
//! the audit connection is down (most often in the first moments after
//! start, before the client has connected) would never reach a live view,
//! although the durable trail keeps it in the spool. This keeps the JSON
//! copies of the most recent such events in memory and sends them once the
//! connection is up. Bounded in count and age: after a long outage a live
//! view gets the last minute, not a flood of stale events.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// Copies kept at most; the oldest are dropped first.
const MAX_EVENTS: usize = 1_000;
/// Copies older than this are dropped instead of sent.
const MAX_AGE: Duration = Duration::from_secs(60);

/// Live copies waiting for the connection, oldest first.
#[derive(Default)]
pub(super) struct LiveBacklog {
    entries: VecDeque<(Instant, String, Bytes)>,
}

impl LiveBacklog {
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keep the copy of one event for `subject`.
    pub(super) fn push(&mut self, subject: String, json: Bytes) {
        if self.entries.len() >= MAX_EVENTS {
            self.entries.pop_front();
        }
        self.entries.push_back((Instant::now(), subject, json));
    }

    /// Take the copies still young enough to send, oldest first.
    pub(super) fn drain_fresh(&mut self) -> Vec<(String, Bytes)> {
        let now = Instant::now();
        self.entries
            .drain(..)
            .filter(|(at, _, _)| now.duration_since(*at) <= MAX_AGE)
            .map(|(_, subject, json)| (subject, json))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_events_up_to_the_bound() {
        let mut backlog = LiveBacklog::default();
        for i in 0..MAX_EVENTS + 5 {
            backlog.push(format!("s.{i}"), Bytes::new());
        }
        let drained = backlog.drain_fresh();
        assert_eq!(drained.len(), MAX_EVENTS);
        assert_eq!(drained[0].0, "s.5");
        assert!(backlog.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn stale_copies_are_dropped() {
        let mut backlog = LiveBacklog::default();
        backlog.push("old".into(), Bytes::new());
        tokio::time::advance(MAX_AGE + Duration::from_secs(1)).await;
        backlog.push("new".into(), Bytes::new());
        let subjects: Vec<_> = backlog.drain_fresh().into_iter().map(|(s, _)| s).collect();
        assert_eq!(subjects, ["new"]);
    }
}
