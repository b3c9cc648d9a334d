//! Zoho's wire types: data centres, the error envelope, date-times.

pub mod datacentre;
pub mod error;
pub mod time;

pub use datacentre::DataCentre;
pub use error::ZohoError;
