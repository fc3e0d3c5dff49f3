//! banter: an IRC-compatible chat server.
//!
//! Data flows one way:
//!
//! ```text
//! socket → net::connection (read, proto::codec framing, flood control)
//!        → proto::message (parse) → commands (table, preconditions, handler)
//!        → state (clients, nicks, channels; uniqueness enforced in state::Server)
//!        → state::fanout (serialize once per capability variant)
//!        → each recipient's state::outbox (bounded, sendq) → net::writer → socket
//! ```
//!
//! Replies to the sender go through the command's response buffer
//! (`commands::response`), which adds labeled-response framing when asked.
//! See docs/architecture.md for the whole picture.

pub mod accounts;
pub mod admin;
pub mod bench;
pub mod caps;
pub mod client;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod isupport;
pub mod metrics;
pub mod net;
pub mod proto;
pub mod server;
pub mod services;
pub mod state;
pub mod store;
pub mod web;
