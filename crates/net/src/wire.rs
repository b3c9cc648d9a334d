//! What every request creditops makes shares: the error type, bounded reads of answers, and
//! error text without URLs (query strings may carry tokens).

use creditops_core::zoho::error::ZohoError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Zoho answered with its error envelope.
    #[error("Zoho answered {status}: {error}")]
    Zoho { status: u16, error: ZohoError },
    /// The accounts server refused a token (its `error` field, never the secret).
    #[error("OAuth: {0}")]
    OAuth(String),
    /// At most 10 new access tokens per refresh token per 10 minutes (Zoho's limit).
    #[error("OAuth: 10 access tokens were made in the last 10 minutes; Zoho allows no more")]
    TokenRateLimited,
    #[error("the request failed: {0}")]
    Http(String),
    #[error("refusing to call Zoho production: the profile must say target = \"zoho-production\" and allow_production = true")]
    ProductionRefused,
    #[error("{0}")]
    Config(String),
}

/// Reads an answer's body, at most `max` bytes: a server that sends more is an error, not a
/// process that grows until it is killed.
pub(crate) async fn read_bounded(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<bytes::Bytes, String> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(format!("the answer is larger than {max} bytes"));
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| without_url(&e))? {
        if buf.len() + chunk.len() > max {
            return Err(format!("the answer is larger than {max} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// What went wrong with a request, said with its causes (connection refused, DNS, TLS) and
/// without the URL.
pub fn error_chain(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        without_url(e)
    };
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s = format!("{s}: {c}");
        }
        src = cause.source();
    }
    s
}

/// reqwest's message without the URL (query strings may carry tokens in other tools' hands).
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<url>");
    }
    s
}
