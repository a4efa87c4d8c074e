//! The resolution and frame-rate ladder: which picture size and rate a
//! bitrate can carry. Steps are ordered best first; each names the least
//! bitrate it needs. The stream steps down as soon as the target stays below
//! the current step's floor, and back up only when the target has cleared the
//! higher step's floor by a margin for a while, so a wobbling estimate does
//! not flip the picture size (each flip costs a key frame).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The least target bitrate this step is used at, in bit/s.
    pub min_bps: u64,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}@{}:{}", self.width, self.height, self.fps, self.min_bps)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LadderError {
    #[error("step {index} `{text}`: expected WIDTHxHEIGHT@FPS:MIN_BITRATE, as in 1280x720@60:2500000")]
    Syntax { index: usize, text: String },
    #[error("step {index} `{text}`: {what} out of range ({range})")]
    Range { index: usize, text: String, what: &'static str, range: &'static str },
    #[error("step {index} `{text}`: steps must go from best to worst (each smaller or slower, with a lower floor)")]
    Order { index: usize, text: String },
    #[error("more than {MAX_STEPS} steps")]
    TooMany,
}

pub const MAX_STEPS: usize = 16;

/// An ordered ladder, best step first. Empty means "never change the picture".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ladder {
    steps: Vec<Step>,
}

impl FromStr for Ladder {
    type Err = LadderError;

    /// `1920x1080@60:6000000, 1280x720@60:3000000, 1280x720@30:1500000`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let items: Vec<&str> = s.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        if items.len() > MAX_STEPS {
            return Err(LadderError::TooMany);
        }
        let mut steps: Vec<Step> = Vec::with_capacity(items.len());
        for (index, text) in items.into_iter().enumerate() {
            let step = parse_step(index, text)?;
            if let Some(prev) = steps.last() {
                let no_worse = step.width > prev.width || step.height > prev.height || step.fps > prev.fps;
                let same = step.width == prev.width && step.height == prev.height && step.fps == prev.fps;
                if no_worse || same || step.min_bps >= prev.min_bps {
                    return Err(LadderError::Order { index, text: text.into() });
                }
            }
            steps.push(step);
        }
        Ok(Ladder { steps })
    }
}

impl fmt::Display for Ladder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

fn parse_step(index: usize, text: &str) -> Result<Step, LadderError> {
    let syntax = || LadderError::Syntax { index, text: text.into() };
    let (picture, bps) = text.split_once(':').ok_or_else(syntax)?;
    let (size, fps) = picture.split_once('@').ok_or_else(syntax)?;
    let (w, h) = size.split_once('x').ok_or_else(syntax)?;
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| syntax());
    let (width, height, fps, min_bps) = (num(w)?, num(h)?, num(fps)?, num(bps)?);
    let range = |what, range| LadderError::Range { index, text: text.into(), what, range };
    if !(16..=7680).contains(&width) || width % 2 != 0 {
        return Err(range("width", "an even number from 16 to 7680"));
    }
    if !(16..=4320).contains(&height) || height % 2 != 0 {
        return Err(range("height", "an even number from 16 to 4320"));
    }
    if !(1..=240).contains(&fps) {
        return Err(range("frame rate", "1 to 240"));
    }
    if !(10_000..=1_000_000_000).contains(&min_bps) {
        return Err(range("bitrate", "10 kbit/s to 1 Gbit/s"));
    }
    Ok(Step { width: width as u32, height: height as u32, fps: fps as u32, min_bps })
}

impl Ladder {
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The best step a target can carry right away (for the start).
    pub fn fitting(&self, target_bps: u64) -> usize {
        self.steps.iter().position(|s| target_bps >= s.min_bps).unwrap_or(self.steps.len().saturating_sub(1))
    }
}

/// How far above a higher step's floor the target must be to climb.
pub const UP_MARGIN: f64 = 1.25;
/// How long the target must stay there.
pub const UP_HOLD_US: i64 = 4_000_000;
/// How long the target must stay under the floor before stepping down: long
/// enough to ride out one bad report, short enough to stop a freeze.
pub const DOWN_HOLD_US: i64 = 500_000;

/// Picks the ladder step over time from the target bitrate.
#[derive(Debug, Clone)]
pub struct Climber {
    ladder: Ladder,
    step: usize,
    below_since: Option<i64>,
    above_since: Option<i64>,
}

impl Climber {
    pub fn new(ladder: Ladder, start_bps: u64) -> Self {
        let step = ladder.fitting(start_bps);
        Climber { ladder, step, below_since: None, above_since: None }
    }

    pub fn ladder(&self) -> &Ladder {
        &self.ladder
    }

    /// The index of the current step (0 is the best).
    pub fn index(&self) -> usize {
        self.step
    }

    pub fn current(&self) -> Option<Step> {
        self.ladder.steps.get(self.step).copied()
    }

