//! Webhooks and notifications: the receiver, payload parsing, the event store, channels,
//! forwarding and replay.

pub mod parse;
pub mod receiver;
pub mod store;

pub use parse::{Filter, Kind};
pub use receiver::{spawn, ReceiverConfig, ReceiverHandle};
pub use store::{Channel, Event, EventReader, EventWriter};
