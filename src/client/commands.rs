//! What the user can type: the seed's words (`LIST`, `LEAVE`, `LOGOUT`) and
//! slash commands. Parsing is pure so it is tested without a server.

/// One parsed line of user input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Plain text: a message to the current room.
    Say(String),
    /// `LIST`: the people in the current room with their addresses.
    List,
    /// `LEAVE`: leave the current room, back to the room list.
    Leave,
    /// `LOGOUT` (and `/quit`): leave everything and exit.
    Logout(Option<String>),
    /// `/join ROOM`: join or create a room.
    Join(String),
    /// `/part [ROOM] [reason]`: leave a room (the current one by default).
    Part(Option<String>),
    /// `/msg NICK|ROOM text`: a private message, or to another room.
    Msg {
        /// Nick or room.
        target: String,
        /// What to say.
        text: String,
    },
    /// `/me text`: an action.
    Me(String),
    /// `/nick NAME`: change nick.
    Nick(String),
    /// `/who [ROOM|NICK]`: who is there, with addresses.
    Who(Option<String>),
    /// `/rooms`: the room list with member counts.
    Rooms,
    /// `/help`.
    Help,
    /// `/quote LINE`: a raw IRC line, for the curious.
    Quote(String),
    /// A slash command that needs arguments it did not get.
    Usage(&'static str),
    /// A slash command we do not know.
    Unknown(String),
}

/// The `/help` text, one entry a line.
pub const HELP: &[&str] = &[
    "Commands:",
    "  LIST                  people in this room and their addresses",
    "  LEAVE                 leave this room, back to the room list",
    "  LOGOUT                leave everything and exit",
    "  /join ROOM            join a room (created if new)",
    "  /part [ROOM]          leave a room (this one by default)",
    "  /msg NICK|ROOM TEXT   private message, or to another room",
    "  /me TEXT              an action: * you TEXT",
    "  /nick NAME            change your nick",
    "  /who [ROOM|NICK]      who is there, with addresses",
    "  /rooms                list rooms with member counts",
    "  /quote LINE           send a raw IRC line",
    "  /help                 this help",
    "  /quit [MESSAGE]       same as LOGOUT",
    "Anything else is a message to the current room (start with // to send a /).",
];

/// Parses one line of input typed in a room.
pub fn parse(line: &str) -> Command {
    let trimmed = line.trim();
    match trimmed {
        "LIST" => return Command::List,
        "LEAVE" => return Command::Leave,
        "LOGOUT" => return Command::Logout(None),
        _ => {}
    }
    if let Some(text) = line.strip_prefix("//") {
        return Command::Say(format!("/{text}"));
    }
    let Some(body) = trimmed.strip_prefix('/') else {
        return Command::Say(line.to_string());
    };
    let (name, args) = body.split_once(' ').unwrap_or((body, ""));
    let args = args.trim();
    let first = args.split_whitespace().next().map(str::to_string);
    match name.to_ascii_lowercase().as_str() {
        // The whole rest: `/join bad room name` must be refused, not join `bad`.
        "join" | "j" if !args.is_empty() => Command::Join(args.to_string()),
        "join" | "j" => Command::Usage("/join ROOM"),
        "part" | "leave" => Command::Part(first),
        "msg" | "query" => match args.split_once(' ') {
            Some((target, text)) if !text.trim().is_empty() => {
                Command::Msg { target: target.to_string(), text: text.trim_start().to_string() }
            }
            _ => Command::Usage("/msg NICK|ROOM TEXT"),
        },
        "me" if !args.is_empty() => Command::Me(args.to_string()),
        "me" => Command::Usage("/me TEXT"),
        "nick" => first.map_or(Command::Usage("/nick NAME"), Command::Nick),
        "who" | "names" | "list" => Command::Who(first),
        "rooms" => Command::Rooms,
        "help" | "?" => Command::Help,
        "quote" | "raw" if !args.is_empty() => Command::Quote(args.to_string()),
        "quote" | "raw" => Command::Usage("/quote LINE"),
        "quit" | "exit" | "logout" => Command::Logout(Some(args.to_string()).filter(|a| !a.is_empty())),
        _ => Command::Unknown(name.to_string()),
    }
}

/// Turns what the user typed as a room name (`room1` or `#room1`) into the
/// channel name, or says why it cannot be one.
pub fn room_channel(name: &str) -> Result<String, String> {
    let name = name.trim();
    let channel = if name.starts_with(['#', '&']) { name.to_string() } else { format!("#{name}") };
    if channel.len() < 2 {
        return Err("A room needs a name.".to_string());
    }
    if channel.len() > 50 {
        return Err("Room names are at most 49 characters.".to_string());
    }
    if channel.chars().any(|c| c == ' ' || c == ',' || c.is_control()) {
        return Err("Room names cannot contain spaces, commas or control characters.".to_string());
    }
    Ok(channel)
}

/// How a channel is shown to the user: `#room1` as `room1`.
pub fn room_label(channel: &str) -> &str {
    channel.strip_prefix('#').unwrap_or(channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_words_are_exact() {
        assert_eq!(parse("LIST"), Command::List);
        assert_eq!(parse(" LEAVE "), Command::Leave);
        assert_eq!(parse("LOGOUT"), Command::Logout(None));
        assert_eq!(parse("list of things"), Command::Say("list of things".into()));
    }

    #[test]
    fn slash_commands() {
        assert_eq!(parse("/join room2"), Command::Join("room2".into()));
        assert_eq!(parse("/join bad room name"), Command::Join("bad room name".into()));
        assert!(room_channel("bad room name").unwrap_err().contains("cannot contain spaces"));
        assert_eq!(parse("/join"), Command::Usage("/join ROOM"));
        assert_eq!(parse("/msg bob hi there"), Command::Msg { target: "bob".into(), text: "hi there".into() });
        assert_eq!(parse("/me waves"), Command::Me("waves".into()));
        assert_eq!(parse("/quit gone"), Command::Logout(Some("gone".into())));
        assert_eq!(parse("//etc"), Command::Say("/etc".into()));
        assert_eq!(parse("/frob"), Command::Unknown("frob".into()));
        assert_eq!(parse("/"), Command::Unknown(String::new()));
    }

    #[test]
    fn room_names() {
        assert_eq!(room_channel("room1").unwrap(), "#room1");
        assert_eq!(room_channel("#room1").unwrap(), "#room1");
        assert!(room_channel("a b").is_err());
        assert!(room_channel("#").is_err());
        assert_eq!(room_label("#room1"), "room1");
    }
}