    /// Takes the target at `now_us`; returns the new step when it changed.
    pub fn observe(&mut self, now_us: i64, target_bps: u64) -> Option<Step> {
        let cur = self.current()?;
        if target_bps < cur.min_bps && self.step + 1 < self.ladder.steps.len() {
            self.above_since = None;
            let since = *self.below_since.get_or_insert(now_us);
            if now_us.saturating_sub(since) >= DOWN_HOLD_US {
                // Straight to the step that fits: one key frame, not several.
                self.step = self.ladder.fitting(target_bps).max(self.step + 1);
                self.below_since = None;
                return self.current();
            }
            return None;
        }
        self.below_since = None;
        let up = self.step.checked_sub(1).and_then(|i| self.ladder.steps.get(i));
        match up {
            Some(up) if target_bps as f64 >= up.min_bps as f64 * UP_MARGIN => {
                let since = *self.above_since.get_or_insert(now_us);
                if now_us.saturating_sub(since) >= UP_HOLD_US {
                    // One step at a time going up: each is a probe of the link.
                    self.step -= 1;
                    self.above_since = None;
                    return self.current();
                }
            }
            _ => self.above_since = None,
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LADDER: &str =
        "1920x1080@60:6000000, 1280x720@60:3000000, 1280x720@30:1500000, 960x540@30:800000, 640x360@30:300000";

    #[test]
    fn parses_and_prints_back() {
        let l: Ladder = LADDER.parse().unwrap();
        assert_eq!(l.steps().len(), 5);
        assert_eq!(l.steps()[1], Step { width: 1280, height: 720, fps: 60, min_bps: 3_000_000 });
        assert_eq!(l.to_string().parse::<Ladder>().unwrap(), l);
        assert!("".parse::<Ladder>().unwrap().is_empty());
    }

    #[test]
    fn bad_ladders_say_which_step_and_why() {
        let cases = [
            ("1280x720@60", "step 0 `1280x720@60`: expected"),
            ("1280x720@60:3000000, 1920x1080@60:1000000", "step 1 `1920x1080@60:1000000`: steps must go"),
            ("1280x720@60:3000000, 640x360@30:4000000", "step 1"),
            ("1280x720@60:3000000, 1280x720@60:1000000", "step 1"),
            ("1281x720@60:3000000", "width out of range"),
            ("1280x720@0:3000000", "frame rate out of range"),
            ("1280x720@60:5", "bitrate out of range"),
            ("99999999999999999999x720@60:3000000", "expected"),
            ("-1280x720@60:3000000", "expected"),
        ];
        for (text, want) in cases {
            let e = text.parse::<Ladder>().unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let many = vec!["640x360@30:300000"; MAX_STEPS + 1].join(",");
        assert_eq!(many.parse::<Ladder>().unwrap_err(), LadderError::TooMany);
    }

    #[test]
    fn steps_down_after_a_hold_and_straight_to_the_fitting_step() {
        let mut c = Climber::new(LADDER.parse().unwrap(), 8_000_000);
        assert_eq!(c.index(), 0);
        assert_eq!(c.observe(0, 1_000_000), None, "one low report is not enough");
        assert_eq!(c.observe(DOWN_HOLD_US / 2, 1_000_000), None);
        let s = c.observe(DOWN_HOLD_US, 1_000_000).unwrap();
        assert_eq!((s.width, s.fps), (960, 30), "1 Mbit/s fits 540p30 directly");
        // A brief recovery in between resets the hold.
        let mut c = Climber::new(LADDER.parse().unwrap(), 8_000_000);
        c.observe(0, 1_000_000);
        c.observe(100_000, 9_000_000);
        assert_eq!(c.observe(DOWN_HOLD_US, 1_000_000), None);
    }

    #[test]
    fn climbs_one_step_at_a_time_with_margin_and_hold() {
        let mut c = Climber::new(LADDER.parse().unwrap(), 400_000);
        assert_eq!(c.index(), 4);
        // Just over the next floor, not over the margin: stays.
        assert_eq!(c.observe(0, 900_000), None);
        assert_eq!(c.observe(UP_HOLD_US * 2, 900_000), None);
        // Far over every floor: one step per hold, and the hold restarts after each.
        let mut t = UP_HOLD_US * 3;
        assert_eq!(c.observe(t, 20_000_000), None);
        t += UP_HOLD_US;
        assert_eq!(c.observe(t, 20_000_000).unwrap().width, 960);
        assert_eq!(c.observe(t + 1, 20_000_000), None);
        t += UP_HOLD_US + 1;
        let s = c.observe(t, 20_000_000).unwrap();
        assert_eq!((s.width, s.fps), (1280, 30));
        assert_eq!(c.index(), 2);
    }

    #[test]
    fn never_leaves_the_ladder() {
        let mut c = Climber::new(LADDER.parse().unwrap(), 0);
        for i in 0..1000 {
            c.observe(i * 1_000_000, if i % 7 < 3 { 0 } else { u64::MAX });
            assert!(c.current().is_some());
        }
        let mut empty = Climber::new(Ladder::default(), 1_000_000);
        assert_eq!(empty.observe(0, 0), None);
        assert_eq!(empty.current(), None);
    }
}
