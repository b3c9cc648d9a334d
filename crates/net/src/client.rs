//! A Zoho CRM client (reqwest, rustls): the OAuth refresh-token flow against a data centre's
//! accounts host or a custom base (the embedded sandbox), tokens cached and refreshed before
//! expiry within Zoho's token-rate limit, typed errors from Zoho's envelope, and bounded retry
//! with backoff on 429 and 5xx.

use crate::retry::{Outcome, RetryPolicy};
pub use crate::wire::{error_chain, ClientError};
use crate::wire::{read_bounded, without_url};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use creditops_config::Profile;
use creditops_core::secret::{redact, Secret};
use creditops_core::zoho::error::ZohoError;

/// Where calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// API base, e.g. `https://sandbox.zohoapis.eu` or `http://127.0.0.1:7878`.
    pub api_base: String,
    /// Token URL, e.g. `https://accounts.zoho.eu/oauth/v2/token`.
    pub token_url: String,
    pub production: bool,
}

impl Endpoint {
    /// A local base (the embedded sandbox, or any emulator) serving both API and tokens.
    pub fn local(base: &str) -> Endpoint {
        let base = base.trim_end_matches('/').to_string();
        Endpoint {
            token_url: format!("{base}/oauth/v2/token"),
            production: creditops_core::zoho::is_production_url(&base),
            api_base: base,
        }
    }

    /// A profile's endpoint. Production needs `target = "zoho-production"` *and*
    /// `allow_production = true`; anything less is refused here, before any request.
    pub fn for_profile(p: &Profile, embedded_base: Option<&str>) -> Result<Endpoint, ClientError> {
        let ends = p.endpoints();
        let api_base = match (ends.api_base.clone(), embedded_base) {
            (Some(b), _) => b,
            (None, Some(b)) => b.to_string(),
            (None, None) => return Err(ClientError::Config(
                "the embedded sandbox is not running: start `creditops sandbox` and set api_base"
                    .into(),
            )),
        };
        // The one production guard, whatever the target says and however the URL is written:
        // the profile's own settings are the consent here (commands add --allow-production).
        if creditops_core::zoho::destination(&api_base).is_err() {
            return Err(ClientError::Config(format!(
                "api_base `{api_base}` is not an http(s) URL"
            )));
        }
        let production = creditops_core::zoho::is_production_url(&api_base);
        if production && p.may_send_to(&api_base, true).is_err() {
            return Err(ClientError::ProductionRefused);
        }
        // The embedded sandbox mints its own tokens at its API base.
        let token_url = ends
            .token_url()
            .unwrap_or_else(|| format!("{}/oauth/v2/token", api_base.trim_end_matches('/')));
        Ok(Endpoint {
            api_base,
            token_url,
            production,
        })
    }
}

/// OAuth client credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: Secret,
    pub refresh_token: Secret,
}

/// An answer: status, `X-API-CREDITS-REMAINING` if sent, and the body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub credits_remaining: Option<u64>,
    pub body: Value,
    pub attempts: u32,
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

pub struct ZohoClient {
    http: reqwest::Client,
    pub endpoint: Endpoint,
    creds: Option<Credentials>,
    token: tokio::sync::Mutex<Option<CachedToken>>,
    minted: std::sync::Mutex<VecDeque<Instant>>,
    /// What is retried and how (`crate::retry`: never a write that may have landed).
    pub retry: RetryPolicy,
    /// Sent as `X-Integration` so the proxy attributes these calls.
    pub integration: Option<String>,
    /// The metadata cache: metadata GETs are answered from it, revalidated past their TTL.
    pub cache: Option<std::sync::Arc<creditops_store::cache::MetadataCache>>,
}

