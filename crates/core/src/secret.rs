//! A string that must never reach a log, a screen or an error message.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Holds a client secret, refresh token or access token. Debug and Display print `***`; the
/// value is reachable only through [`Secret::expose`], so leaking it takes a visible call.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Serialised only when the config file itself is written (mode 0600).
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Replaces every occurrence of the given secrets in `text` with `***`, for messages built
/// from upstream answers that might echo what was sent.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.0.len() >= 4 {
            out = out.replace(&s.0, "***");
        }
    }
    out
}

/// A channel token as kept at rest: `sha256:` and the hex digest. A receiver verifies a token by
/// hashing what it is sent; the store never holds one that could be replayed.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether a header or parameter name carries a credential: Authorization, Cookie, X-Api-Key,
/// or anything named like a token, key, secret or password. Such values never go into files
/// creditops writes (plans, hold queues, stored events).
pub fn is_credential_name(name: &str) -> bool {
    // Lowered on the stack when short (every header and query name of a million queued calls
    // is asked).
    let mut buf = [0u8; 64];
    let n: std::borrow::Cow<'_, str> = match buf.get_mut(..name.len()) {
        Some(b) => {
            b.copy_from_slice(name.as_bytes());
            b.make_ascii_lowercase();
            // ASCII lowering keeps UTF-8 valid.
            std::str::from_utf8(b).map_or_else(|_| name.to_ascii_lowercase().into(), Into::into)
        }
        None => name.to_ascii_lowercase().into(),
    };
    matches!(
        n.as_ref(),
        "authorization" | "cookie" | "set-cookie" | "proxy-authorization"
    ) || ["token", "key", "secret", "password", "passwd", "signature"]
        .iter()
        // Names are short: compared in place (`str::contains` sets a searcher up each time).
        .any(|w| n.as_bytes().windows(w.len()).any(|at| at == w.as_bytes()))
}

/// A URL as it may be logged or shown: without user info (`user:password@`) or query.
pub fn url_for_display(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "<not a URL>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_are_stable_and_not_the_token() {
        let h = token_hash("tok55");
        assert_eq!(h, token_hash("tok55"));
        assert_ne!(h, token_hash("tok56"));
        assert!(h.starts_with("sha256:") && h.len() == 71 && !h.contains("tok55"));
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            url_for_display("https://u:pw@sandbox.zohoapis.eu/crm?access_token=x"),
            "https://sandbox.zohoapis.eu/crm"
        );
        assert_eq!(
            url_for_display("http://127.0.0.1:7878"),
            "http://127.0.0.1:7878"
        );
    }

    #[test]
    fn credential_names() {
        for n in [
            "Authorization",
            "cookie",
            "X-Api-Key",
            "x-zoho-token",
            "client_secret",
            "refresh_token",
            "Password",
            "apikey",
            // Longer than the stack buffer it is lowered in, and not ASCII.
            "X-A-Very-Long-Header-Name-From-Some-Integration-Platform-Secret-Value",
            "Ünïcode-TOKEN",
        ] {
            assert!(is_credential_name(n), "{n}");
        }
        for n in [
            "X-Integration",
            "content-type",
            "module",
            "fields",
            "If-Modified-Since",
            "X-A-Very-Long-Header-Name-From-Some-Integration-Platform-Of-Ours",
        ] {
            assert!(!is_credential_name(n), "{n}");
        }
    }
}
