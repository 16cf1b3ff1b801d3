//! When a question to a recursive resolver is overdue: its recent reply times (RFC 6298's
//! smoothed round-trip time and variation, as TCP and recursive resolvers keep them).
//!
//! A lost datagram used to cost the whole `--timeout` (3 s) before the second try. On a busy
//! server a few datagrams in tens of thousands are dropped, and those few timeouts made the
//! tail of a bulk scan (a 10,000-domain scan spent a third of its wall time waiting on them).
//! The second try now goes out once the first is overdue by this estimate, still the same two
//! datagrams per question and the same patience before "could not determine".

use std::sync::Mutex;
use std::time::Duration;

/// The earliest a second try goes out: a resolver that answers cached names in a millisecond
/// may still take hundreds to resolve a cold one, and a retransmission then would only double
/// its work.
pub const MIN_OVERDUE: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct RoundTrips {
    /// (smoothed RTT, RTT variation) in microseconds; `None` before the first sample.
    estimate: Mutex<Option<(f64, f64)>>,
}

impl RoundTrips {
    /// Adds the time a reply took to a question that was sent once (Karn's rule: a reply to a
    /// retransmitted question could be to either datagram, so it says nothing).
    pub fn sample(&self, took: Duration) {
        let r = took.as_secs_f64() * 1e6;
        let mut estimate = self.estimate.lock().unwrap();
        *estimate = Some(match *estimate {
            None => (r, r / 2.0),
            // RFC 6298 §2: alpha = 1/8, beta = 1/4.
            Some((srtt, rttvar)) => (
                srtt + (r - srtt) / 8.0,
                rttvar + ((srtt - r).abs() - rttvar) / 4.0,
            ),
        });
    }

    /// How long to wait for a reply before the next try: SRTT + 4 × RTTVAR, at least
    /// [`MIN_OVERDUE`], at most `timeout` (which is also the wait before any sample).
    pub fn overdue_after(&self, timeout: Duration) -> Duration {
        match *self.estimate.lock().unwrap() {
            None => timeout,
            Some((srtt, rttvar)) => Duration::from_secs_f64((srtt + 4.0 * rttvar) / 1e6)
                .clamp(MIN_OVERDUE.min(timeout), timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(3);

    /// The wait after `n` more replies that each took `ms`.
    fn after(rtt: &RoundTrips, n: usize, ms: u64) -> Duration {
        for _ in 0..n {
            rtt.sample(Duration::from_millis(ms));
        }
        rtt.overdue_after(TIMEOUT)
    }

    #[test]
    fn the_wait_follows_the_replies_between_the_floor_and_the_timeout() {
        let rtt = RoundTrips::default();
        assert_eq!(after(&rtt, 0, 0), TIMEOUT, "nothing known yet");
        assert_eq!(after(&rtt, 50, 2), MIN_OVERDUE, "fast replies: the floor");
        let slow = after(&rtt, 50, 900);
        assert!(
            slow > Duration::from_millis(900) && slow <= TIMEOUT,
            "{slow:?}"
        );
        assert_eq!(after(&rtt, 50, 10_000), TIMEOUT, "never past the timeout");
        assert_eq!(
            rtt.overdue_after(Duration::from_millis(100)),
            Duration::from_millis(100),
            "a timeout under the floor is the wait"
        );
    }

    #[test]
    fn a_mix_of_cached_and_cold_answers_waits_for_the_cold_ones() {
        let rtt = RoundTrips::default();
        for i in 0..200 {
            rtt.sample(Duration::from_millis(if i % 4 == 0 { 400 } else { 1 }));
        }
        assert!(rtt.overdue_after(TIMEOUT) > Duration::from_millis(400));
    }
}
