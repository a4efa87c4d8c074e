//! A token bucket: `rate` tokens a second, at most `burst` saved up.

use std::time::Instant;

#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64) -> Self {
        let burst = burst.max(1.0);
        Bucket { rate: rate.max(0.0), burst, tokens: burst, last: None }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let earned = now.saturating_duration_since(last).as_secs_f64() * self.rate;
            self.tokens = (self.tokens + earned).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bucket;
    use std::time::{Duration, Instant};

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(100.0, 10.0);
        assert_eq!((0..50).filter(|_| b.take(t0)).count(), 10);
        // 100 ms later: 10 more.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!((0..50).filter(|_| b.take(t1)).count(), 10);
        // A long pause saves up no more than the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..50).filter(|_| b.take(t2)).count(), 10);
        // Time going backwards earns nothing and does not panic.
        assert!(!b.take(t0));
    }
}
