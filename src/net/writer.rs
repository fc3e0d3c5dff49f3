//! The writer task: swaps the client's outbox out and writes it in one call.

use crate::state::client::Client;
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Drains `client`'s outbox into `wr` until the outbox is closed and empty.
pub async fn run<W: AsyncWrite + Unpin>(client: Arc<Client>, mut wr: W) {
    let mut buf = Vec::new();
    loop {
        let closed = client.outbox.take(&mut buf);
        if buf.is_empty() {
            if closed {
                break;
            }
            // Idle: neither this buffer nor the outbox's keeps its memory.
            buf = Vec::new();
            client.outbox.release_if_empty();
            client.outbox.wait().await;
            // Let the task that woke us finish its fan-out first, so one write
            // carries everything it queued for this client.
            tokio::task::yield_now().await;
            continue;
        }
        if let Err(e) = wr.write_all(&buf).await {
            tracing::debug!(client = client.id, error = %e, "write failed");
            client.request_close("Connection reset by peer");
            client.outbox.close_with(b"");
            break;
        }
        // While busy the two buffers swap back and forth without reallocating.
        buf.clear();
    }
    let _ = wr.shutdown().await;
}
