//! Reading files and streams a user hands creditops (queues, plans, histories, `__apis`
//! answers, request bodies, config and theme files), bounded: `/dev/zero` or a runaway log
//! stops with a clear error at a known size instead of growing to gigabytes.
//!
//! Data files (queues, plans, histories, `__apis`): at most [`DEFAULT_DATA_LIMIT`] (1 GiB,
//! eight times the 1M-call bench queue), or what `CREDITOPS_MAX_INPUT` says (`512M`, `2G`,
//! bytes). Settings files (config, costs, themes, the console's state): at most
//! [`SETTINGS_LIMIT`] (4 MiB).

use std::io::Read;
use std::path::Path;

/// The default bound of a data file: 1 GiB.
pub const DEFAULT_DATA_LIMIT: u64 = 1 << 30;
/// The bound of a settings file: 4 MiB.
pub const SETTINGS_LIMIT: u64 = 4 << 20;
/// The environment variable that sets the data bound.
pub const LIMIT_ENV: &str = "CREDITOPS_MAX_INPUT";

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{name}: {source}")]
    Io {
        name: String,
        source: std::io::Error,
    },
    #[error("{name}: larger than {limit} bytes, the most creditops reads ({how})")]
    TooLarge {
        name: String,
        limit: u64,
        how: &'static str,
    },
    #[error("{name}: not UTF-8 text (byte {at})")]
    NotText { name: String, at: usize },
    #[error("{LIMIT_ENV}={value}: not a size (bytes, or a number with K, M or G)")]
    BadLimit { value: String },
}

impl InputError {
    pub fn not_found(&self) -> bool {
        matches!(self, InputError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Parses `512M`, `2G`, `64K` or plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// The data bound: `CREDITOPS_MAX_INPUT`, else [`DEFAULT_DATA_LIMIT`].
pub fn data_limit() -> Result<u64, InputError> {
    match std::env::var(LIMIT_ENV) {
        Ok(v) => parse_size(&v).ok_or(InputError::BadLimit { value: v }),
        Err(_) => Ok(DEFAULT_DATA_LIMIT),
    }
}

/// Reads at most `limit` bytes of UTF-8 text from `r`; `name` names it in errors.
pub fn read_text_from(
    r: impl Read,
    name: &str,
    limit: u64,
    how: &'static str,
) -> Result<String, InputError> {
    read_text_sized(r, name, limit, how, 0)
}

/// As [`read_text_from`], with room made up front for `expected` bytes (a file's length): a
/// 125 MB queue is read in one pass instead of being copied at every doubling.
fn read_text_sized(
    r: impl Read,
    name: &str,
    limit: u64,
    how: &'static str,
    expected: u64,
) -> Result<String, InputError> {
    let mut bytes = Vec::with_capacity(expected.min(limit).saturating_add(1) as usize);
    r.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Io {
            name: name.to_string(),
            source,
        })?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            name: name.to_string(),
            limit,
            how,
        });
    }
    String::from_utf8(bytes).map_err(|e| InputError::NotText {
        name: name.to_string(),
        at: e.utf8_error().valid_up_to(),
    })
}

/// What a data file's "too large" error says to do.
pub const DATA_HOW: &str = "set CREDITOPS_MAX_INPUT to raise it";

/// A data file opened for a bounded read: the file, its length (0 for a pipe or /dev/zero,
/// which then grow bounded), and [`data_limit`].
pub fn open_data(path: &Path, name: &str) -> Result<(std::fs::File, u64, u64), InputError> {
    let limit = data_limit()?;
    let f = std::fs::File::open(path).map_err(|source| InputError::Io {
        name: name.to_string(),
        source,
    })?;
    let len = f.metadata().map_or(0, |m| m.len());
    Ok((f, len, limit))
}

/// A data file (queue, plan, history, `__apis` answer), bounded by [`data_limit`].
pub fn read_data(path: &Path) -> Result<String, InputError> {
    let name = path.display().to_string();
    let (f, len, limit) = open_data(path, &name)?;
    // A regular file's length sizes the buffer.
    read_text_sized(f, &name, limit, DATA_HOW, len)
}

/// A settings file (config, costs, theme, console state), bounded by [`SETTINGS_LIMIT`].
pub fn read_settings(path: &Path) -> Result<String, InputError> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|source| InputError::Io {
        name: name.clone(),
        source,
    })?;
    read_text_from(f, &name, SETTINGS_LIMIT, "a settings file is small")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(
            parse_size("99999999999999G"),
            None,
            "overflow is not a size"
        );
    }

    #[test]
    fn an_endless_stream_stops_at_the_bound() {
        let endless = std::io::repeat(b'x');
        let err = read_text_from(endless, "/dev/zero", 1024, "test").unwrap_err();
        assert!(
            matches!(err, InputError::TooLarge { limit: 1024, .. }),
            "{err}"
        );
        assert!(err
            .to_string()
            .starts_with("/dev/zero: larger than 1024 bytes"));
        let ok = read_text_from(&b"ok"[..], "small", 1024, "test").unwrap();
        assert_eq!(ok, "ok");
        let err = read_text_from(&[0xff, 0xfe][..], "bin", 1024, "test").unwrap_err();
        assert!(matches!(err, InputError::NotText { at: 0, .. }), "{err}");
    }
}