impl ZohoClient {
    /// A client for `endpoint`. `creds` may be None with a fixed token (`with_token`).
    pub fn new(endpoint: Endpoint, creds: Option<Credentials>) -> Result<ZohoClient, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Ok(ZohoClient {
            http,
            endpoint,
            creds,
            token: tokio::sync::Mutex::new(None),
            minted: std::sync::Mutex::new(VecDeque::new()),
            retry: RetryPolicy::default(),
            integration: None,
            cache: None,
        })
    }

    /// Uses a fixed access token (no refresh).
    pub async fn with_token(self, token: Secret) -> ZohoClient {
        *self.token.lock().await = Some(CachedToken {
            token,
            refresh_at: Instant::now() + Duration::from_secs(3600 * 24 * 365),
        });
        self
    }

    fn secrets(&self) -> Vec<&Secret> {
        self.creds
            .as_ref()
            .map(|c| vec![&c.client_secret, &c.refresh_token])
            .unwrap_or_default()
    }

    /// A valid access token: the cached one, or a fresh one 5 minutes before expiry.
    pub async fn access_token(&self) -> Result<Secret, ClientError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.token.clone());
            }
        }
        let answer = self.new_token().await?;
        let t = answer.access_token.clone();
        *guard = Some(CachedToken {
            token: t.clone(),
            refresh_at: Instant::now()
                + Duration::from_secs(answer.expires_in.saturating_sub(300).max(30)),
        });
        Ok(t)
    }

    /// A new access token from the refresh token, whatever is cached (`doctor` reads the
    /// scopes and the server's clock from it). Counts towards Zoho's 10 per 10 minutes.
    pub async fn new_token(&self) -> Result<crate::oauth::TokenAnswer, ClientError> {
        let creds = self.creds.as_ref().ok_or_else(|| {
            ClientError::Config("no OAuth credentials and no access token".into())
        })?;
        {
            let mut minted = self.minted.lock().unwrap_or_else(|p| p.into_inner());
            while minted
                .front()
                .is_some_and(|t| t.elapsed() > Duration::from_secs(600))
            {
                minted.pop_front();
            }
            if minted.len() >= 10 {
                return Err(ClientError::TokenRateLimited);
            }
            minted.push_back(Instant::now());
        }
        crate::oauth::request_token(
            &self.http,
            &self.endpoint.token_url,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", creds.client_id.as_str()),
                ("client_secret", creds.client_secret.expose()),
                ("refresh_token", creds.refresh_token.expose()),
            ],
            &self.secrets(),
        )
        .await
    }

    /// Sends a call, retrying 429 and 5xx with backoff. `path` starts with `/crm/…`. Metadata
    /// GETs go through the cache when the client has one.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let Some(cache) = &self.cache else {
            return self.send(method, path, query, body, None).await;
        };
        let segs = creditops_core::credits::table::normalise_path(path);
        let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
        if let Some(module) = creditops_store::cache::invalidation(method.as_str(), &refs, query) {
            cache.invalidate(module.as_deref());
        }
        let Some((kind, module)) = creditops_store::cache::classify(
            method.as_str(),
            &refs,
            query,
            &cache.settings.record_modules,
        ) else {
            return self.send(method, path, query, body, None).await;
        };
        let key = creditops_store::cache::key(&self.endpoint.api_base, path, query);
        let now = chrono::Utc::now().timestamp_millis();
        let from_cache = |e: &creditops_store::cache::Entry| Answer {
            status: 200,
            credits_remaining: None,
            body: serde_json::from_slice(&e.body).unwrap_or(Value::Null),
            attempts: 0,
        };
        let stale = match cache.lookup(&key, now) {
            creditops_store::cache::Lookup::Fresh(e) => {
                let saved = creditops_core::credits::CostTable::builtin_shared()
                    .price(&creditops_core::credits::Call {
                        method: method.as_str(),
                        path,
                        query,
                        body: None,
                    })
                    .map_or(1, |p| p.credits);
                cache.hit(&key, u64::from(saved), now);
                return Ok(from_cache(&e));
            }
            creditops_store::cache::Lookup::Stale(e) => Some(e),
            creditops_store::cache::Lookup::Miss => None,
        };
        let since = stale
            .as_ref()
            .and_then(|e| chrono::DateTime::from_timestamp_millis(e.stored_ms))
            .map(|t| t.to_rfc2822());
        let answer = self.send(method, path, query, body, since).await?;
        match (answer.status, &stale) {
            (304, Some(e)) => {
                cache.revalidated(&key, now);
                Ok(Answer {
                    credits_remaining: answer.credits_remaining,
                    attempts: answer.attempts,
                    ..from_cache(e)
                })
            }
            (200, _) => {
                let bytes = serde_json::to_vec(&answer.body).unwrap_or_default();
                cache.store(
                    &key,
                    kind,
                    module.as_deref(),
                    "application/json",
                    &bytes,
                    now,
                );
                Ok(answer)
            }
            _ => Ok(answer),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        if_modified_since: Option<String>,
    ) -> Result<Answer, ClientError> {
        let url = format!("{}{}", self.endpoint.api_base, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.access_token().await?;
            let mut req = self.http.request(method.clone(), &url).query(query).header(
                "Authorization",
                format!("Zoho-oauthtoken {}", token.expose()),
            );
            if let Some(i) = &self.integration {
                req = req.header("X-Integration", i);
            }
            if let Some(since) = &if_modified_since {
                req = req.header("If-Modified-Since", since);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e)
                    if self
                        .retry
                        .retries(method.as_str(), Outcome::of_error(&e), attempt) =>
                {
                    tokio::time::sleep(self.retry.wait(attempt, None)).await;
                    continue;
                }
                Err(e) => return Err(ClientError::Http(redact(&without_url(&e), &self.secrets()))),
            };
            let status = resp.status().as_u16();
            let credits_remaining = resp
                .headers()
                .get("x-api-credits-remaining")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let bytes = read_bounded(resp, MAX_ANSWER)
                .await
                .map_err(|e| ClientError::Http(redact(&e, &self.secrets())))?;
            let json: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            };
            if self
                .retry
                .retries(method.as_str(), Outcome::Status(status), attempt)
            {
                tokio::time::sleep(self.retry.wait(attempt, retry_after)).await;
                continue;
            }
            if status == 401 && attempt < self.retry.attempts && self.creds.is_some() {
                // A token revoked or expired early: drop it and refresh once more.
                *self.token.lock().await = None;
                continue;
            }
            if status >= 400 && status != 207 {
                let error =
                    serde_json::from_value::<ZohoError>(json.clone()).unwrap_or_else(|_| {
                        ZohoError::new(
                            "UNKNOWN",
                            &redact(&json.to_string(), &self.secrets()),
                            Value::Null,
                        )
                    });
                return Err(ClientError::Zoho { status, error });
            }
            return Ok(Answer {
                status,
                credits_remaining,
                body: json,
                attempts: attempt,
            });
        }
    }
}

/// Largest API answer read into memory (Zoho pages records 200 at a time: a few MB at most).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
