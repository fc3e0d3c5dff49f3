//! Networking: the listener (accept and admission limits), one connection task
//! per client (read, frame, dispatch, drain the outbox), the keep-alive
//! sweeper, the transports a client arrives by (TCP, TLS, WebSocket), and the
//! PROXY protocol header a trusted load balancer puts in front of them.

pub mod connection;
pub mod flood;
pub mod input;
pub mod iprange;
pub mod limits;
pub mod listener;
pub mod proxy;
pub mod sweeper;
pub mod tls;
pub mod websocket;
