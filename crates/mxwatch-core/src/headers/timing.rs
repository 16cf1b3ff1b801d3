//! The delay of each hop: its time minus the time of the previous hop that has one.

use super::Hop;

pub fn fill_delays(hops: &mut [Hop]) {
    let mut previous: Option<i64> = None;
    for hop in hops {
        let Some(now) = hop.time.as_ref().and_then(|t| t.unix) else {
            continue;
        };
        hop.delay_seconds = previous.map(|before| now.saturating_sub(before));
        previous = Some(now);
    }
}

/// `45 s`, `7 min 33 s`, `2 h 5 min`, `3 d 4 h`.
pub fn human_duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3_600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) if s == 0 => format!("{m} min"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human_duration(0), "0 s");
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(453), "7 min 33 s");
        assert_eq!(human_duration(600), "10 min");
        assert_eq!(human_duration(7_500), "2 h 5 min");
        assert_eq!(human_duration(273_600), "3 d 4 h");
        assert!(!human_duration(u64::MAX).is_empty());
    }
}
