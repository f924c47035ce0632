//! When an idle gateway gives memory back ([`hasip_trim`]): the resident pages of the
//! program's code, and the allocator's free memory. Three seconds after start (start-up's
//! code has run), ten seconds after the last call ends, and ten seconds after a busy spell
//! without calls (a flood of requests, a storm of connections) has calmed down.

use std::pin::Pin;
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// When start-up's code has run (registrations sent, Home Assistant and MQTT connected on a
/// LAN) and its pages can go back.
const AFTER_START: Duration = Duration::from_secs(3);
/// How long after the last call ended, or a busy spell was seen, memory goes back.
const AFTER_ACTIVITY: Duration = Duration::from_secs(10);
/// A busy spell: this many inputs of the loop since memory last went back, without a call
/// (an idle gateway's registrations, keep-alives and MQTT pings take hours to add up to it;
/// a flood of a few hundred requests a second, seconds).
const BUSY_TURNS: u64 = 1_000;
/// Calm: at most this many inputs in the [`AFTER_ACTIVITY`] before giving back; more, and
/// the spell goes on: the give-back waits another [`AFTER_ACTIVITY`].
const CALM_TURNS: u64 = 100;

/// The give-back's timer and what it decides on.
pub(super) struct GiveBack {
    timer: Pin<Box<Sleep>>,
    armed: bool,
    /// The engine's call count after the last turn.
    calls_before: usize,
    /// The loop's inputs so far, and their count when the timer was armed and when memory
    /// last went back.
    turns: u64,
    armed_at: u64,
    given_at: u64,
}

impl GiveBack {
    /// Armed for [`AFTER_START`].
    pub(super) fn new() -> Self {
        Self {
            timer: Box::pin(tokio::time::sleep(AFTER_START)),
            armed: true,
            calls_before: 0,
            turns: 0,
            armed_at: 0,
            given_at: 0,
        }
    }

    /// Whether the timer is armed: the loop polls [`GiveBack::due`] only then.
    pub(super) fn is_armed(&self) -> bool {
        self.armed
    }

    /// Completes when the timer is due (poll it only while [`GiveBack::is_armed`]).
    pub(super) async fn due(&mut self) {
        self.timer.as_mut().await;
    }

    /// The timer was due: gives memory back when no call runs and the loop has been calm
    /// since it was armed; waits longer while a busy spell goes on.
    pub(super) fn on_due(&mut self, calls: usize) {
        self.armed = false;
        match decide(calls, self.turns - self.armed_at) {
            Due::Skip => {}
            Due::Wait => self.arm(),
            Due::Give => {
                self.given_at = self.turns;
                give_back_memory();
            }
        }
    }

    /// After each turn of the loop: arms the timer when the last call has just ended, or
    /// when a busy spell without calls has gone on for [`BUSY_TURNS`] inputs.
    pub(super) fn after_turn(&mut self, calls: usize) {
        self.turns += 1;
        let last_call_ended = calls == 0 && self.calls_before > 0;
        let busy = !self.armed && calls == 0 && self.turns - self.given_at >= BUSY_TURNS;
        if last_call_ended || busy {
            self.arm();
        }
        self.calls_before = calls;
    }

    fn arm(&mut self) {
        self.timer
            .as_mut()
            .reset(tokio::time::Instant::now() + AFTER_ACTIVITY);
        self.armed = true;
        self.armed_at = self.turns;
    }
}

/// What a due timer leads to.
#[derive(Debug, PartialEq, Eq)]
enum Due {
    /// A call runs: its end arms the timer again.
    Skip,
    /// Still busy: wait another spell.
    Wait,
    /// Give memory back.
    Give,
}

fn decide(calls: usize, turns_since_armed: u64) -> Due {
    if calls > 0 {
        Due::Skip
    } else if turns_since_armed > CALM_TURNS {
        Due::Wait
    } else {
        Due::Give
    }
}

/// Gives back the resident pages of the program's code and read-only data (start-up's,
/// the last call's), which come back from the page cache when next run, and the
/// allocator's free memory. On a thread of the blocking pool, a moment after this turn, so
/// that the loop is back waiting by then and does not bring its own code back at once.
fn give_back_memory() {
    drop(tokio::task::spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(100));
        let started = Instant::now();
        let heap = hasip_trim::free_heap();
        match hasip_trim::own_code_pages() {
            Ok(r) => tracing::debug!(
                kib = r.resident / 1024,
                mappings = r.mappings,
                heap_released = heap,
                took_us = started.elapsed().as_micros(),
                "gave back the resident pages of the program's code and the allocator's free memory"
            ),
            Err(e) => tracing::debug!(
                error = %e,
                heap_released = heap,
                "cannot give back the program's code pages"
            ),
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_goes_back_only_without_calls_and_once_calm() {
        assert_eq!(decide(1, 0), Due::Skip);
        assert_eq!(decide(1, 10_000), Due::Skip);
        assert_eq!(decide(0, 0), Due::Give);
        assert_eq!(decide(0, CALM_TURNS), Due::Give);
        assert_eq!(decide(0, CALM_TURNS + 1), Due::Wait);
    }

    #[tokio::test]
    async fn a_busy_spell_arms_the_timer_and_a_call_ending_does_too() {
        let mut g = GiveBack::new();
        assert!(g.armed, "armed at start");
        g.on_due(0);
        assert!(!g.armed);
        assert_eq!(g.given_at, 0);
        // Fewer inputs than a busy spell: nothing armed.
        for _ in 0..BUSY_TURNS - 1 {
            g.after_turn(0);
        }
        assert!(!g.armed);
        g.after_turn(0);
        assert!(g.armed, "a busy spell arms it");
        // The spell goes on past the calm limit: the give-back waits.
        for _ in 0..=CALM_TURNS {
            g.after_turn(0);
        }
        g.on_due(0);
        assert!(g.armed, "still busy: armed again");
        g.on_due(0);
        assert!(!g.armed);
        assert_eq!(g.given_at, g.turns, "calm: given back");
        // During calls nothing is armed however busy; the last call's end arms it.
        for _ in 0..2 * BUSY_TURNS {
            g.after_turn(1);
        }
        assert!(!g.armed);
        g.after_turn(0);
        assert!(g.armed, "the last call ended");
        // A call that starts before the timer is due: skipped, its end arms it again.
        g.after_turn(1);
        g.on_due(1);
        assert!(!g.armed);
        g.after_turn(0);
        assert!(g.armed);
    }
}
