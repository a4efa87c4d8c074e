//! The one rule for how often frames go, shared by the X11 capture (which
//! grabs by it) and the ABR element's frame-rate gate (which passes by it),
//! as arithmetic on times with no clock, X or GStreamer in it.
//!
//! **Each frame is due one interval after the one before it was due (or
//! after it went, if it went late), and may go as soon as the one before it
//! was due, but not sooner than half an interval after the one before it
//! went.** This is the virtual-scheduling form of a token bucket (the
//! generic cell rate algorithm of ITU-T I.371) with a tolerance of one
//! interval, plus a least gap: over any stretch the frames that go are at
//! most the frame rate's worth plus one, however fast they are offered, and
//! never two within half an interval. What the tolerance buys:
//!
//! - a source at exactly the frame rate has every frame go the moment it
//!   comes, whatever its phase against the schedule and with its timer's and
//!   the machine's jitter, because the schedule moves by whole intervals and
//!   not with each frame's lateness. (A strict "one interval since the last
//!   frame" pushes every slot later after each late frame, until frames wait
//!   up to a whole interval: as late as a fixed tick; a smaller tolerance
//!   locks an out-of-phase source at a steady delay.)
//! - the first frame after a still moment (the answer to a key press, say)
//!   goes at once, or at most half an interval after a keep-alive frame.
//!
//! ```text
//!           due(n-1)              due(n) = max(due(n-1), went(n-1)) + interval
//!   ───────────|─────────────────────|──────────────────────▶ time
//!              |  frame n may go from here on (and half an interval
//!              |  after frame n-1 went)
//! ```

use std::time::Duration;

/// The schedule of one stream of frames at one frame rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence {
    interval: Duration,
    /// When the last frame went, and when the next one is due.
    last: Option<(Duration, Duration)>,
}

impl Cadence {
    pub fn new(interval: Duration) -> Self {
        Cadence { interval, last: None }
    }

    /// The frame interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A new interval (the frame rate changed); the next frame stays due
    /// one old interval after the last.
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// How early a frame may go before it is due: one interval, so from
    /// the moment the frame before it was due.
    pub fn tolerance(&self) -> Duration {
        self.interval
    }

    /// When the last frame went.
    pub fn last(&self) -> Option<Duration> {
        self.last.map(|(went, _)| went)
    }

    /// The earliest time the next frame may go (`None`: at once).
    pub fn opens(&self) -> Option<Duration> {
        self.last.map(|(went, due)| due.saturating_sub(self.tolerance()).max(went + self.interval / 2))
    }

    /// Whether a frame may go at `at`. A time before the last frame (a new
    /// clock, a jump back) starts the schedule over.
    pub fn admits(&self, at: Duration) -> bool {
        match (self.last, self.opens()) {
            (Some((went, _)), Some(opens)) => at < went || at >= opens,
            _ => true,
        }
    }

    /// A frame went at `at`.
    pub fn went(&mut self, at: Duration) {
        let due = match self.last {
            Some((went, due)) if at >= went => due.max(at),
            _ => at,
        };
        self.last = Some((at, due + self.interval));
    }
}

