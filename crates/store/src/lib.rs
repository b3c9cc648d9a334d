//! creditops' stores: the ledger (and the gauges computed from it), the metadata cache, the
//! event store, and the SQLite plumbing they share.

pub mod cache;
pub mod db;
pub mod events;
pub mod ledger;
pub mod schema;
pub mod spool;
pub mod usage;
