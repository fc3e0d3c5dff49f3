//! One client connection: a growable read buffer scanned for lines in place,
//! a write buffer flushed in one call, and the slow-path helpers used during
//! setup (registration, joining).

use super::line::{eq_ignore_case, find_byte, Line};
use bytes::{Buf, BytesMut};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Longest line accepted from the server before the connection is treated
/// as broken (bounds memory on bad input).
const MAX_LINE: usize = 64 * 1024;

/// A buffered client connection to the server under test.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    read_size: usize,
    wbuf: Vec<u8>,
    /// The nick the server accepted (set by [`Conn::register`]).
    pub nick: String,
}

/// Errors during setup, with enough context for the human summary.
pub fn err(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

impl Conn {
    /// Connects with `TCP_NODELAY`; `read_size` is the minimum free space
    /// reserved before each read (large for receivers, small for idle holds).
    pub async fn connect(addr: SocketAddr, read_size: usize) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, rbuf: BytesMut::new(), read_size: read_size.max(512), wbuf: Vec::new(), nick: String::new() })
    }

    /// Connects from the loopback address `src` (another "IP" for the
    /// server's per-address limits), otherwise as [`Conn::connect`].
    pub async fn connect_from(addr: SocketAddr, src: std::net::IpAddr, read_size: usize) -> io::Result<Conn> {
        let socket = if src.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.bind(SocketAddr::new(src, 0))?;
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, rbuf: BytesMut::new(), read_size: read_size.max(512), wbuf: Vec::new(), nick: String::new() })
    }

    /// Appends raw bytes (one or more CR LF terminated lines) to the output.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// The output buffer, for callers that format lines directly into it.
    pub fn wbuf(&mut self) -> &mut Vec<u8> {
        &mut self.wbuf
    }

    /// Writes everything queued in one call.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Reads once into the buffer (cancel-safe). Fails on EOF or on a line
    /// longer than [`MAX_LINE`].
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.rbuf.len() > MAX_LINE {
            return Err(err("server line too long"));
        }
        self.rbuf.reserve(self.read_size);
        let n = self.stream.read_buf(&mut self.rbuf).await?;
        if n == 0 {
            return Err(err("connection closed by server"));
        }
        Ok(n)
    }

    /// Calls `f` on every complete line in the buffer (CR LF included) and
    /// drops them. `f` gets the output buffer to queue replies such as PONG.
    pub fn drain_lines(&mut self, mut f: impl FnMut(&[u8], &mut Vec<u8>)) {
        let buf = &self.rbuf[..];
        let mut start = 0;
        while let Some(pos) = find_byte(&buf[start..], b'\n') {
            let end = start + pos + 1;
            f(&buf[start..end], &mut self.wbuf);
            start = end;
        }
        self.rbuf.advance(start);
        if self.rbuf.is_empty() && self.rbuf.capacity() > 4 * self.read_size {
            // Give back memory a burst made us grab (idle clients stay small).
            self.rbuf = BytesMut::new();
        }
    }

    /// Waits for the next line (slow path, owned) until `deadline`,
    /// answering PING on the way.
    pub async fn line(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        loop {
            if let Some(pos) = self.rbuf.iter().position(|&b| b == b'\n') {
                let l = self.rbuf.split_to(pos + 1).to_vec();
                if l.starts_with(b"PING") {
                    pong(&l, &mut self.wbuf);
                    self.flush().await?;
                    continue;
                }
                return Ok(l);
            }
            timeout_at(deadline, self.fill()).await.map_err(|_| err("timed out waiting for the server"))??;
        }
    }

    /// Registers with NICK/USER, retrying other nicks on 433/432, waits for
    /// 001 and then for the end of the MOTD (376 or 422).
    pub async fn register(&mut self, nick: &str, deadline: Instant) -> io::Result<()> {
        let mut tries = 0u32;
        let mut cur = nick.to_string();
        self.queue(format!("NICK {cur}\r\nUSER bench 0 * :banter-bench\r\n").as_bytes());
        self.flush().await?;
        let mut welcomed = false;
        loop {
            let l = self.line(deadline).await?;
            let Some(m) = Line::parse(&l) else { continue };
            match m.command {
                b"001" => {
                    welcomed = true;
                    let n = m.param(0).unwrap_or(cur.as_bytes());
                    self.nick = String::from_utf8_lossy(n).into_owned();
                }
                b"376" | b"422" if welcomed => return Ok(()),
                b"433" | b"432" | b"436" if !welcomed => {
                    tries += 1;
                    if tries > 20 {
                        return Err(err("no free nick after 20 tries"));
                    }
                    cur = alt_nick(nick, tries);
                    self.queue(format!("NICK {cur}\r\n").as_bytes());
                    self.flush().await?;
                }
                b"ERROR" => return Err(err(format!("server: {}", lossy(&l)))),
                b"465" | b"463" | b"464" => {
                    return Err(err(format!("refused: {}", lossy(&l))));
                }
                _ => {}
            }
        }
    }

    /// Joins `chan` and waits for its end of NAMES (366).
    pub async fn join(&mut self, chan: &str, deadline: Instant) -> io::Result<()> {
        self.queue(format!("JOIN {chan}\r\n").as_bytes());
        self.flush().await?;
        loop {
            let l = self.line(deadline).await?;
            let Some(m) = Line::parse(&l) else { continue };
            match m.command {
                b"366" if m.param(1).is_some_and(|c| eq_ignore_case(c, chan.as_bytes())) => return Ok(()),
                b"403" | b"405" | b"471" | b"473" | b"474" | b"475" | b"477" | b"479" => {
                    return Err(err(format!("JOIN {chan} refused: {}", lossy(&l))));
                }
                b"ERROR" => return Err(err(format!("server: {}", lossy(&l)))),
                _ => {}
            }
        }
    }
}

/// Queues the PONG answering `ping` (a full `PING ...` line).
pub fn pong(ping: &[u8], out: &mut Vec<u8>) {
    let arg = super::line::trim_crlf(ping.get(4..).unwrap_or(b""));
    out.extend_from_slice(b"PONG");
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// The `tries`th alternative to `nick`, kept within 12 characters.
pub fn alt_nick(nick: &str, tries: u32) -> String {
    let suffix = format!("_{tries}");
    let keep = 12usize.saturating_sub(suffix.len()).min(nick.len());
    format!("{}{}", &nick[..keep], suffix)
}

fn lossy(l: &[u8]) -> String {
    String::from_utf8_lossy(super::line::trim_crlf(l)).into_owned()
}

/// Raises this process's open-file limit to its hard limit so that
/// thousands of client sockets fit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 everywhere
    {
        lim.rlim_cur as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alt_nicks_stay_short() {
        assert_eq!(alt_nick("babc123456789", 3), "babc123456_3");
        assert_eq!(alt_nick("b1", 12), "b1_12");
    }

    #[test]
    fn pong_echoes_argument() {
        let mut out = Vec::new();
        pong(b"PING :abc\r\n", &mut out);
        assert_eq!(out, b"PONG :abc\r\n");
    }
}
