//! When to grab: the frame-rate cap and the keep-alive as arithmetic on
//! times, apart from X and GStreamer, so it is tested without either.
//!
//! The cap is [`playcast_cadence::Cadence`], the rule the ABR element's
//! frame-rate gate passes frames by too: each frame is due one interval
//! after the one before was due, and may go as soon as the one before it was
//! due, but not within half an interval of the one before. So
//!
//! - a change that comes while the slot is open is grabbed at once;
//! - a change that comes early waits until the slot opens (never more than an
//!   interval after the last grab, not the next tick of a fixed clock), and is
//!   grabbed then; whatever else is drawn meanwhile goes into that same grab,
//!   so nothing is dropped: the grab holds the latest picture, the answer to
//!   an input too;
//! - a game drawing at the stream's rate is grabbed the moment each redraw
//!   comes, its timer's and this thread's jitter included, since the slots
//!   move by whole intervals and not with each redraw's lateness;
//! - a still screen is grabbed again once `keep_alive` has passed since the
//!   last grab; the first change after it (an input's answer) waits at most
//!   half an interval for the keep-alive frame.
//!
//! ```text
//!  last grab     slot opens                            keep-alive due
//!     |──────────────|                                        |
//!     |  changes wait |  a change is grabbed at once           |  grab
//!     |  (Pace::Slot) |  (Pace::Change)                        |  (Pace::Grab)
//! ```
//!
//! A frame is *taken* when it falls due: at the slot's opening for a change
//! that waited for it, or when the change was noticed in an open slot. That
//! moment, not the end of the readback after it, is what the schedule counts
//! and the frame's timestamp, so the time spent waking and reading does not
//! push every later slot back.
//!
//! Times are running times of the pipeline clock, the same ones the frames
//! carry as their timestamps, so the gate downstream, applying the same rule
//! to the same times at the stream's rate, passes every frame.

use std::time::Duration;

pub use playcast_cadence::frame_interval;
use playcast_cadence::Cadence;

/// What the capture does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Grab now: the first frame, or a still screen's keep-alive is due.
    Grab,
    /// The slot opens in this long. Changes meanwhile are not grabbed: they
    /// wait for the slot, and one grab then holds them all.
    Slot(Duration),
    /// The slot is open: grab at the first change (or at once if one came
    /// while it was closed), or in this long with none (the keep-alive).
    Change(Duration),
}

/// The grabs' schedule and the keep-alive.
#[derive(Debug, Clone)]
pub struct Pacer {
    cadence: Cadence,
    keep_alive: Duration,
}

impl Pacer {
    pub fn new(interval: Duration, keep_alive: Duration) -> Self {
        Pacer { cadence: Cadence::new(interval), keep_alive }
    }

    /// The frame interval the grabs keep to.
    pub fn interval(&self) -> Duration {
        self.cadence.interval()
    }

    pub fn set_interval(&mut self, interval: Duration) {
        self.cadence.set_interval(interval);
    }

    /// What to do at `now`.
    pub fn pace(&self, now: Duration) -> Pace {
        let Some(last) = self.cadence.last() else { return Pace::Grab };
        // Time went back (a new clock): start over with a grab.
        let Some(since) = now.checked_sub(last) else { return Pace::Grab };
        if !self.cadence.admits(now) {
            Pace::Slot(self.cadence.opens().map_or(Duration::ZERO, |o| o.saturating_sub(now)))
        } else if since >= self.keep_alive {
            Pace::Grab
        } else {
            Pace::Change(self.keep_alive - since)
        }
    }

    /// When the next slot opens (`None` before the first frame).
    pub fn slot(&self) -> Option<Duration> {
        self.cadence.opens()
    }

