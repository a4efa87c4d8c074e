//! When to grab: the frame-rate cap and the keep-alive as arithmetic on
//! times, apart from X and GStreamer, so it is tested without either.
//!
//! The rule, the same one the ABR element's frame-rate gate applies to the
//! frames it passes: **a frame is taken when at least one frame interval has
//! passed since the previous taken frame.** So
//!
//! - a change that comes while the slot is free (an interval or more after
//!   the last grab) is grabbed at once;
//! - a change that comes early waits until the slot opens, one interval after
//!   the last grab (not the next tick of a fixed clock), and is grabbed then;
//!   whatever else is drawn meanwhile goes into that same grab, so nothing is
//!   dropped: the grab holds the latest picture, the answer to an input too;
//! - a still screen is grabbed again once `keep_alive` has passed since the
//!   last grab.
//!
//! ```text
//!  last grab        slot opens                         keep-alive due
//!     |── interval ──|                                        |
//!     |  changes wait |  a change is grabbed at once           |  grab
//!     |  (Pace::Slot) |  (Pace::Change)                        |  (Pace::Grab)
//! ```
//!
//! A frame is *taken* when it falls due: at the slot's opening for a change
//! that waited for it, or when the change was noticed in a free slot. That
//! moment, not the end of the readback after it, is what the next slot counts
//! from and the frame's timestamp. Counting from the readback's end would
//! push every slot back by the time spent waking and reading: a game drawing
//! at exactly the stream's rate would then find each slot a little later,
//! its changes would wait longer and longer (up to a whole interval) until
//! one frame was skipped, and so on round again, which on average is as late
//! as a fixed tick.
//!
//! A game drawing at exactly the stream's rate is then grabbed at a steady
//! delay, between nothing and one interval, set by where its first change
//! fell; a strict cap cannot pull that back (it would take a gap shorter than
//! an interval). Games slower than the stream, and input answered on a screen
//! that was still, find the slot free and are grabbed at once.
//!
//! Times are running times of the pipeline clock, the same ones the frames
//! carry as their timestamps: two frames' timestamps are never less than an
//! interval apart, so a gate downstream that applies the rule at the stream's
//! rate passes every frame.

use std::time::Duration;

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

/// The last grab and the two intervals that time the next.
#[derive(Debug, Clone)]
pub struct Pacer {
    interval: Duration,
    keep_alive: Duration,
    last: Option<Duration>,
}

impl Pacer {
    pub fn new(interval: Duration, keep_alive: Duration) -> Self {
        Pacer { interval, keep_alive, last: None }
    }

    /// The least time between two grabs.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// What to do at `now`.
    pub fn pace(&self, now: Duration) -> Pace {
        let Some(last) = self.last else { return Pace::Grab };
        // Time went back (a new clock): start over with a grab.
        let Some(since) = now.checked_sub(last) else { return Pace::Grab };
        if since < self.interval {
            Pace::Slot(self.interval - since)
        } else if since >= self.keep_alive {
            Pace::Grab
        } else {
            Pace::Change(self.keep_alive - since)
        }
    }

    /// When the slot after the last frame opens (`None` before the first).
    pub fn slot(&self) -> Option<Duration> {
        self.last.map(|last| last + self.interval)
    }

    /// A frame was taken (fell due) at `at`.
    pub fn taken(&mut self, at: Duration) {
        self.last = Some(at);
    }
}

