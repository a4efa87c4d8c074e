//! Bandwidth estimation from the receiver's feedback, after the Google
//! congestion control draft (draft-ietf-rmcat-gcc): a delay-based part that
//! watches the trend of one-way delay variation between packet groups and
//! backs off when queues build, and a loss-based part that backs off on heavy
//! loss; the target is the smaller of the two, always within the configured
//! bounds. Pure arithmetic on timestamps: no clock, no I/O, so tests can feed
//! it any history.
//!
//! A sender that sends well under the target (a still picture) is
//! application-limited, as in GCC's ALR detection and BBR's app-limited
//! samples: what then arrives measures the sender, not the link. While it
//! lasts, a delay-based overuse does not cut below the last target the stream
//! filled (only a queue that stands, or loss, still cuts), and growth is not
//! held to the small incoming rate; the moment the sender fills the target
//! again, a queue it builds cuts as before.
//!
//! A link that falls far under the sender is found from the queue itself,
//! not only the trend: the frame still arriving counts as soon as its first
//! packet is in, and a queue that jumps by half the guard between two frames
//! is overuse. The cut drains the queue the newest packet met, grown since by
//! the sender's excess over the link (the link's rate read from the newest
//! frame's spread at arrival), so it lands under the new capacity once.
//! Growth is the draft's 8 % a second up to 1.1 times the link's rate at the
//! last cut and doubles every half second beyond it, so a link that came
//! back is found in seconds while a steady link's sawtooth stays close.

use std::collections::{HashSet, VecDeque};

/// One packet's fate, as transport-wide feedback reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacketResult {
    /// Transport-wide sequence number (unwrapped), to drop duplicates.
    pub seq: u64,
    /// When we sent it, in microseconds on our clock.
    pub send_us: i64,
    /// When it arrived, in microseconds on the receiver's clock; `None` if lost.
    pub arrival_us: Option<i64>,
    pub size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub min_bps: u64,
    pub max_bps: u64,
    pub start_bps: u64,
}

/// What the delay trend says about the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Normal,
    Overusing,
    Underusing,
}

/// Packets sent within this span form one group (a frame's burst).
const GROUP_SPAN_US: i64 = 5_000;
const TREND_WINDOW: usize = 20;
const SMOOTHING: f64 = 0.9;
const TREND_GAIN: f64 = 4.0;
const THRESHOLD_INIT_MS: f64 = 12.5;
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
/// Overuse must last this long before it counts.
const OVERUSE_TIME_MS: f64 = 10.0;
/// A decrease with a short queue goes to this share of the delivered rate
/// (the draft's 0.85 left the 5 Mbit/s step at 80–89% of the link).
const BETA: f64 = 0.9;
/// The empty-queue delay is the least delay seen over this span.
const BASE_DELAY_WINDOW_US: i64 = 10_000_000;
/// The delivered rate a decrease starts from is measured over this span;
/// behind a standing queue, over the queue's depth but no less than the minimum.
const DELIVERED_WINDOW_US: i64 = 300_000;
const DELIVERED_MIN_US: i64 = 100_000;
/// The deepest single cut, as a fraction of the delivered rate.
const MIN_CUT: f64 = 0.25;
/// Queueing delay that counts as overuse without waiting for the trend.
const QUEUE_GUARD_US: i64 = 60_000;
/// On overuse, a standing queue is drained in about this long.
const DRAIN_US: i64 = 200_000;
/// A drained queue restores the rate only this long after the drain was due.
const RESTORE_WITHIN_US: i64 = 2_000_000;
/// Without feedback for this long the link is presumed congested.
const FEEDBACK_TIMEOUT_US: i64 = 1_000_000;
/// How many recent sequence numbers are remembered to drop duplicates.
const SEEN_WINDOW: usize = 4096;
/// Arrival or send deltas beyond this are treated as clock jumps and ignored.
const MAX_DELTA_US: i64 = 3_000_000;
/// The sender is application-limited once it sent less than this share of
/// what it may send (the target times the sender's share) over
/// `SENT_WINDOW_US`, and no longer once it sends at least this share over
/// the last `SENT_SHORT_US` (a still picture that moves again).
const APP_LIMITED_SHARE: f64 = 0.5;
const SENT_WINDOW_US: i64 = 1_000_000;
const SENT_SHORT_US: i64 = 100_000;
/// The application-limited state needs this much sending history.
const SENT_MIN_SPAN_US: i64 = 500_000;
/// A target the sender filled to this share is one the link was shown to carry.
const FILLED_SHARE: f64 = 0.8;
/// While application-limited, a queue over `QUEUE_GUARD_US` cuts only once
/// it has stood this long (a standing queue, not a delay spike).
const STANDING_QUEUE_US: i64 = 500_000;
/// A burst of at least this many packets shows the bottleneck's rate.
const DISPERSION_PACKETS: usize = 6;
/// Growth, per second: the draft's 8 % up to `BAND` times the link's rate
/// at the last cut, where a steady link's sawtooth lives (its queue reaches
/// the guard before the target leaves the band); once both the target and
/// the rate arriving (over the last second) are beyond it, the link has
/// shown more than it had, and the growth doubles every half second up to
/// `GROWTH_MAX`, so a link that came back from a drop is found in seconds
/// rather than the 12-14 s that 8 % takes from 3 to 8 Mbit/s. The encoder
/// fills what it is given, so the target itself probes: an overshoot builds
/// a queue the guard sees within a feedback report or two.
const GROWTH: f64 = 0.08;
const GROWTH_MAX: f64 = 0.5;
const BAND: f64 = 1.1;

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send: i64,
    last_send: i64,
    last_arrival: i64,
    /// The least one-way delay of the group's packets: what its first packet
    /// waited behind earlier traffic, without the group's own serialization.
    min_delay: i64,
    size: usize,
    first_arrival: i64,
    packets: usize,
}

pub struct Estimator {
    bounds: Bounds,
    delay_bps: f64,
    loss_bps: f64,
    // Delay-based state.
    group: Option<Group>,
    prev_group: Option<Group>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    history: VecDeque<(f64, f64)>,
    first_arrival_ms: Option<f64>,
    threshold_ms: f64,
    last_threshold_update_ms: Option<f64>,
    overuse_since_ms: Option<f64>,
    prev_trend: f64,
    usage: Usage,
    deltas: usize,
    // Incoming rate over the last second of acknowledged packets: (arrival_us, size).
    received: VecDeque<(i64, usize)>,
    /// One-way delay (arrival − send, on mixed clocks) per packet group over
    /// the last seconds: its minimum is the empty-queue delay.
    delays: VecDeque<(i64, i64)>,
    /// Sequence numbers seen lately: a set to look up, a queue to forget the oldest.
    seen: HashSet<u64>,
    seen_order: VecDeque<u64>,
    last_feedback_us: Option<i64>,
    last_update_us: Option<i64>,
    /// After a cut below BETA to drain a queue: the rate to return to once
    /// the queue has gone, and the time before which it cannot have.
    restore: Option<(f64, i64)>,
    /// Packets reported (arrived or lost) over the last second of send
    /// times: (send_us, size), to tell what the sender offered.
    sent: VecDeque<(i64, usize)>,
    /// The share of the target the sender sends when it has enough to send
    /// (the element gives the video this share of the estimate).
    sender_share: f64,
    /// The sender has been sending well under the target: see the module doc.
    app_limited: bool,
    /// The last target the sender filled (at least `FILLED_SHARE` of it) and
    /// the link carried: the floor of delay-based cuts while
    /// application-limited.
    proven_bps: Option<f64>,
    /// Arrival time of the first group of the current stretch with a queue
    /// over `QUEUE_GUARD_US`.
    queue_since_us: Option<i64>,
    /// The bottleneck's rate from the newest burst that showed it.
    dispersion_bps: Option<f64>,
    /// The link's rate at the last delay-based cut, and since when the
    /// target has stood above `BAND` times it.
    cut_link_bps: Option<f64>,
    above_band_since_us: Option<i64>,
}

