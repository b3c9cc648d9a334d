//! Talking to Zoho: the client (OAuth, retries), data centres and the error envelope.

pub mod client;
pub mod datacentre;
pub mod error;

pub use client::{Answer, ClientError, Credentials, Endpoint, ZohoClient};
pub use datacentre::DataCentre;
pub use error::ZohoError;
