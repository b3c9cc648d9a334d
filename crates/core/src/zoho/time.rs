//! Zoho's date-times: the format it writes and the forms it accepts. One place, for the
//! proxy (If-Modified-Since, Retry-After) and the sandbox.

/// Formats epoch milliseconds as Zoho does: `2026-11-27T10:00:00+00:00`.
pub fn zoho_time(ms: i64) -> String {
    use chrono::{Datelike, Timelike};
    // Written by hand: chrono's strftime parser showed up on the write path's profile.
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let mut s = String::with_capacity(25);
    let _ = std::fmt::Write::write_fmt(
        &mut s,
        format_args!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
    );
    s
}

/// Parses Zoho's and HTTP's date formats into epoch milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(s) {
        return Some(t.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}