/// The estimator's view of the sender, for the element to report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenderState {
    pub app_limited: bool,
    /// The last target the sender filled and the link carried.
    pub proven_bps: Option<u64>,
}

impl Estimator {
    pub fn new(bounds: Bounds) -> Self {
        let bounds = Bounds {
            min_bps: bounds.min_bps.max(1),
            max_bps: bounds.max_bps.max(bounds.min_bps.max(1)),
            start_bps: bounds.start_bps,
        };
        let start = bounds.start_bps.clamp(bounds.min_bps, bounds.max_bps) as f64;
        Estimator {
            bounds,
            delay_bps: start,
            loss_bps: start,
            group: None,
            prev_group: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            history: VecDeque::new(),
            first_arrival_ms: None,
            threshold_ms: THRESHOLD_INIT_MS,
            last_threshold_update_ms: None,
            overuse_since_ms: None,
            prev_trend: 0.0,
            usage: Usage::Normal,
            deltas: 0,
            received: VecDeque::new(),
            delays: VecDeque::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            last_feedback_us: None,
            last_update_us: None,
            restore: None,
            sent: VecDeque::new(),
            sender_share: 1.0,
            app_limited: false,
            proven_bps: None,
            queue_since_us: None,
            dispersion_bps: None,
            cut_link_bps: None,
            above_band_since_us: None,
        }
    }

    /// Tells the estimator which share of the target the sender sends when
    /// it has enough to send (0.1 to 1; 1 unless told).
    pub fn set_sender_share(&mut self, share: f64) {
        if share.is_finite() {
            self.sender_share = share.clamp(0.1, 1.0);
        }
    }

    /// Whether the sender is application-limited, and the last target it
    /// filled that the link carried.
    pub fn sender(&self) -> SenderState {
        SenderState { app_limited: self.app_limited, proven_bps: self.proven_bps.map(|b| b as u64) }
    }

