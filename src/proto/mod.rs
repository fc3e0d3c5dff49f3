//! The wire protocol: framing ([`codec`]), parsing and serializing ([`message`]),
//! and the numeric replies, each declared once ([`numeric`]).

pub mod codec;
pub mod line;
pub mod message;
pub mod msgid;
pub mod names;
pub mod numeric;
pub mod tags;
pub mod time;

pub use codec::{Frame, LineCodec};
pub use message::{Message, OwnedMessage};
