//! creditops on the network: the servers' shared handle, the metering proxy, the webhook
//! receiver, the Zoho client and the plan sender.

// Zoho's error envelope travels whole through `Result`s on cold error paths.
#![allow(clippy::result_large_err)]

pub mod client;
pub mod oauth;
pub mod proxy;
pub mod receiver;
pub mod retry;
pub mod send;
pub mod server;
pub mod wire;
