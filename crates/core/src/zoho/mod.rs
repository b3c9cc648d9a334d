//! Zoho's wire types: data centres, the error envelope, date-times.

pub mod datacentre;
pub mod error;
pub mod oauth;
pub mod time;

pub use datacentre::{destination, is_production_url, DataCentre, Destination};
pub use error::ZohoError;
