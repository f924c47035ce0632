//! The calls' deadlines: each call keeps a small table of them, one slot per [`Timer`],
//! and the engine keeps every armed slot in one heap in time order, so the next deadline
//! is read off the heap's top instead of walking every call, and only the calls that are
//! due are visited. An entry counts while its call's slot still holds its instant;
//! clearing or moving a slot leaves the old entry behind, dropped when it reaches the top
//! (as `hasip_sip::transaction` keeps its timers). Nothing is cached: arming a slot is what
//! makes the deadline known.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use crate::CallKey;
use crate::call::Call;

/// What a call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// Answer an incoming call (accept mode, `answer`), once its RTP port is bound.
    Answer,
    /// Give up ringing (`ring_timeout`, and the 300 s of an incoming call).
    Ring,
    /// The settle time is over: `call_established` and the menu.
    Settle,
    /// The menu's own timeout (`timeout` of a menu, a PIN's pause).
    Menu,
    /// Assist's: the caller's silence, the longest utterance, the pipeline's answer.
    Assist,
}

impl Timer {
    const COUNT: usize = 5;

    fn slot(self) -> usize {
        self as usize
    }
}

/// A call's deadlines, one slot per [`Timer`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallTimers([Option<Instant>; Timer::COUNT]);

impl CallTimers {
    /// When `timer` is due, if it is armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer.slot()]
    }

    /// True when `timer` is armed and due at `now`.
    pub(crate) fn due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }
}

/// Every armed slot of every call, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, CallKey, Timer)>>,
}

/// Whether the heap entry `(at, key, timer)` still stands: the call exists, its slot holds
/// `at`, and (for [`Timer::Answer`]) its RTP port is bound, without which it cannot act.
fn live(calls: &HashMap<CallKey, Call>, (at, key, timer): (Instant, CallKey, Timer)) -> bool {
    calls.get(&key).is_some_and(|c| {
        c.timers.get(timer) == Some(at) && (timer != Timer::Answer || c.media.rtp.is_some())
    })
}

impl Deadlines {
    /// Sets `timer` of the call `key` (in `calls`) to `at`; `None` disarms it.
    pub(crate) fn set(
        &mut self,
        calls: &mut HashMap<CallKey, Call>,
        key: CallKey,
        timer: Timer,
        at: Option<Instant>,
    ) {
        let Some(c) = calls.get_mut(&key) else {
            return;
        };
        c.timers.0[timer.slot()] = at;
        if let Some(at) = at {
            self.heap.push(Reverse((at, key, timer)));
        }
        // Entries of ended calls or moved slots wait for their instant to be dropped (a
        // ring timeout: 300 s). Past a bound proportional to the live calls, they go now,
        // so a burst of short calls cannot grow the heap.
        if self.heap.len() > 2 * Timer::COUNT * calls.len() + 64 {
            self.heap.retain(|Reverse(e)| live(calls, *e));
        }
    }

    /// Puts the call's armed slot `timer` back in the heap (its Answer timer once the RTP
    /// port is bound).
    pub(crate) fn rearm(&mut self, calls: &HashMap<CallKey, Call>, key: CallKey, timer: Timer) {
        if let Some(at) = calls.get(&key).and_then(|c| c.timers.get(timer)) {
            self.heap.push(Reverse((at, key, timer)));
        }
    }

    /// The earliest deadline that still stands; entries that no longer do are dropped.
    pub(crate) fn next(&mut self, calls: &HashMap<CallKey, Call>) -> Option<Instant> {
        while let Some(Reverse(entry)) = self.heap.peek().copied() {
            if live(calls, entry) {
                return Some(entry.0);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes every entry due at `now` and returns the calls they belong to, each once, in
    /// the order the calls were made (keys grow with it), so equal deadlines fire in the
    /// same order on every run.
    pub(crate) fn take_due(
        &mut self,
        calls: &HashMap<CallKey, Call>,
        now: Instant,
    ) -> Vec<CallKey> {
        let mut due = Vec::new();
        while let Some(Reverse(entry)) = self.heap.peek().copied() {
            if entry.0 > now {
                break;
            }
            self.heap.pop();
            if live(calls, entry) {
                due.push(entry.1);
            }
        }
        due.sort_unstable();
        due.dedup();
        due
    }

    /// Entries held, live or not (for the tests' bound on growth).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
