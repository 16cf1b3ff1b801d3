//! Unix seconds as UTC text for messages (a civil date, or a date and minute), without a time
//! library: the core has no clock and needs only these two forms.

/// `2026-11-23`.
pub fn date(unix: i64) -> String {
    let (y, m, d) = civil(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2026-12-14 09:30 UTC`, rounded UP to the minute: a "safe after" time must never be early.
pub fn minute_ceil(unix: i64) -> String {
    let rounded = unix.div_euclid(60) * 60 + if unix.rem_euclid(60) > 0 { 60 } else { 0 };
    let seconds_of_day = rounded.rem_euclid(86_400);
    format!(
        "{} {:02}:{:02} UTC",
        date(rounded),
        seconds_of_day / 3600,
        (seconds_of_day % 3600) / 60
    )
}

/// Days since the epoch to a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_minutes() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_392_000), "2026-11-23");
        assert_eq!(minute_ceil(1_795_392_000), "2026-11-23 00:00 UTC");
        // One second past a minute is the next minute.
        assert_eq!(minute_ceil(1_795_392_001), "2026-11-23 00:01 UTC");
        assert_eq!(
            minute_ceil(1_795_392_000 + 9 * 3600 + 29 * 60 + 59),
            "2026-11-23 09:30 UTC"
        );
        assert_eq!(minute_ceil(1_795_392_000 - 1), "2026-11-23 00:00 UTC");
    }
}