    /// The current target, in bits per second, always within the bounds.
    pub fn target_bps(&self) -> u64 {
        let t = self.delay_bps.min(self.loss_bps);
        let t = if t.is_finite() { t } else { self.bounds.min_bps as f64 };
        (t as u64).clamp(self.bounds.min_bps, self.bounds.max_bps)
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Takes one transport-wide feedback report received at `now_us`.
    pub fn on_feedback(&mut self, now_us: i64, packets: &[PacketResult]) -> u64 {
        let mut fresh: Vec<PacketResult> = packets.iter().copied().filter(|p| self.first_time(p.seq)).collect();
        fresh.sort_by_key(|p| (p.send_us, p.seq));
        let (mut lost, mut total) = (0usize, 0usize);
        for p in &fresh {
            total += 1;
            self.on_sent(p.send_us, p.size);
            match p.arrival_us {
                Some(arrival) if arrival.checked_sub(p.send_us).is_some_and(|d| d.abs() < MAX_DELTA_US * 100) => {
                    self.on_arrival(p.send_us, arrival, p.size);
                }
                _ => lost += 1,
            }
        }
        if total > 0 {
            self.on_loss(lost as f64 / total as f64);
        }
        if let Some(g) = self.group {
            self.check_queue(g.last_arrival);
        }
        self.last_feedback_us = Some(now_us);
        self.update_app_limited();
        self.update(now_us);
        // A target the sender fills and the link carries is proven; a cut
        // while filling it proves the lower one.
        if !self.app_limited && self.sent_filled() {
            self.proven_bps = Some(self.delay_bps);
        }
        self.target_bps()
    }

    /// The fallback without transport-wide feedback: an RTCP receiver report's
    /// fraction lost (0..1).
    pub fn on_receiver_report(&mut self, now_us: i64, fraction_lost: f64) -> u64 {
        if fraction_lost.is_finite() {
            self.on_loss(fraction_lost.clamp(0.0, 1.0));
        }
        self.last_feedback_us = Some(now_us);
        self.target_bps()
    }

    /// Called periodically: with no feedback for a second the link is
    /// presumed congested and the target halves (down to the minimum).
    pub fn on_tick(&mut self, now_us: i64) -> u64 {
        if let Some(last) = self.last_feedback_us {
            if now_us.saturating_sub(last) > FEEDBACK_TIMEOUT_US {
                self.delay_bps = (self.delay_bps * 0.5).max(self.bounds.min_bps as f64);
                self.last_feedback_us = Some(now_us);
            }
        }
        self.target_bps()
    }

    /// The sender was quiet (paused): silence from the receiver meant nothing,
    /// so the feedback timeout starts over from `now_us`.
    pub fn on_quiet_end(&mut self, now_us: i64) {
        if self.last_feedback_us.is_some() {
            self.last_feedback_us = Some(now_us);
        }
    }

    /// Whether a sequence number is new (duplicates in feedback are ignored).
    fn first_time(&mut self, seq: u64) -> bool {
        if !self.seen.insert(seq) {
            return false;
        }
        self.seen_order.push_back(seq);
        if self.seen_order.len() > SEEN_WINDOW {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn on_sent(&mut self, send: i64, size: usize) {
        self.sent.push_back((send, size));
        while self
            .sent
            .front()
            .is_some_and(|&(t, _)| send.saturating_sub(t) > SENT_WINDOW_US || t.saturating_sub(send) > MAX_DELTA_US)
        {
            self.sent.pop_front();
        }
    }

    /// Bits per second sent over the last `window_us` of send times, and the
    /// span of sending it covers.
    fn sent_bps_over(&self, window_us: i64) -> Option<(f64, i64)> {
        let last = self.sent.back()?.0;
        let recent = self.sent.iter().filter(|&&(t, _)| last.saturating_sub(t) <= window_us);
        let (first, bytes) = recent.fold((last, 0.0), |(f, b), &(t, s)| (f.min(t), b + s as f64));
        let span = last.saturating_sub(first);
        Some((bytes * 8.0 / (span.max(SENT_SHORT_US) as f64 / 1e6), span))
    }

    /// What the sender may send now: its share of the target.
    fn sendable_bps(&self) -> f64 {
        self.target_bps() as f64 * self.sender_share
    }

    /// Whether the sender filled the target over the last second.
    fn sent_filled(&self) -> bool {
        self.sent_bps_over(SENT_WINDOW_US)
            .is_some_and(|(bps, span)| span >= SENT_MIN_SPAN_US && bps >= FILLED_SHARE * self.sendable_bps())
    }

    /// Application-limited after a second well under the target; no longer
    /// as soon as the last 100 ms come near it.
    fn update_app_limited(&mut self) {
        let sendable = self.sendable_bps();
        if self.app_limited {
            if self.sent_bps_over(SENT_SHORT_US).is_some_and(|(bps, _)| bps >= APP_LIMITED_SHARE * sendable) {
                self.app_limited = false;
            }
        } else if self
            .sent_bps_over(SENT_WINDOW_US)
            .is_some_and(|(bps, span)| span >= SENT_MIN_SPAN_US && bps < APP_LIMITED_SHARE * sendable)
        {
            self.app_limited = true;
        }
    }

    fn on_arrival(&mut self, send: i64, arrival: i64, size: usize) {
        self.received.push_back((arrival, size));
        while self
            .received
            .front()
            .is_some_and(|&(t, _)| arrival.saturating_sub(t) > 1_000_000 || t.saturating_sub(arrival) > MAX_DELTA_US)
        {
            self.received.pop_front();
        }
        match &mut self.group {
            Some(g) if send.saturating_sub(g.first_send) <= GROUP_SPAN_US && send >= g.first_send => {
                g.last_send = g.last_send.max(send);
                g.last_arrival = g.last_arrival.max(arrival);
                g.min_delay = g.min_delay.min(arrival.saturating_sub(send));
                g.size = g.size.saturating_add(size);
                g.first_arrival = g.first_arrival.min(arrival);
                g.packets += 1;
            }
            _ => {
                if let Some(done) = self.group.take() {
                    if let Some(prev) = self.prev_group {
                        self.on_group_delta(prev, done);
                    }
                    self.prev_group = Some(done);
                }
                let min_delay = arrival.saturating_sub(send);
                self.group = Some(Group {
                    first_send: send,
                    last_send: send,
                    last_arrival: arrival,
                    min_delay,
                    size,
                    first_arrival: arrival,
                    packets: 1,
                });
            }
        }
    }

    /// How long the bottleneck's queue is now, from the newest group's delay
    /// over the smallest delay seen lately. A group's delay is its least
    /// delayed packet's: a frame sent as one burst is serialized at the
    /// bottleneck, and its last packet's wait (30 ms for a 5 Mbit/s frame at
    /// 30 fps) is not a standing queue. The group still arriving counts as
    /// soon as its first packet is in: after a capacity drop, waiting for it
    /// to close costs a frame interval and a feedback report, time in which
    /// the queue grows by a frame's excess.
    fn queue_us(&self) -> i64 {
        let newest = self.group.map(|g| g.min_delay).or(self.delays.back().map(|&(_, d)| d));
        newest.map_or(0, |d| self.queued_us(d))
    }

    /// How much of a one-way `delay` is queueing: what it exceeds the least
    /// delay seen lately by (the empty-link delay).
    fn queued_us(&self, delay: i64) -> i64 {
        self.delays.iter().map(|&(_, d)| d).min().map_or(0, |base| delay.saturating_sub(base).max(0))
    }

    /// A queue far above the empty-link delay is overuse whatever the trend
    /// says yet: the trend needs a window of groups to turn, a capacity drop
    /// fills the queue faster than that.
    fn check_queue(&mut self, at_us: i64) {
        let queue = self.queue_us();
        // A queue that jumps by half the guard from one burst to the next
        // is a link that fell far under the sender: a frame's excess each
        // frame interval. Waiting for the full guard would cost the next
        // frame's trip through that queue.
        let previous = self.delays.iter().rev().nth(usize::from(self.group.is_none())).map(|&(_, d)| d);
        let jumped =
            queue > QUEUE_GUARD_US / 2 && previous.is_some_and(|p| queue - self.queued_us(p) > QUEUE_GUARD_US / 2);
        if (jumped || queue > QUEUE_GUARD_US) && self.deltas >= 2 && self.usage == Usage::Normal {
            self.usage = Usage::Overusing;
        }
        if queue > QUEUE_GUARD_US {
            self.queue_since_us.get_or_insert(at_us);
        } else {
            self.queue_since_us = None;
        }
    }

    fn on_group_delta(&mut self, prev: Group, cur: Group) {
        self.dispersion_bps = dispersion_bps(&cur).or(self.dispersion_bps);
        self.delays.push_back((cur.last_arrival, cur.min_delay));
        while self.delays.front().is_some_and(|&(t, _)| {
            cur.last_arrival.saturating_sub(t) > BASE_DELAY_WINDOW_US
                || t.saturating_sub(cur.last_arrival) > MAX_DELTA_US
        }) {
            self.delays.pop_front();
        }
        let send_delta = cur.last_send.saturating_sub(prev.last_send);
        let arrival_delta = cur.last_arrival.saturating_sub(prev.last_arrival);
        if send_delta <= 0 || !(-MAX_DELTA_US..=MAX_DELTA_US).contains(&arrival_delta) || send_delta > MAX_DELTA_US {
            return; // reordered groups or a clock jump: no information
        }
        let delta_ms = (arrival_delta - send_delta) as f64 / 1000.0;
        let arrival_ms = cur.last_arrival as f64 / 1000.0;
        self.deltas += 1;
        self.accumulated_ms += delta_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let first = *self.first_arrival_ms.get_or_insert(arrival_ms);
        self.history.push_back((arrival_ms - first, self.smoothed_ms));
        if self.history.len() > TREND_WINDOW {
            self.history.pop_front();
        }
        if self.history.len() == TREND_WINDOW {
            let trend = slope(&self.history).unwrap_or(self.prev_trend);
            self.detect(trend, arrival_ms, send_delta as f64 / 1000.0);
        }
        self.check_queue(cur.last_arrival);
    }

    /// The overuse detector with its adaptive threshold.
    fn detect(&mut self, trend: f64, now_ms: f64, send_delta_ms: f64) {
        let modified = self.deltas.min(60) as f64 * trend * TREND_GAIN;
        if modified > self.threshold_ms {
            let since = *self.overuse_since_ms.get_or_insert(now_ms - send_delta_ms / 2.0);
            if now_ms - since > OVERUSE_TIME_MS && trend >= self.prev_trend {
                self.usage = Usage::Overusing;
            }
        } else if modified < -self.threshold_ms {
            self.overuse_since_ms = None;
            self.usage = Usage::Underusing;
        } else {
            self.overuse_since_ms = None;
            self.usage = Usage::Normal;
        }
        self.prev_trend = trend;
        // The threshold follows the trend slowly, and ignores wild outliers.
        let last = self.last_threshold_update_ms.replace(now_ms).unwrap_or(now_ms);
        if modified.abs() <= self.threshold_ms + 15.0 {
            let k = if modified.abs() < self.threshold_ms { K_DOWN } else { K_UP };
            let dt = (now_ms - last).clamp(0.0, 100.0);
            self.threshold_ms = (self.threshold_ms + k * (modified.abs() - self.threshold_ms) * dt).clamp(6.0, 600.0);
        }
    }

    /// Bits per second acknowledged over the last second.
    fn incoming_bps(&self) -> Option<f64> {
        self.incoming_bps_over(1_000_000)
    }

    /// Bits per second acknowledged over the last `window_us` of arrivals.
    fn incoming_bps_over(&self, window_us: i64) -> Option<f64> {
        let last = self.received.back()?.0;
        let recent = self.received.iter().filter(|&&(t, _)| last.saturating_sub(t) <= window_us);
        let (first, bytes) = recent.fold((last, 0.0), |(f, b), &(t, s)| (f.min(t), b + s as f64));
        let span = last.saturating_sub(first).max(100_000) as f64 / 1e6;
        Some(bytes * 8.0 / span)
    }

    /// The rate controller: decrease on overuse, hold on underuse, grow otherwise.
    fn update(&mut self, now_us: i64) {
        let dt = self
            .last_update_us
            .replace(now_us)
            .map_or(0.0, |t| (now_us.saturating_sub(t) as f64 / 1e6).clamp(0.0, 1.0));
        let incoming = self.incoming_bps();
        // A drain cut is a transient: once the queue is gone the link can take
        // BETA of its capacity again, at once rather than 8 % a second later
        // (which made a 20 → 5 Mbit/s step spend 10 s climbing back).
        if let Some((bps, at)) = self.restore.filter(|_| self.usage != Usage::Overusing) {
            if now_us > at + RESTORE_WITHIN_US {
                self.restore = None;
            } else if now_us >= at && self.queue_us() < QUEUE_GUARD_US / 2 {
                self.delay_bps = self.delay_bps.max(bps);
                self.restore = None;
            }
        }
        match self.usage {
            Usage::Overusing => {
                // Back to just under what the link delivered; cuts do not compound
                // below that while the measured rate holds.
                // A long queue at the bottleneck is drained fast too: cut by
                // enough to empty it in DRAIN_US, down to half of the rate.
                // What the link delivers now, not over the last second: after
                // a capacity drop the older arrivals still show the old rate.
                // While a queue stands at the bottleneck, the link has been busy
                // for at least as long as the queue is deep, so the arrivals over
                // that span came at exactly its capacity.
                let queue_us = self.queue_us();
                let window = if queue_us >= QUEUE_GUARD_US {
                    queue_us.clamp(DELIVERED_MIN_US, DELIVERED_WINDOW_US)
                } else {
                    DELIVERED_WINDOW_US
                };
                // The newest burst's spread shows the link as it is now,
                // before a window of arrivals does.
                let delivered = self
                    .incoming_bps_over(window)
                    .into_iter()
                    .chain(self.dispersion_bps.filter(|_| queue_us >= QUEUE_GUARD_US / 2))
                    .reduce(f64::min)
                    .unwrap_or(self.delay_bps);
                // The queue measured is the one the newest reported packet
                // met; it has grown since by the sender's excess over the
                // link: by the time that packet arrives, by the ratio of
                // the two rates.
                let sending = self.sent_bps_over(SENT_SHORT_US).map_or(delivered, |(bps, _)| bps);
                let queue = queue_us as f64 * (sending / delivered.max(1.0)).clamp(1.0, 4.0);
                let factor = (1.0 - queue / DRAIN_US as f64).clamp(MIN_CUT, BETA);
                // An application-limited sender's small rate is not the
                // link's: a delay spike does not cut below the last target
                // it filled (a target never filled yet is the configured
                // start: it stands). A queue that stands (or loss) still cuts.
                let standing = self
                    .queue_since_us
                    .zip(self.delays.back())
                    .is_some_and(|(since, &(at, _))| at.saturating_sub(since) >= STANDING_QUEUE_US);
                let floor = if self.app_limited && !standing { self.proven_bps.unwrap_or(self.delay_bps) } else { 0.0 };
                // A queue still draining re-triggers cuts; they keep the
                // pending restore (at the latest link rate), and a drain
                // cut pushes its time back.
                let back_to = BETA * delivered;
                self.restore = match self.restore {
                    _ if floor > 0.0 => self.restore,
                    _ if factor < BETA => Some((back_to, now_us.saturating_add(DRAIN_US))),
                    Some((bps, at)) => Some((bps.min(back_to), at)),
                    None => None,
                };
                self.delay_bps = (factor * delivered).max(floor).min(self.delay_bps);
                if floor == 0.0 {
                    // A real overuse (a full sender, or a queue that stands):
                    // what the link carries now is less than was proven, so
                    // a sender that looks application-limited right after
                    // (an encoder undershooting its new, lower bitrate) is
                    // not floored or grown back to the old rate.
                    self.proven_bps = self.proven_bps.map(|p| p.min(self.delay_bps));
                }
                self.cut_link_bps = Some(delivered);
                // One decrease per overuse episode.
                self.usage = Usage::Normal;
                self.overuse_since_ms = None;
            }
            Usage::Underusing => {}
            Usage::Normal => {
                // `GROWTH` near the last cut's link rate, faster beyond it
                // (see `BAND`), but never far above what actually gets
                // through, or, while application-limited, above what was proven.
                // Beyond the band only once what arrives shows it too: a capped
                // link never delivers above its cap, however far the target
                // probes, while a link that came back carries what is sent.
                let above = self
                    .cut_link_bps
                    .is_none_or(|link| self.delay_bps > BAND * link && incoming.is_some_and(|r| r > BAND * link));
                let growth = if above {
                    let since = *self.above_band_since_us.get_or_insert(now_us);
                    let above_s = now_us.saturating_sub(since) as f64 / 1e6;
                    (GROWTH * 2f64.powf(2.0 * above_s)).min(GROWTH_MAX)
                } else {
                    self.above_band_since_us = None;
                    GROWTH
                };
                let grown = self.delay_bps * (1.0 + growth).powf(dt);
                let mut cap = incoming.map_or(f64::INFINITY, |r| 1.5 * r + 10_000.0);
                if self.app_limited {
                    cap = cap.max(self.proven_bps.unwrap_or(0.0));
                }
                self.delay_bps = grown.min(cap.max(self.delay_bps));
            }
        }
        self.delay_bps = self.delay_bps.clamp(self.bounds.min_bps as f64, self.bounds.max_bps as f64);
    }

    /// The loss-based part: grow under 2 % loss, hold to 10 %, cut above.
    fn on_loss(&mut self, loss: f64) {
        if loss < 0.02 {
            self.loss_bps = (self.loss_bps * 1.05).max(self.delay_bps.min(self.loss_bps));
        } else if loss > 0.10 {
            self.loss_bps *= 1.0 - 0.5 * loss;
        }
        self.loss_bps = self.loss_bps.clamp(self.bounds.min_bps as f64, self.bounds.max_bps as f64);
    }
}

/// The bottleneck's rate as a frame's burst shows it: packets sent back to
/// back leave the narrowest link one packet time apart, so the burst's
/// spread at arrival is its size over the capacity (a packet train). Only a
/// burst of several packets that the link spread out more than the sender did.
fn dispersion_bps(g: &Group) -> Option<f64> {
    let spread_at_arrival = g.last_arrival.saturating_sub(g.first_arrival);
    let spread_at_send = g.last_send.saturating_sub(g.first_send);
    (g.packets >= DISPERSION_PACKETS && spread_at_arrival > 2 * spread_at_send + 1_000)
        .then(|| g.size as f64 * 8.0 * (g.packets - 1) as f64 / g.packets as f64 / (spread_at_arrival as f64 / 1e6))
}

/// Least-squares slope of (x, y).
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), &(x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) =
        points.iter().fold((0.0, 0.0), |(num, den), &(x, y)| (num + (x - mx) * (y - my), den + (x - mx) * (x - mx)));
    let s = num / den;
    (den > 0.0 && s.is_finite()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds { min_bps: 300_000, max_bps: 20_000_000, start_bps: 2_000_000 };

    /// A link of `capacity_bps` with a FIFO queue: feeds `seconds` of a sender
    /// that follows the estimate (one 1200-byte packet train per 16.7 ms
    /// frame), feedback every 50 ms; returns the estimates after each report.
    struct Link {
        est: Estimator,
        now_us: i64,
        seq: u64,
        queue_free_at_us: i64,
        pending: Vec<PacketResult>,
        rng: u64,
        /// The bottleneck's queue, in microseconds, after each frame.
        queue_log: Vec<i64>,
        /// Frames a second; 60 unless a test says otherwise.
        fps: f64,
        /// How long a new target takes to reach the wire (the element, the
        /// encoder's next frame, the RTP session): the sender sends at the
        /// target it was given this long ago.
        lag_us: i64,
        /// The bottleneck drops what would wait longer than this (a token
        /// bucket's `latency`); unlimited unless a test says otherwise.
        queue_limit_us: Option<i64>,
        /// Targets after each report, with their time, for `lag_us`.
        given: VecDeque<(i64, u64)>,
    }

    impl Link {
        fn new() -> Self {
            Link {
                est: Estimator::new(B),
                now_us: 0,
                seq: 0,
                queue_free_at_us: 0,
                pending: Vec::new(),
                rng: 7,
                queue_log: Vec::new(),
                fps: 60.0,
                lag_us: 0,
                queue_limit_us: None,
                given: VecDeque::new(),
            }
        }

        /// As the capacity-step benchmark's link: 30 fps, a 300 ms token
        /// bucket, and a sender that follows the target `lag_us` late.
        fn like_the_benchmark(bounds: Bounds, lag_us: i64) -> Self {
            Link { est: Estimator::new(bounds), fps: 30.0, lag_us, queue_limit_us: Some(300_000), ..Link::new() }
        }

        /// The packets the receiver can report now. An unlimited test link
        /// reports every packet sent (as before it arrives); the benchmark's
        /// link reports what has arrived by now, and losses once their
        /// neighbours have.
        fn due_report(&mut self) -> Vec<PacketResult> {
            if self.queue_limit_us.is_none() {
                return std::mem::take(&mut self.pending);
            }
            let now = self.now_us;
            let (due, later) = std::mem::take(&mut self.pending).into_iter().partition(|p| match p.arrival_us {
                Some(a) => a <= now,
                None => p.send_us + 20_000 <= now,
            });
            self.pending = later;
            due
        }

        /// The target the sender follows now: the one given `lag_us` ago.
        fn followed_target(&self) -> u64 {
            let due = self.now_us - self.lag_us;
            self.given.iter().rev().find(|&&(t, _)| t <= due).map_or(self.est.bounds.start_bps, |&(_, b)| b)
        }

        fn random(&mut self) -> f64 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            (self.rng % 10_000) as f64 / 10_000.0
        }

        fn run(&mut self, seconds: f64, capacity_bps: f64, loss: f64) -> Vec<u64> {
            self.run_sending(seconds, capacity_bps, loss, None)
        }

        /// Cross traffic takes the bottleneck for `us` from now: every packet
        /// behind it waits that much longer (a delay spike).
        fn spike(&mut self, us: i64) {
            self.queue_free_at_us = self.queue_free_at_us.max(self.now_us) + us;
        }

        /// As `run`, with a sender that has at most `limit_bps` to send (a
        /// still picture): it sends the smaller of that and the target.
        fn run_sending(&mut self, seconds: f64, capacity_bps: f64, loss: f64, limit_bps: Option<f64>) -> Vec<u64> {
            let mut out = Vec::new();
            let frames = (seconds * self.fps) as usize;
            let frame_us = (1e6 / self.fps) as i64;
            let reports_every = (50_000 / frame_us).max(1) as usize;
            for f in 0..frames {
                let target = if self.lag_us > 0 { self.followed_target() } else { self.est.target_bps() };
                let rate = (target as f64).min(limit_bps.unwrap_or(f64::INFINITY));
                let frame_bytes = (rate / 8.0 / self.fps) as usize;
                let packets = frame_bytes.div_ceil(1200).max(1);
                for i in 0..packets {
                    // A limited sender's last packet carries what is left of its frame.
                    let size = match limit_bps {
                        Some(_) if i + 1 == packets => (frame_bytes - 1200 * i).max(100),
                        _ => 1200,
                    };
                    self.seq += 1;
                    let send = self.now_us;
                    let start = self.queue_free_at_us.max(send);
                    if self.queue_limit_us.is_some_and(|limit| start - send > limit) {
                        // Tail drop: the bucket is full.
                        self.pending.push(PacketResult { seq: self.seq, send_us: send, arrival_us: None, size });
                        continue;
                    }
                    let tx = (size as f64 * 8.0 / capacity_bps * 1e6) as i64;
                    self.queue_free_at_us = start + tx;
                    let lost = self.random() < loss;
                    let arrival = (!lost).then_some(self.queue_free_at_us + 20_000);
                    self.pending.push(PacketResult { seq: self.seq, send_us: send, arrival_us: arrival, size });
                }
                self.now_us += frame_us;
                self.queue_log.push((self.queue_free_at_us - self.now_us).max(0));
                if f % reports_every == reports_every - 1 {
                    let report = self.due_report();
                    out.push(self.est.on_feedback(self.now_us, &report));
                    self.given.push_back((self.now_us, *out.last().unwrap()));
                    while self.given.len() > 200 {
                        self.given.pop_front();
                    }
                    if std::env::var_os("ESTIMATOR_TRACE").is_some() {
                        eprintln!(
                            "t {} target {} usage {:?} queue {} app-limited {}",
                            self.now_us / 1000,
                            out.last().unwrap(),
                            self.est.usage,
                            self.est.queue_us() / 1000,
                            self.est.app_limited
                        );
                    }
                }
            }
            out
        }
    }

    fn within_bounds(v: &[u64]) {
        assert!(v.iter().all(|&b| (B.min_bps..=B.max_bps).contains(&b)), "{v:?}");
    }

    #[test]
    fn a_steady_link_is_used_well_with_a_short_queue() {
        let mut link = Link::new();
        link.run(10.0, 10_000_000.0, 0.0);
        let v = link.run(20.0, 5_000_000.0, 0.0);
        // The last 5 s (reports every 50 ms): the sawtooth's mean and the queue's peak.
        let tail = &v[v.len() - 100..];
        let mean = tail.iter().map(|&b| b as f64).sum::<f64>() / tail.len() as f64 / 5e6;
        let queue = link.queue_log[link.queue_log.len() - 300..].iter().max().copied().unwrap_or(0);
        assert!(mean >= 0.9, "mean target {mean:.3} of the link");
        assert!(queue <= 30_000, "queue peaked at {} ms", queue / 1000);
    }

    #[test]
    fn a_steady_link_is_filled_but_not_overrun() {
        let mut link = Link::new();
        let v = link.run(30.0, 8_000_000.0, 0.0);
        within_bounds(&v);
        let last = *v.last().unwrap() as f64;
        assert!((4_000_000.0..=9_000_000.0).contains(&last), "settled at {last} on an 8 Mbit/s link");
    }

    #[test]
    fn a_capacity_drop_is_followed_down_and_a_rise_back_up() {
        let mut link = Link::new();
        link.run(20.0, 20_000_000.0, 0.0);
        let high = link.est.target_bps();
        let down = link.run(10.0, 3_000_000.0, 0.0);
        let low = *down.last().unwrap();
        assert!(low < 3_000_000, "after a drop to 3 Mbit/s the target is {low} (was {high})");
        let up = link.run(40.0, 20_000_000.0, 0.0);
        let recovered = *up.last().unwrap();
        assert!(recovered > 2 * low, "after the link recovers the target is {recovered} (low {low})");
        within_bounds(&down);
        within_bounds(&up);
    }

    #[test]
    fn the_queue_a_capacity_drop_builds_is_drained_within_a_second() {
        let mut link = Link::new();
        link.run(20.0, 20_000_000.0, 0.0);
        let before = link.queue_log.len();
        link.run(10.0, 3_000_000.0, 0.0);
        let queue: Vec<i64> = link.queue_log[before..].to_vec();
        if std::env::var_os("ESTIMATOR_TRACE").is_some() {
            for (i, q) in queue.iter().enumerate().step_by(6) {
                eprintln!("{:>5} ms queue {:>4} ms", i * 16, q / 1000);
            }
        }
        let peak = *queue.iter().max().unwrap();
        // Frames (60 a second) spent with more than 100 ms queued.
        let long = queue.iter().filter(|&&q| q > 100_000).count();
        assert!(long <= 60, "{long} frames with over 100 ms queued (peak {} ms)", peak / 1000);
        // And it stays drained: the last 5 s hold no standing queue.
        let tail = &queue[queue.len() - 300..];
        assert!(tail.iter().filter(|&&q| q > 50_000).count() < 15, "{:?}", &tail[..20]);
    }

    /// The capacity-step benchmark's stream: an 8 Mbit/s ceiling.
    const BENCH: Bounds = Bounds { min_bps: 300_000, max_bps: 8_000_000, start_bps: 8_000_000 };

    #[test]
    fn a_drop_on_the_benchmark_link_is_drained_within_half_a_second() {
        // The benchmark's p95 over the step's first 10 s stays under 100 ms
        // only if under 0.5 s of it is spent with more queued.
        for lag_ms in [0, 50, 100] {
            let mut link = Link::like_the_benchmark(BENCH, lag_ms * 1000);
            link.run(15.0, 20_000_000.0, 0.0);
            let before = link.queue_log.len();
            let v = link.run(10.0, 3_000_000.0, 0.0);
            let queue = &link.queue_log[before..];
            if std::env::var_os("ESTIMATOR_TRACE").is_some() {
                for (i, q) in queue.iter().enumerate().take(40) {
                    eprintln!("lag {lag_ms}: {:>5} ms queue {:>4} ms target {}", i * 33, q / 1000, v[i]);
                }
            }
            let long_ms = queue.iter().filter(|&&q| q > 100_000).count() * 33;
            assert!(long_ms < 500, "lag {lag_ms} ms: {long_ms} ms with over 100 ms queued");
        }
    }

    #[test]
    fn a_link_that_comes_back_is_found_within_seconds() {
        // The benchmark's 20 -> 3 -> 20 Mbit/s: back to 90% of the 8 Mbit/s
        // ceiling (8 % a second alone took 12.7 s here, 12.5-14.4 s in the
        // benchmark), without a standing queue on the way.
        let mut link = Link::like_the_benchmark(BENCH, 50_000);
        link.run(15.0, 20_000_000.0, 0.0);
        link.run(20.0, 3_000_000.0, 0.0);
        let before = link.queue_log.len();
        let v = link.run(20.0, 20_000_000.0, 0.0);
        let back = v.iter().position(|&b| b as f64 >= 0.9 * 8e6).map(|i| i as f64 / 30.0);
        assert!(back.is_some_and(|s| s <= 6.0), "back to 90% after {back:?} s: {:?}", &v[..v.len().min(200)]);
        let peak = link.queue_log[before..].iter().max().copied().unwrap_or(0);
        assert!(peak <= 50_000, "the climb built a {} ms queue", peak / 1000);
    }

    #[test]
    fn a_steady_link_s_sawtooth_stays_close_to_it() {
        // The faster climb is for a link that has shown more than at the
        // last cut; on a link that stays put the target probes only a
        // little above it before each cut.
        let mut link = Link::like_the_benchmark(BENCH, 50_000);
        link.run(15.0, 20_000_000.0, 0.0);
        link.run(10.0, 3_000_000.0, 0.0);
        let v = link.run(20.0, 3_000_000.0, 0.0);
        let peak = *v.iter().max().unwrap() as f64;
        assert!(peak <= 1.15 * 3e6, "the target stood at {peak} on a 3 Mbit/s link");
    }

    #[test]
    fn a_halved_link_on_the_benchmark_is_followed_with_a_short_queue() {
        // 20 -> 10 -> 5 Mbit/s: the queue a halving builds is gone in half a
        // second, and the last 5 s use the link well.
        let mut link = Link::like_the_benchmark(BENCH, 50_000);
        link.run(15.0, 20_000_000.0, 0.0);
        link.run(10.0, 10_000_000.0, 0.0);
        let before = link.queue_log.len();
        let v = link.run(20.0, 5_000_000.0, 0.0);
        let long_ms = link.queue_log[before..].iter().filter(|&&q| q > 100_000).count() * 33;
        assert!(long_ms < 500, "{long_ms} ms with over 100 ms queued");
        let tail = &v[v.len() - 150..];
        let mean = tail.iter().map(|&b| b as f64).sum::<f64>() / tail.len() as f64 / 5e6;
        assert!(mean >= 0.85, "mean target {mean:.3} of the link");
    }

    #[test]
    fn the_first_cut_after_a_drop_lands_under_the_new_capacity() {
        let mut link = Link::new();
        link.run(20.0, 20_000_000.0, 0.0);
        let high = link.est.target_bps();
        assert!(high > 6_000_000, "{high}");
        let down = link.run(2.0, 3_000_000.0, 0.0);
        // The older arrivals still show the rate before the drop; those
        // behind the standing queue show the link as it is now.
        let first_cut = *down.iter().find(|&&b| b < high).expect("a cut within 2 s");
        assert!(first_cut <= 3_000_000, "first cut to {first_cut} on a 3 Mbit/s link (from {high})");
    }

    #[test]
    fn a_drain_cut_is_undone_once_the_queue_is_gone() {
        let mut link = Link::new();
        link.run(20.0, 20_000_000.0, 0.0);
        let high = link.est.target_bps();
        let down = link.run(3.0, 5_000_000.0, 0.0);
        let deepest = *down.iter().min().unwrap();
        assert!(deepest < 3_500_000, "the drop to 5 Mbit/s (from {high}) drained with a cut to {deepest}");
        // Reports come every 50 ms: within a second of the deepest cut the
        // target is back near 90% of the link instead of climbing 8% a second.
        let at = down.iter().position(|&b| b == deepest).unwrap();
        let after: Vec<u64> = down[at..].iter().take(20).copied().collect();
        assert!(after.iter().any(|&b| b >= 4_000_000), "no return after the drain: {after:?}");
    }

    #[test]
    fn random_loss_above_ten_percent_cuts_and_light_loss_does_not() {
        let mut light = Link::new();
        let v = light.run(20.0, 50_000_000.0, 0.01);
        assert!(*v.last().unwrap() > B.start_bps, "1 % loss still grows: {:?}", v.last());
        let mut heavy = Link::new();
        let v = heavy.run(20.0, 50_000_000.0, 0.3);
        assert!(*v.last().unwrap() < B.start_bps, "30 % loss cuts: {:?}", v.last());
        within_bounds(&v);
    }

    #[test]
    fn a_feedback_gap_backs_off() {
        let mut link = Link::new();
        link.run(10.0, 8_000_000.0, 0.0);
        let before = link.est.target_bps();
        let after = link.est.on_tick(link.now_us + 2_000_000);
        assert!(after < before, "{after} !< {before}");
        assert!(link.est.on_tick(link.now_us + 60_000_000) >= B.min_bps);
    }

    #[test]
    fn duplicates_and_reordering_change_nothing() {
        let mut est = Estimator::new(B);
        let mut plain = Estimator::new(B);
        let packets: Vec<PacketResult> = (0..200)
            .map(|i| PacketResult {
                seq: i,
                send_us: i as i64 * 2_000,
                arrival_us: Some(i as i64 * 2_000 + 20_000),
                size: 1200,
            })
            .collect();
        let mut shuffled = packets.clone();
        shuffled.reverse();
        shuffled.extend_from_slice(&packets[..50]);
        assert_eq!(est.on_feedback(400_000, &shuffled), plain.on_feedback(400_000, &packets));
        assert_eq!(est.on_feedback(500_000, &packets), plain.on_feedback(500_000, &[]));
    }

    #[test]
    fn absurd_input_never_panics_or_leaves_the_bounds() {
        let est = Estimator::new(Bounds { min_bps: 0, max_bps: 0, start_bps: u64::MAX });
        assert_eq!(est.target_bps(), 1);
        let mut est = Estimator::new(B);
        let wild = [
            PacketResult { seq: 0, send_us: i64::MIN, arrival_us: Some(i64::MAX), size: usize::MAX / 2 },
            PacketResult { seq: 1, send_us: i64::MAX, arrival_us: Some(i64::MIN), size: 0 },
            PacketResult { seq: 2, send_us: 0, arrival_us: Some(-5_000_000_000), size: 1 },
            PacketResult { seq: u64::MAX, send_us: 10, arrival_us: None, size: 1 },
        ];
        for t in [i64::MIN, -1, 0, 1, i64::MAX] {
            let b = est.on_feedback(t, &wild);
            assert!((B.min_bps..=B.max_bps).contains(&b), "{b}");
            let b = est.on_receiver_report(t, f64::NAN);
            assert!((B.min_bps..=B.max_bps).contains(&b), "{b}");
            let b = est.on_tick(t);
            assert!((B.min_bps..=B.max_bps).contains(&b), "{b}");
        }
        assert!((B.min_bps..=B.max_bps).contains(&est.on_receiver_report(0, 7.0)));
    }

    #[test]
    fn delay_spikes_alone_do_not_collapse_the_rate() {
        let mut est = Estimator::new(B);
        let mut seq = 0;
        let mut out = Vec::new();
        for report in 0..200i64 {
            let mut packets = Vec::new();
            for i in 0..10i64 {
                seq += 1;
                let send = report * 50_000 + i * 5_000;
                // Every 20th report, one packet arrives 80 ms late (a spike, not a queue).
                let extra = if report % 20 == 0 && i == 5 { 80_000 } else { 0 };
                packets.push(PacketResult { seq, send_us: send, arrival_us: Some(send + 20_000 + extra), size: 1200 });
            }
            out.push(est.on_feedback(report * 50_000 + 50_000, &packets));
        }
        within_bounds(&out);
        assert!(*out.last().unwrap() >= B.start_bps / 2, "isolated spikes halved the rate: {:?}", out.last());
    }

    /// 250 kbit/s: what a still picture sends.
    const STILL: Option<f64> = Some(250_000.0);
    const LADDER: &str =
        "1920x1080@60:6000000, 1280x720@60:2500000, 1280x720@30:1500000, 960x540@30:900000, 640x360@30:400000";

    /// The ladder steps the targets `v` (reported every 50 ms from `t0_us`) lead to.
    fn ladder_steps(climber: &mut crate::ladder::Climber, t0_us: i64, v: &[u64]) -> Vec<usize> {
        v.iter()
            .enumerate()
            .map(|(i, &b)| {
                climber.observe(t0_us + i as i64 * 50_000, (b as f64 * 0.9) as u64);
                climber.index()
            })
            .collect()
    }

    #[test]
    fn a_still_picture_with_delay_spikes_keeps_the_target_and_the_step() {
        let mut link = Link::new();
        link.run(20.0, 10_000_000.0, 0.0);
        let before = link.est.target_bps();
        assert!(before > 7_000_000, "{before} on a 10 Mbit/s link");
        let mut climber = crate::ladder::Climber::new(LADDER.parse().unwrap(), (before as f64 * 0.9) as u64);
        let step = climber.index();
        // A still minute: 250 kbit/s, and every 10 s cross traffic holds the
        // bottleneck for 100 ms (the sender's packets queue behind it).
        let mut still = link.run_sending(5.0, 10_000_000.0, 0.0, STILL);
        assert!(link.est.sender().app_limited, "a 250 kbit/s sender under a {before} target");
        let queued = link.queue_log.len();
        for _ in 0..6 {
            link.spike(100_000);
            still.extend(link.run_sending(10.0, 10_000_000.0, 0.0, STILL));
        }
        let peak = link.queue_log[queued..].iter().max().copied().unwrap_or(0);
        assert!(peak >= 80_000, "the spikes queued only {} ms", peak / 1000);
        let lowest = *still.iter().min().unwrap();
        assert!(lowest >= before * 9 / 10, "the still picture's target fell to {lowest} (from {before})");
        let steps = ladder_steps(&mut climber, link.now_us, &still);
        assert!(steps.iter().all(|&s| s == step), "steps {steps:?} while still (step {step} before)");
        // The picture moves again: the first report already allows the old rate.
        let moving = link.run(5.0, 10_000_000.0, 0.0);
        assert!(!link.est.sender().app_limited);
        assert!(moving[0] >= before * 9 / 10, "{} at the motion's return (before {before})", moving[0]);
        // And the link (unchanged) carries it without a standing queue.
        let tail = &link.queue_log[link.queue_log.len() - 120..];
        assert!(tail.iter().filter(|&&q| q > 50_000).count() < 10, "{:?}", &tail[..20]);
    }

    #[test]
    fn without_application_limits_a_delay_spike_still_cuts() {
        // The same spike under a sender that fills the target: the cut the
        // still picture is spared is the one a full sender gets.
        let mut link = Link::new();
        link.run(20.0, 10_000_000.0, 0.0);
        let before = link.est.target_bps();
        link.spike(100_000);
        let v = link.run(1.0, 10_000_000.0, 0.0);
        assert!(*v.iter().min().unwrap() < before * 9 / 10, "no cut after a 100 ms queue: {v:?}");
    }

    #[test]
    fn a_capacity_drop_under_a_still_picture_is_found_when_motion_returns() {
        let mut link = Link::new();
        link.run(20.0, 10_000_000.0, 0.0);
        let before = link.est.target_bps();
        let mut climber = crate::ladder::Climber::new(LADDER.parse().unwrap(), (before as f64 * 0.9) as u64);
        let step = climber.index();
        // Still for 30 s; the link falls to 3 Mbit/s halfway, which the still
        // picture's 250 kbit/s cannot show.
        link.run_sending(15.0, 10_000_000.0, 0.0, STILL);
        let still = link.run_sending(15.0, 3_000_000.0, 0.0, STILL);
        assert!(*still.iter().min().unwrap() >= before * 9 / 10, "{still:?}");
        let t0 = link.now_us;
        let queued = link.queue_log.len();
        let moving = link.run(10.0, 3_000_000.0, 0.0);
        // Within a second of the motion's return the target is under the link,
        // as after a drop under a moving picture
        // (`the_first_cut_after_a_drop_lands_under_the_new_capacity`).
        let under = moving.iter().position(|&b| b < 3_000_000).expect("a cut under the link");
        assert!(under <= 20, "under the link only after {} ms: {:?}", under * 50, &moving[..30]);
        // The queue is drained as after a drop under a moving picture.
        let queue = &link.queue_log[queued..];
        let long = queue.iter().filter(|&&q| q > 100_000).count();
        assert!(long <= 60, "{long} frames with over 100 ms queued");
        assert!(queue[queue.len() - 300..].iter().filter(|&&q| q > 50_000).count() < 15);
        // And the ladder steps down.
        let steps = ladder_steps(&mut climber, t0, &moving);
        assert!(*steps.last().unwrap() > step, "steps {steps:?} after the drop (step {step} before)");
    }

    #[test]
    fn a_standing_queue_or_loss_still_cuts_an_application_limited_sender() {
        // The link falls under even the still picture's rate: the queue stands.
        let mut link = Link::new();
        link.run(20.0, 10_000_000.0, 0.0);
        let before = link.est.target_bps();
        link.run_sending(5.0, 10_000_000.0, 0.0, STILL);
        let v = link.run_sending(5.0, 150_000.0, 0.0, STILL);
        assert!(*v.last().unwrap() < before / 2, "a standing queue did not cut: {:?}", &v[v.len() - 5..]);
        // Heavy loss cuts as it always did.
        let mut link = Link::new();
        link.run(20.0, 10_000_000.0, 0.0);
        link.run_sending(5.0, 10_000_000.0, 0.0, STILL);
        let v = link.run_sending(5.0, 10_000_000.0, 0.3, STILL);
        assert!(*v.last().unwrap() < before / 2, "30 % loss did not cut: {:?}", &v[v.len() - 5..]);
    }

    #[test]
    fn a_sender_that_fills_its_share_is_not_application_limited() {
        // The element gives the video 90% of the estimate (and audio rides on top):
        // a sender at that share fills the target.
        let mut est = Estimator::new(B);
        est.set_sender_share(0.9);
        let mut seq = 0;
        for report in 0..60i64 {
            let rate = est.target_bps() as f64 * 0.85;
            let bytes_per_ms = rate / 8.0 / 1000.0;
            let packets: Vec<PacketResult> = (0..10i64)
                .map(|i| {
                    seq += 1;
                    let send = report * 50_000 + i * 5_000;
                    PacketResult {
                        seq,
                        send_us: send,
                        arrival_us: Some(send + 20_000),
                        size: (bytes_per_ms * 5.0) as usize,
                    }
                })
                .collect();
            est.on_feedback(report * 50_000 + 50_000, &packets);
            assert!(!est.sender().app_limited, "at report {report}");
        }
        assert!(est.sender().proven_bps.is_some());
    }

    proptest::proptest! {
        #[test]
        fn any_feedback_stays_within_the_bounds(
            reports in proptest::collection::vec(
                proptest::collection::vec((0u64..500, -1_000_000i64..10_000_000, proptest::option::of(-1_000_000i64..12_000_000), 0usize..100_000), 0..40),
                1..40,
            ),
            losses in proptest::collection::vec(-1.0f64..2.0, 0..10),
        ) {
            let mut est = Estimator::new(B);
            let mut now = 0i64;
            for r in &reports {
                now += 50_000;
                let packets: Vec<PacketResult> = r.iter()
                    .map(|&(seq, send_us, arrival_us, size)| PacketResult { seq, send_us, arrival_us, size })
                    .collect();
                let b = est.on_feedback(now, &packets);
                proptest::prop_assert!((B.min_bps..=B.max_bps).contains(&b));
            }
            for l in losses {
                let b = est.on_receiver_report(now, l);
                proptest::prop_assert!((B.min_bps..=B.max_bps).contains(&b));
            }
        }
    }
}
