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
            client.outbox.wait().await;
            continue;
        }
        if let Err(e) = wr.write_all(&buf).await {
            tracing::debug!(client = client.id, error = %e, "write failed");
            client.request_close("Connection reset by peer");
            client.outbox.close_with(b"");
            break;
        }
        // Release the memory: an idle client holds no buffer.
        buf = Vec::new();
    }
    let _ = wr.shutdown().await;
}
