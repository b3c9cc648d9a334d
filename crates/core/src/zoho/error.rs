//! Zoho's error envelope: `{"code":"…","details":{…},"message":"…","status":"error"}`.
//! The sandbox answers with it; the client parses it into typed errors.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One Zoho error answer (or a per-record error inside a batch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZohoError {
    pub code: String,
    #[serde(default)]
    pub details: Value,
    #[serde(default)]
    pub message: String,
    #[serde(default = "error_status")]
    pub status: String,
}

fn error_status() -> String {
    "error".into()
}

impl ZohoError {
    pub fn new(code: &str, message: &str, details: Value) -> Self {
        ZohoError {
            code: code.into(),
            details,
            message: message.into(),
            status: "error".into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "details": if self.details.is_null() { json!({}) } else { self.details.clone() },
            "message": self.message,
            "status": self.status,
        })
    }

    pub fn too_many_requests(message: &str) -> Self {
        Self::new("TOO_MANY_REQUESTS", message, json!({}))
    }

    pub fn invalid_token() -> Self {
        Self::new("INVALID_TOKEN", "invalid oauth token", json!({}))
    }

    pub fn authentication_failure() -> Self {
        Self::new("AUTHENTICATION_FAILURE", "Authentication failed", json!({}))
    }

    pub fn invalid_url() -> Self {
        Self::new(
            "INVALID_URL_PATTERN",
            "Please check if the URL trying to access is a correct one",
            json!({}),
        )
    }

    pub fn invalid_module(module: &str) -> Self {
        Self::new(
            "INVALID_MODULE",
            "The module name given seems to be invalid",
            json!({ "resource_path_index": 0, "module": module }),
        )
    }

    pub fn invalid_data(message: &str, details: Value) -> Self {
        Self::new("INVALID_DATA", message, details)
    }

    pub fn required_param(param: &str) -> Self {
        Self::new(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({ "param_name": param }),
        )
    }

    /// Zoho's answer when it could not complete a call on its side.
    pub fn internal_error(message: &str) -> Self {
        ZohoError::new("INTERNAL_ERROR", message, json!({}))
    }

    pub fn limit_exceeded(message: &str, details: Value) -> Self {
        Self::new("LIMIT_EXCEEDED", message, details)
    }
}

impl std::fmt::Display for ZohoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ZohoError {}
