//! Timing helpers of noded's background work: capped exponential backoff and the duration syntax
//! of the flags (`500ms`, `5s`, `40m`, `2h`).
//!
//! Pure computation: no clocks are read and nothing sleeps here.

use std::time::Duration;

/// Capped exponential backoff: `initial`, doubling on every failure up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next attempt; each call doubles the following one (capped).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// After a success: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Parses `<number><unit>` with unit `ms`, `s`, `m` or `h` (e.g. `200ms`, `5s`, `40m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: write e.g. 500ms, 5s, 40m or 2h"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}: use ms, s, m or h"
            ))
        }
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is zero"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(120));
        let delays: Vec<u64> = (0..9).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 120, 120, 120]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(2));
        assert_eq!(b.next_delay(), Duration::from_secs(4));
    }

    #[test]
    fn backoff_initial_above_cap_is_capped() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(3));
        assert_eq!(b.next_delay(), Duration::from_secs(3));
        assert_eq!(b.next_delay(), Duration::from_secs(3));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("40m"), Ok(Duration::from_secs(2400)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "5", "s", "5d", "0s", "-1s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
