//! Number formatting shared by the CLI and the console.

/// "70000" → "70,000".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How old something is, or how long it has left: `45s`, `59m`, `5h`, `3d`; `stale` below zero.
pub fn age(secs: i64) -> String {
    match secs {
        s if s < 0 => "stale".into(),
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A span to read at a glance: `now`, `59m02s`, `2h05m`.
pub fn duration(secs: u64) -> String {
    match secs {
        0 => "now".into(),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_and_durations_read_at_a_glance() {
        assert_eq!(super::age(-1), "stale");
        assert_eq!(super::age(45), "45s");
        assert_eq!(super::age(3588), "59m");
        assert_eq!(super::age(5 * 3600), "5h");
        assert_eq!(super::age(3 * 86_400), "3d");
        assert_eq!(super::duration(0), "now");
        assert_eq!(super::duration(3542), "59m02s");
        assert_eq!(super::duration(7500), "2h05m");
    }

    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_000), "1,000");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}
