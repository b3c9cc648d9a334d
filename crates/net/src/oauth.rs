//! Zoho's accounts server: the token requests creditops makes (a refresh for an access token,
//! and the one-time exchange of a self client's grant code for a refresh token), read bounded,
//! with errors that say what to do and never carry a secret.

use std::time::Duration;

use creditops_core::secret::{redact, Secret};
use serde_json::Value;

use crate::wire::{error_chain, read_bounded, ClientError};

/// Largest token answer read (Zoho's are a few hundred bytes).
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

/// What the accounts server gave.
#[derive(Debug, Clone)]
pub struct TokenAnswer {
    pub access_token: Secret,
    /// Only from a grant-code exchange.
    pub refresh_token: Option<Secret>,
    pub expires_in: u64,
    /// The scopes granted, as Zoho lists them (space or comma separated), when it says.
    pub scope: Option<String>,
    /// The org's API host (`https://www.zohoapis.eu`): it tells the data centre.
    pub api_domain: Option<String>,
    /// The server's `Date` header, for clock checks.
    pub server_date: Option<chrono::DateTime<chrono::Utc>>,
}

/// A `Date` header (RFC 2822 / IMF-fixdate) as a time.
pub fn date_header(headers: &reqwest::header::HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    let v = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(v)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// POSTs a token request (form-encoded) and reads the answer. `secrets` are redacted from any
/// error text.
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    form: &[(&str, &str)],
    secrets: &[&Secret],
) -> Result<TokenAnswer, ClientError> {
    let resp = http
        .post(token_url)
        .form(form)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| ClientError::Http(redact(&error_chain(&e), secrets)))?;
    let server_date = date_header(resp.headers());
    let bytes = read_bounded(resp, MAX_TOKEN_ANSWER)
        .await
        .map_err(|e| ClientError::OAuth(redact(&e, secrets)))?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
        ClientError::OAuth(format!(
            "the accounts server's answer is not JSON ({} bytes)",
            bytes.len()
        ))
    })?;
    if let Some(err) = body.get("error").and_then(Value::as_str) {
        return Err(ClientError::OAuth(redact(&explain(err), secrets)));
    }
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let access = text("access_token")
        .ok_or_else(|| ClientError::OAuth("the token answer had no access_token".into()))?;
    Ok(TokenAnswer {
        access_token: Secret::new(access),
        refresh_token: text("refresh_token").map(Secret::new),
        expires_in: body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600),
        scope: text("scope"),
        api_domain: text("api_domain"),
        server_date,
    })
}

/// Exchanges a self client's grant code for a refresh token (Zoho: a code is used once and
/// lasts the 3 to 10 minutes chosen when it was made).
pub async fn exchange_grant_code(
    http: &reqwest::Client,
    token_url: &str,
    client_id: &str,
    client_secret: &Secret,
    code: &Secret,
) -> Result<TokenAnswer, ClientError> {
    request_token(
        http,
        token_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose()),
            ("code", code.expose()),
        ],
        &[client_secret, code],
    )
    .await
}

/// Zoho's OAuth error codes, said with what to do.
fn explain(code: &str) -> String {
    match code {
        "invalid_code" => "invalid_code: the grant code or refresh token is wrong, already used or expired; make a new grant code in Zoho's API console (Self Client → Generate Code)".into(),
        "invalid_client" => "invalid_client: the client_id or client_secret is not one Zoho knows (copy both from the Self Client's Client Secret tab), or the accounts server is another data centre's".into(),
        "invalid_client_secret" => "invalid_client_secret: the client_secret does not match the client_id".into(),
        "unsupported_grant_type" => "unsupported_grant_type: the accounts server does not take this request".into(),
        "Access Denied" => "Access Denied: too many token requests in a short time; wait a few minutes".into(),
        other => other.to_string(),
    }
}
