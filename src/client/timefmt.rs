//! `[HH:MM:SS]` timestamps: from IRCv3 `server-time` when present, else now.

use chrono::{DateTime, Local};

use super::irc::Message;

/// The local `HH:MM:SS` of a message: its `@time=` tag if valid, else the
/// current local time.
pub fn stamp(msg: &Message) -> String {
    msg.tags
        .get("time")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Local).format("%H:%M:%S").to_string())
        .unwrap_or_else(now)
}

/// The current local time as `HH:MM:SS`.
pub fn now() -> String {
    Local::now().format("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_server_time_or_falls_back() {
        let tagged = Message::parse("@time=2026-01-01T10:00:00.000Z :a PRIVMSG #r :x").unwrap();
        let expected = DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Local)
            .format("%H:%M:%S")
            .to_string();
        assert_eq!(stamp(&tagged), expected);
        let bad = Message::parse("@time=yesterday :a PRIVMSG #r :x").unwrap();
        assert_eq!(stamp(&bad).len(), 8);
    }
}
