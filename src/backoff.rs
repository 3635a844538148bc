//! The wait between two tries of something that failed for a passing
//! reason (a database or a configuration server out of reach): doubling
//! from a first wait up to a cap, for as long as it takes, as backon's
//! exponential policy gives it.

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// Doubling waits from `first` up to `cap`, with no end.
#[derive(Debug)]
pub struct Backoff {
    policy: ExponentialBuilder,
    waits: ExponentialBackoff,
    cap: Duration,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        let policy = ExponentialBuilder::default()
            .with_min_delay(first)
            .with_max_delay(cap)
            .with_factor(2.0)
            .without_max_times();
        Backoff {
            policy,
            waits: policy.build(),
            cap,
        }
    }

    /// How long to wait before the next try.
    pub fn next_wait(&mut self) -> Duration {
        self.waits.next().unwrap_or(self.cap)
    }

    /// After a success: the next failure waits the first wait again.
    pub fn reset(&mut self) {
        self.waits = self.policy.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_start_over_after_a_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(100));
        let waits: Vec<u64> = (0..6)
            .map(|_| (backoff.next_wait().as_secs_f64() * 1000.0).round() as u64)
            .collect();
        assert_eq!(waits, [20, 40, 80, 100, 100, 100]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(20));
    }
}
