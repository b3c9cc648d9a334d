//! Talking to Zoho: data centres (and, with the metering issue, the OAuth client).

pub mod datacentre;

pub use datacentre::DataCentre;