/// The frame interval of a frame rate `numer/denom`, rounded up to the
/// nanosecond, so that frames taken an interval apart are never closer than
/// a gate's interval at the same rate however it rounds (1 s / 60 rounded
/// down, twice, is a nanosecond short of 1 s / 30); `None` for a variable
/// rate (0/1) or nonsense.
pub fn frame_interval(numer: i32, denom: i32) -> Option<Duration> {
    let (n, d) = (u64::try_from(numer).ok()?, u64::try_from(denom).ok()?);
    if n == 0 || d == 0 {
        return None;
    }
    let nanos = (u128::from(d) * 1_000_000_000).div_ceil(u128::from(n));
    Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
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
    fn frame_intervals_round_up_so_two_are_never_short_of_a_gate_at_half_the_rate() {
        assert_eq!(frame_interval(60, 1), Some(Duration::from_nanos(16_666_667)));
        assert_eq!(frame_interval(30000, 1001), Some(Duration::from_nanos(33_366_667)));
        assert_eq!(frame_interval(50, 1), Some(Duration::from_millis(20)));
        // A gate at 30 fps computing 1 s / 30 rounded down passes every other frame.
        assert!(frame_interval(60, 1).unwrap() * 2 >= Duration::from_nanos(1_000_000_000 / 30));
        assert_eq!(frame_interval(0, 1), None);
        assert_eq!(frame_interval(-5, 1), None);
        assert_eq!(frame_interval(60, 0), None);
    }

    #[test]
    fn the_first_frame_goes_at_once_then_slots_open_an_interval_after_the_last_grab() {
        let mut p = Pacer::new(hz(60), KEEP_ALIVE);
        assert_eq!(p.pace(Duration::from_secs(3)), Pace::Grab);
        assert_eq!(p.slot(), None);
        p.taken(Duration::from_millis(1000));
        assert_eq!(p.slot(), Some(Duration::from_millis(1000) + hz(60)));
        assert_eq!(p.pace(Duration::from_millis(1010)), Pace::Slot(hz(60) - 10 * MS));
        assert_eq!(p.pace(Duration::from_millis(1000) + hz(60)), Pace::Change(KEEP_ALIVE - hz(60)));
        assert_eq!(p.pace(Duration::from_millis(1099)), Pace::Change(MS));
        assert_eq!(p.pace(Duration::from_millis(1100)), Pace::Grab);
        assert_eq!(p.pace(Duration::from_millis(999)), Pace::Grab, "time going back starts over");
    }

    #[test]
    fn a_keep_alive_longer_than_the_interval_is_cut_to_it() {
        // At 5 fps the slot opens after 200 ms, past the 100 ms keep-alive.
        let mut p = Pacer::new(hz(5), KEEP_ALIVE);
        p.taken(Duration::ZERO);
        assert_eq!(p.pace(150 * MS), Pace::Slot(50 * MS));
        assert_eq!(p.pace(200 * MS), Pace::Grab);
    }

    #[test]
    fn no_redraw_rate_gets_more_frames_than_the_stream_rate() {
        let until = Duration::from_secs(10);
        for stream in [30, 60] {
            for game in [1000, 144, 60, 30] {
                let (grabs, captured) = simulate(hz(stream), &every(hz(game), until), until);
                assert!(grabs.windows(2).all(|w| w[1] - w[0] >= hz(stream)), "{game} Hz at {stream}");
                let fps = grabs.len() as f64 / until.as_secs_f64();
                let want = f64::from(stream.min(game));
                assert!((want - 1.0..=want + 0.2).contains(&fps), "{game} Hz at {stream} fps: {fps} fps");
                // Every change is in a grab at most one interval later.
                let late = changes_delay(&every(hz(game), until), &captured);
                assert!(late <= hz(stream), "{game} Hz at {stream}: a change waited {late:?}");
            }
        }
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
        // A change 5 ms after a grab waits for the slot, one interval after
        // that grab; the one drawn 3 ms later rides in the same grab.
        let changes = [20 * MS, 25 * MS, 28 * MS];
        let (grabs, captured) = simulate(i, &changes, 200 * MS);
        assert_eq!(&grabs[..3], &[Duration::ZERO, 20 * MS, 20 * MS + i]);
        assert_eq!(captured, [20 * MS, 20 * MS + i, 20 * MS + i]);
    }

    #[test]
    fn a_still_screen_is_grabbed_at_the_keep_alive_rate() {
        let (grabs, _) = simulate(hz(60), &[], Duration::from_secs(2));
        assert_eq!(grabs.len(), 20);
        assert!(grabs.windows(2).all(|w| w[1] - w[0] == KEEP_ALIVE));
    }
}
