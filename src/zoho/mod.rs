//! Talking to Zoho: data centres and the error envelope (the OAuth client lands with metering).

pub mod datacentre;
pub mod error;

pub use datacentre::DataCentre;
pub use error::ZohoError;