/// The frame interval of a frame rate `numer/denom`, rounded up to the
/// nanosecond (`None` for a variable rate, 0/1, or nonsense).
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

    fn hz(rate: i32) -> Duration {
        frame_interval(rate, 1).unwrap()
    }

    /// The times at which frames offered at `offers` go (each goes when it
    /// is offered, or is dropped).
    fn passed(interval: Duration, offers: impl IntoIterator<Item = Duration>) -> Vec<Duration> {
        let mut c = Cadence::new(interval);
        offers
            .into_iter()
            .filter(|&t| {
                let ok = c.admits(t);
                if ok {
                    c.went(t);
                }
                ok
            })
            .collect()
    }

    #[test]
    fn no_source_gets_more_than_the_rate_plus_one_in_any_stretch() {
        for (rate, offered) in [(60, 1000), (60, 144), (30, 60), (30, 1000), (60, 61)] {
            let offers: Vec<_> = (0..offered * 10).map(|i| Duration::from_secs(i) / offered as u32).collect();
            let went = passed(hz(rate), offers);
            let interval = hz(rate);
            // n frames span at least (n - 1) intervals less the tolerance, one;
            // two are never closer than half an interval.
            assert!(went.windows(2).all(|w| w[1] - w[0] >= interval / 2), "{offered} at {rate}");
            for n in [2, 3, 10, 60] {
                for w in went.windows(n) {
                    let span = w[n - 1] - w[0];
                    assert!(
                        span + interval >= interval * (n as u32 - 1),
                        "{offered} at {rate}: {n} frames in {span:?}"
                    );
                }
            }
            let per_second = went.len() as f64 / 10.0;
            assert!(per_second <= f64::from(rate) + 0.2, "{offered} offered at {rate}: {per_second}");
            assert!(
                per_second >= f64::from(rate.min(offered as i32)) - 1.0,
                "{offered} offered at {rate}: {per_second}"
            );
        }
    }

    #[test]
    fn a_source_at_the_rate_with_jitter_has_every_frame_go() {
        // ±4 ms around a 60 Hz grid, in an awkward order: late, early, early, late...
        let jitter = [4i64, -4, -3, 4, 0, -4, 3, 4, -4, -1];
        let offers: Vec<_> = (0..600)
            .map(|i: i64| {
                Duration::from_nanos((i * 16_666_667 + 1_000_000_000 + jitter[i as usize % 10] * 1_000_000) as u64)
            })
            .collect();
        assert_eq!(passed(hz(60), offers.clone()), offers, "every frame goes as it comes");
    }

    #[test]
    fn a_strict_interval_would_have_made_those_frames_wait() {
        // The same late-then-early pair against "one interval since the last":
        // the early one comes 8 ms short of an interval after the late one.
        let late = Duration::from_millis(1000) + 4 * MS;
        let early = Duration::from_millis(1000) + hz(60) - 4 * MS;
        assert!(early - late < hz(60));
        let mut c = Cadence::new(hz(60));
        c.went(Duration::from_millis(1000) - hz(60));
        assert!(c.admits(late));
        c.went(late);
        assert!(c.admits(early), "due one interval after the last was due, not after it went");
    }

    #[test]
    fn the_next_frame_may_go_once_the_last_was_due_and_a_jump_back_restarts() {
        let mut c = Cadence::new(20 * MS);
        assert_eq!(c.opens(), None);
        c.went(100 * MS);
        // Due at 120; it may go from when the first was due (100), but not
        // within half an interval of it.
        assert_eq!(c.opens(), Some(110 * MS));
        c.went(111 * MS);
        assert_eq!(c.opens(), Some(121 * MS));
        c.went(121 * MS);
        // Due at 160: open from 140.
        assert_eq!(c.opens(), Some(140 * MS));
        assert!(!c.admits(139 * MS) && c.admits(140 * MS));
        // A long pause: the next frame goes at once and the schedule restarts from it.
        c.went(500 * MS);
        assert_eq!(c.opens(), Some(510 * MS));
        assert!(c.admits(5 * MS), "time going back starts over");
        c.went(5 * MS);
        assert_eq!(c.opens(), Some(15 * MS));
    }

    #[test]
    fn an_out_of_phase_source_at_the_rate_is_not_held() {
        // The schedule starts at 0; the source draws at 60 Hz 9 ms out of phase.
        let mut offers = vec![Duration::ZERO];
        offers.extend((0..600).map(|i| Duration::from_millis(9) + hz(60) * i));
        assert_eq!(passed(hz(60), offers.clone()), offers);
    }

    #[test]
    fn frame_intervals_round_up() {
        assert_eq!(frame_interval(60, 1), Some(Duration::from_nanos(16_666_667)));
        assert_eq!(frame_interval(30000, 1001), Some(Duration::from_nanos(33_366_667)));
        assert_eq!(frame_interval(50, 1), Some(Duration::from_millis(20)));
        assert_eq!(frame_interval(0, 1), None);
        assert_eq!(frame_interval(-5, 1), None);
        assert_eq!(frame_interval(60, 0), None);
    }
}
