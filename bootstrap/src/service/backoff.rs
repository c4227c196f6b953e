//! Restart delays: capped exponential backoff, reset once a service has stayed up long enough.

use std::time::Duration;

pub const INITIAL: Duration = Duration::from_millis(100);
pub const CAP: Duration = Duration::from_secs(30);
/// A service that ran at least this long before exiting starts again from [`INITIAL`].
pub const RESET_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: INITIAL }
    }
}

impl Backoff {
    /// The delay before the next restart of a service that ran for `uptime`; advances the backoff.
    pub fn next_delay(&mut self, uptime: Duration) -> Duration {
        if uptime >= RESET_AFTER {
            self.next = INITIAL;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(CAP);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_secs(1);
        let delays: Vec<_> = (0..12).map(|_| b.next_delay(short).as_millis()).collect();
        assert_eq!(&delays[..5], &[100, 200, 400, 800, 1600]);
        assert_eq!(*delays.last().unwrap(), 30_000);
        assert_eq!(b.next_delay(RESET_AFTER), INITIAL);
        assert_eq!(b.next_delay(short), INITIAL * 2);
    }
}
