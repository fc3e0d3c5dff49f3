//! The read side of a connection: plain TCP (waits for readiness first, so an
//! idle client holds no buffer) or TLS.

use bytes::BytesMut;
use std::io;
use tokio::io::{AsyncReadExt, ReadHalf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How much to read at a time.
pub const READ_CHUNK: usize = 4096;

/// A connection's read half.
pub enum Input {
    /// Plain TCP.
    Tcp(OwnedReadHalf),
    /// TLS over TCP.
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

impl Input {
    /// Waits for data and appends it to `buf`; `Ok(0)` at end of stream. Cancel-safe.
    pub async fn read(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Input::Tcp(rd) => loop {
                rd.readable().await?;
                buf.reserve(READ_CHUNK);
                match rd.try_read_buf(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            },
            Input::Tls(rd) => {
                buf.reserve(READ_CHUNK);
                rd.read_buf(buf).await
            }
        }
    }

    /// Appends whatever is already waiting, without blocking, up to `cap` bytes in
    /// `buf` (used to measure a flood's backlog; TLS reads nothing here).
    pub fn read_waiting(&mut self, buf: &mut BytesMut, cap: usize) {
        if let Input::Tcp(rd) = self {
            while buf.len() < cap {
                buf.reserve(READ_CHUNK);
                match rd.try_read_buf(buf) {
                    Ok(n) if n > 0 => continue,
                    _ => break,
                }
            }
        }
    }
}
