//! Networking: the listener (accept and admission limits), one connection task
//! per client (read, frame, dispatch) and one writer task per client (drain the
//! outbox), plus the keep-alive sweeper.

pub mod connection;
pub mod flood;
pub mod input;
pub mod limits;
pub mod listener;
pub mod sweeper;
pub mod tls;
pub mod writer;
