//! Line framing with hard limits, applied before anything is allocated per line.
//!
//! A client line is `[@tags SP] body CRLF`. The IRCv3 message-tags spec allows the
//! tag section (the `@`, the tags and the separating space) up to 4096 bytes and the
//! body up to 512 bytes including the CRLF. A buffer that grows past the absolute
//! ceiling without a newline is discarded up to the next newline, so a client that
//! never sends `\n` cannot make the server grow memory.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Maximum size of the tag section, including the leading `@` and the trailing space.
pub const MAX_TAG_SECTION: usize = 4096;
/// Maximum size of the message body, including the CRLF.
pub const MAX_BODY: usize = 512;
/// Absolute ceiling for one line, tags and body together.
pub const MAX_LINE: usize = MAX_TAG_SECTION + MAX_BODY - 1 + 2;

/// One framed input line, or the reason it was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A valid UTF-8 line without its line ending.
    Line(String),
    /// The line was over the limits; it was dropped (answer `417`).
    TooLong,
    /// The line was not valid UTF-8; the lossy text is kept to name the command in the reply.
    InvalidUtf8(String),
    /// The line contained a NUL byte, or a CR before its end; it was dropped. A CR
    /// inside a line would reach other clients, and those that end lines at a bare
    /// CR would read the rest as a separate line the sender forged.
    Nul,
}

/// Decodes client input into [`Frame`]s and encodes raw bytes back out.
#[derive(Debug, Default)]
pub struct LineCodec {
    /// How far the buffer has been searched for a newline already.
    scanned: usize,
    /// Set while dropping the rest of an overlong line.
    discarding: bool,
}

impl LineCodec {
    /// A codec with the standard limits.
    pub fn new() -> Self {
        Self::default()
    }

    fn classify(line: &[u8]) -> Frame {
        let tag_len = if line.first() == Some(&b'@') {
            match line.iter().position(|&b| b == b' ') {
                Some(i) => i + 1,
                None => line.len(),
            }
        } else {
            0
        };
        if tag_len > MAX_TAG_SECTION || line.len() - tag_len > MAX_BODY - 2 {
            return Frame::TooLong;
        }
        if line.iter().any(|&b| b == 0 || b == b'\r') {
            return Frame::Nul;
        }
        match std::str::from_utf8(line) {
            Ok(s) => Frame::Line(s.to_owned()),
            Err(_) => Frame::InvalidUtf8(String::from_utf8_lossy(line).into_owned()),
        }
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        loop {
            let newline = buf[self.scanned..].iter().position(|&b| b == b'\n');
            let Some(rel) = newline else {
                if self.discarding {
                    buf.clear();
                    self.scanned = 0;
                    return Ok(None);
                }
                if buf.len() > MAX_LINE {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Some(Frame::TooLong));
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            let end = self.scanned + rel;
            self.scanned = 0;
            if self.discarding {
                buf.advance(end + 1);
                self.discarding = false;
                continue;
            }
            let mut line = &buf[..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            // An overlong blank line is refused like any other, as it is when it
            // arrives in several reads and hits the ceiling before its newline.
            if line.len() <= MAX_LINE && line.iter().all(|b| *b == b' ' || *b == b'\r') {
                buf.advance(end + 1);
                continue;
            }
            let frame = Self::classify(line);
            buf.advance(end + 1);
            return Ok(Some(frame));
        }
    }
}

impl Encoder<&[u8]> for LineCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: &[u8], dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(item);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Vec<Frame> {
        let mut codec = LineCodec::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn crlf_and_bare_lf() {
        assert_eq!(
            decode_all(b"NICK a\r\nUSER a 0 * :b\n"),
            vec![Frame::Line("NICK a".into()), Frame::Line("USER a 0 * :b".into())]
        );
    }

    #[test]
    fn blank_lines_skipped() {
        assert_eq!(decode_all(b"\r\n\n  \r\nPING x\r\n"), vec![Frame::Line("PING x".into())]);
    }

    #[test]
    fn body_limit_is_510_without_crlf() {
        let ok = format!("PING {}\r\n", "x".repeat(505));
        assert_eq!(decode_all(ok.as_bytes()).len(), 1);
        assert!(matches!(decode_all(ok.as_bytes())[0], Frame::Line(_)));
        let long = format!("PING {}\r\nPING y\r\n", "x".repeat(506));
        assert_eq!(decode_all(long.as_bytes()), vec![Frame::TooLong, Frame::Line("PING y".into())]);
    }

    #[test]
    fn tag_section_limit() {
        let ok = format!("@+a={} TAGMSG #t\r\n", "x".repeat(4096 - 5));
        assert!(matches!(decode_all(ok.as_bytes())[0], Frame::Line(_)));
        let long = format!("@+a={} TAGMSG #t\r\n", "x".repeat(4096 - 4));
        assert_eq!(decode_all(long.as_bytes()), vec![Frame::TooLong]);
    }

    #[test]
    fn endless_line_is_discarded_without_growing() {
        let mut codec = LineCodec::new();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for _ in 0..100 {
            buf.extend_from_slice(&[b'a'; 4096]);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                frames.push(f);
            }
            assert!(buf.len() <= MAX_LINE + 4096);
        }
        buf.extend_from_slice(b"aaa\r\nPING ok\r\n");
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            frames.push(f);
        }
        assert_eq!(frames, vec![Frame::TooLong, Frame::Line("PING ok".into())]);
    }

    #[test]
    fn bad_utf8_and_nul_are_per_line() {
        assert_eq!(
            decode_all(b"PRIVMSG a :\xff\r\nPRIVMSG a :\0x\r\nPING z\r\n"),
            vec![Frame::InvalidUtf8("PRIVMSG a :\u{fffd}".into()), Frame::Nul, Frame::Line("PING z".into())]
        );
    }

    #[test]
    fn bare_cr_inside_a_line_is_refused() {
        // found by fuzz/commands: the CR was echoed in a 479 and relayed in PRIVMSG text
        assert_eq!(
            decode_all(b"PRIVMSG #c :hi\r:evil!u@h PRIVMSG #c :forged\r\nJOIN #a\rb\r\nPING z\r\n"),
            vec![Frame::Nul, Frame::Nul, Frame::Line("PING z".into())]
        );
        assert_eq!(decode_all(b"PING a\r\r\n"), vec![Frame::Nul]);
    }

    #[test]
    fn overlong_blank_line_does_not_depend_on_reads() {
        // in one read it was skipped as blank, in two it was 417
        let mut input = vec![b' '; MAX_LINE + 1];
        input.extend_from_slice(b"\r\nPING z\r\n");
        let expected = vec![Frame::TooLong, Frame::Line("PING z".into())];
        assert_eq!(decode_all(&input), expected);
        let mut codec = LineCodec::new();
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for part in input.chunks(MAX_LINE + 1) {
            buf.extend_from_slice(part);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames, expected);
    }

    #[test]
    fn split_across_reads() {
        let mut codec = LineCodec::new();
        let mut buf = BytesMut::new();
        for b in b"PING abc\r\n" {
            assert!(codec.decode(&mut buf).unwrap().is_none());
            buf.extend_from_slice(&[*b]);
        }
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(Frame::Line("PING abc".into())));
    }
}
