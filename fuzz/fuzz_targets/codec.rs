//! Framing: arbitrary bytes, delivered in arbitrary reads, through `LineCodec`.
//!
//! Invariants checked:
//! - decoding never panics or errors;
//! - every `Frame::Line` is within the limits (tag section ≤ 4096, body ≤ 510
//!   bytes) and holds no CR, LF or NUL and is not blank;
//! - whenever the decoder asks for more input, the buffer is at most `MAX_LINE`
//!   bytes, so a client without newlines cannot grow memory;
//! - the frames do not depend on how the bytes were split into reads: the same
//!   bytes fed in one read give the same frames.
#![no_main]

use arbitrary::Arbitrary;
use banter::proto::codec::{MAX_BODY, MAX_LINE, MAX_TAG_SECTION};
use banter::proto::{Frame, LineCodec};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// One read from the socket.
#[derive(Arbitrary, Debug)]
enum Read {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `len` copies of one byte, to reach the limits with small inputs.
    Fill { byte: u8, len: u16 },
}

impl Read {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Read::Bytes(b) => b.clone(),
            Read::Fill { byte, len } => vec![*byte; usize::from(*len) % 12_000],
        }
    }
}

fn check_frame(frame: &Frame) {
    match frame {
        Frame::Line(line) => {
            let bytes = line.as_bytes();
            assert!(!bytes.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)), "control byte in {line:?}");
            assert!(!bytes.iter().all(|b| *b == b' '), "blank line yielded");
            let tag_len = if line.starts_with('@') { line.find(' ').map_or(line.len(), |i| i + 1) } else { 0 };
            assert!(tag_len <= MAX_TAG_SECTION, "tag section of {tag_len} bytes");
            assert!(line.len() - tag_len <= MAX_BODY - 2, "body of {} bytes", line.len() - tag_len);
        }
        Frame::InvalidUtf8(lossy) => assert!(lossy.contains('\u{fffd}')),
        Frame::TooLong | Frame::Nul => {}
    }
}

/// Feeds the reads one by one and returns every frame, checking the buffer bound.
fn decode(reads: &[Vec<u8>]) -> Vec<Frame> {
    let mut codec = LineCodec::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for read in reads {
        buf.extend_from_slice(read);
        while let Some(frame) = codec.decode(&mut buf).expect("decode never errors") {
            check_frame(&frame);
            frames.push(frame);
        }
        assert!(buf.len() <= MAX_LINE, "buffer holds {} bytes after a read", buf.len());
    }
    frames
}

fuzz_target!(|reads: Vec<Read>| {
    let reads: Vec<Vec<u8>> = reads.iter().map(Read::bytes).collect();
    let chunked = decode(&reads);
    let whole = decode(&[reads.concat()]);
    assert_eq!(chunked, whole, "frames depend on read boundaries");
});