    /// A frame was taken (fell due) at `at`.
    pub fn taken(&mut self, at: Duration) {
        self.cadence.went(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const KEEP_ALIVE: Duration = Duration::from_millis(100);

    fn hz(rate: i32) -> Duration {
        frame_interval(rate, 1).unwrap()
    }

    /// Runs a capture against changes at the given times with no cost to
    /// wake or grab; returns the grab times and, for each change, when the
    /// first grab holding it was taken.
    fn simulate(interval: Duration, changes: &[Duration], until: Duration) -> (Vec<Duration>, Vec<Duration>) {
        let mut pacer = Pacer::new(interval, KEEP_ALIVE);
        let (mut now, mut grabs, mut seen) = (Duration::ZERO, Vec::new(), 0usize);
        let mut captured = vec![Duration::MAX; changes.len()];
        while now < until {
            let pending = changes.get(seen).is_some_and(|&c| c <= now);
            let grab = match pacer.pace(now) {
                Pace::Grab => true,
                Pace::Slot(left) => {
                    now += left;
                    false
                }
                Pace::Change(_) if pending => true,
                Pace::Change(left) => {
                    // The next change or the keep-alive, whichever is first.
                    now = changes.get(seen).map_or(now + left, |&c| c.min(now + left));
                    false
                }
            };
            if grab {
                while changes.get(seen).is_some_and(|&c| c <= now) {
                    captured[seen] = now;
                    seen += 1;
                }
                grabs.push(now);
                pacer.taken(now);
            }
        }
        (grabs, captured)
    }

    fn every(period: Duration, until: Duration) -> Vec<Duration> {
        (1..).map(|i| period * i).take_while(|&t| t < until).collect()
    }

    #[test]
    fn the_first_frame_goes_at_once_then_slots_open_when_the_last_frame_was_due() {
        let mut p = Pacer::new(20 * MS, KEEP_ALIVE);
        assert_eq!(p.pace(Duration::from_secs(3)), Pace::Grab);
        assert_eq!(p.slot(), None);
        p.taken(Duration::from_millis(1000));
        assert_eq!(p.slot(), Some(Duration::from_millis(1010)));
        p.taken(Duration::from_millis(1010));
        assert_eq!(p.slot(), Some(Duration::from_millis(1020)));
        assert_eq!(p.pace(Duration::from_millis(1014)), Pace::Slot(6 * MS));
        assert_eq!(p.pace(Duration::from_millis(1020)), Pace::Change(KEEP_ALIVE - 10 * MS));
        assert_eq!(p.pace(Duration::from_millis(1109)), Pace::Change(MS));
        assert_eq!(p.pace(Duration::from_millis(1110)), Pace::Grab);
        assert_eq!(p.pace(Duration::from_millis(999)), Pace::Grab, "time going back starts over");
    }

    #[test]
    fn a_keep_alive_shorter_than_the_interval_keeps_to_the_rate() {
        // At 5 fps a still screen is grabbed at 5 fps, not every 100 ms.
        let (grabs, _) = simulate(hz(5), &[], Duration::from_secs(10));
        assert!((49..=51).contains(&grabs.len()), "{} grabs of a still screen in 10 s at 5 fps", grabs.len());
    }

    #[test]
    fn an_input_answer_after_a_keep_alive_waits_at_most_half_an_interval() {
        // Still: keep-alives at 0, 100, 200 ms; a change 1 ms and one 9 ms after the last.
        let (_, captured) = simulate(hz(60), &[201 * MS], 300 * MS);
        assert_eq!(captured, [200 * MS + hz(60) / 2]);
        let (_, captured) = simulate(hz(60), &[209 * MS], 300 * MS);
        assert_eq!(captured, [209 * MS]);
    }

    #[test]
    fn no_redraw_rate_gets_more_frames_than_the_stream_rate() {
        let until = Duration::from_secs(10);
        for stream in [30, 60] {
            for game in [1000, 144, 60, 30] {
                let (grabs, captured) = simulate(hz(stream), &every(hz(game), until), until);
                let i = hz(stream);
                // n grabs span at least n - 1 intervals, less one; two at least half an interval.
                assert!(grabs.windows(2).all(|w| w[1] - w[0] >= i / 2), "{game} Hz at {stream}");
                for n in [2, 3, 30] {
                    assert!(
                        grabs.windows(n).all(|w| w[n - 1] - w[0] + i >= i * (n as u32 - 1)),
                        "{game} Hz at {stream}: {n} grabs too close"
                    );
                }
                let fps = grabs.len() as f64 / until.as_secs_f64();
                let want = f64::from(stream.min(game));
                assert!((want - 1.0..=want + 0.2).contains(&fps), "{game} Hz at {stream} fps: {fps} fps");
                // Every change is in a grab at most one interval later.
                let late = changes_delay(&every(hz(game), until), &captured);
                assert!(late <= hz(stream), "{game} Hz at {stream}: a change waited {late:?}");
            }
        }
    }

    #[test]
    fn a_game_at_the_stream_rate_is_grabbed_as_it_draws_despite_jitter() {
        let jitter = [3i64, -3, -2, 3, 0, -3, 2, 3, -3, -1];
        let changes: Vec<_> = (1..600i64)
            .map(|i| Duration::from_nanos((i * 16_666_667 + jitter[i as usize % 10] * 1_000_000) as u64))
            .collect();
        let (_, captured) = simulate(hz(60), &changes, Duration::from_secs(10));
        assert_eq!(captured, changes, "every redraw grabbed the moment it came");
    }

    fn changes_delay(changes: &[Duration], captured: &[Duration]) -> Duration {
        changes.iter().zip(captured).filter(|(_, &c)| c != Duration::MAX).map(|(&d, &c)| c - d).max().unwrap()
    }

    #[test]
    fn a_change_in_a_free_slot_goes_at_once_and_an_early_one_at_the_slot() {
        let i = hz(60);
        // Changes 50 ms apart: every slot is free when they come.
        let changes = every(50 * MS, Duration::from_secs(1));
        let (_, captured) = simulate(i, &changes, Duration::from_secs(1));
        assert_eq!(captured, changes, "grabbed the moment they were drawn");
        // A change 5 ms after a grab waits for the slot; the one drawn 3 ms
        // later rides in the same grab.
        let changes = [20 * MS, 25 * MS, 28 * MS];
        let (grabs, captured) = simulate(i, &changes, 200 * MS);
        // The grab at 20 ms went late (due at 16.7): the next is due at 36.7
        // and may go from 28.3, half an interval after it.
        let slot = 20 * MS + i / 2;
        assert_eq!(&grabs[..3], &[Duration::ZERO, 20 * MS, slot]);
        assert_eq!(captured, [20 * MS, slot, slot]);
    }

    #[test]
    fn a_still_screen_is_grabbed_at_the_keep_alive_rate() {
        let (grabs, _) = simulate(hz(60), &[], Duration::from_secs(2));
        assert_eq!(grabs.len(), 20);
        assert!(grabs.windows(2).all(|w| w[1] - w[0] == KEEP_ALIVE));
    }
}
