//! What the app does with a line the user typed, phase by phase.

use super::{Action, App, Credentials, Mode, Phase, Query};
use crate::client::commands::{self, Command, HELP};
use crate::client::event::{Input, LineKind};
use crate::client::irc::{self, build};
use crate::client::timefmt;

/// Room for `PRIVMSG #chan :` and our prefix within 512 bytes.
const MAX_TEXT: usize = 400;

impl App {
    /// Handles input from the front end.
    pub fn on_input(&mut self, input: Input) {
        match input {
            Input::Line(_) | Input::Eof if self.busy() => self.queue.push_back(input),
            Input::Line(line) => self.handle_line(line),
            Input::Quit | Input::Eof => self.logout(None),
        }
        self.settle();
    }

    /// Handles one typed line in the current phase.
    pub(super) fn handle_line(&mut self, line: String) {
        match self.phase.clone() {
            Phase::Menu => self.menu_choice(&line),
            Phase::Name(mode) => self.name_entered(mode, &line),
            Phase::Password(mode, name) => self.password_entered(mode, name, line),
            Phase::Confirm(name, first) => self.password_confirmed(name, first, line),
            Phase::Choosing => self.room_chosen(&line),
            Phase::Chat => self.chat_line(&line),
            Phase::Reconnecting => match commands::parse(&line) {
                Command::Logout(reason) => self.logout(reason),
                _ => self.error("Not connected (reconnecting); nothing was sent. LOGOUT quits."),
            },
            _ => self.queue.push_front(Input::Line(line)),
        }
    }

    /// Shows the register / log in / quit menu.
    pub(super) fn show_menu(&mut self) {
        self.phase = Phase::Menu;
        self.text(format!("Welcome to banter ({})", self.server));
        self.text("  1) Register a new account");
        self.text("  2) Log in");
        self.text("  3) Quit");
        self.prompt("Choose 1, 2 or 3:", false);
    }

    fn menu_choice(&mut self, line: &str) {
        let mode = match line.trim().to_ascii_lowercase().as_str() {
            "1" | "r" | "register" => Mode::Register,
            "2" | "l" | "login" | "log in" => Mode::Login,
            "3" | "q" | "quit" | "logout" => return self.logout(None),
            "" => return self.prompt("Choose 1, 2 or 3:", false),
            _ => {
                self.error("Please type 1 (register), 2 (log in) or 3 (quit).");
                return self.prompt("Choose 1, 2 or 3:", false);
            }
        };
        match self.preset_user.clone() {
            Some(name) if valid_name(&name).is_ok() => self.ask_password(mode, name),
            _ => self.ask_name(mode),
        }
    }

    fn ask_name(&mut self, mode: Mode) {
        self.phase = Phase::Name(mode);
        self.prompt("Name:", false);
    }

    fn ask_password(&mut self, mode: Mode, name: String) {
        self.phase = Phase::Password(mode, name);
        self.prompt("Password:", true);
    }

    fn name_entered(&mut self, mode: Mode, line: &str) {
        let name = line.trim();
        match valid_name(name) {
            Ok(()) => self.ask_password(mode, name.to_string()),
            Err(why) => {
                self.error(why);
                self.ask_name(mode);
            }
        }
    }

    fn password_entered(&mut self, mode: Mode, name: String, password: String) {
        if password.is_empty() {
            self.error("The password cannot be empty.");
            return self.ask_password(mode, name);
        }
        if mode == Mode::Register {
            // A new password is typed blind: a typo would lock the account away.
            self.phase = Phase::Confirm(name, password);
            return self.prompt("Password again:", true);
        }
        self.creds = Some(Credentials { name, password });
        self.begin_login(mode);
    }

    fn password_confirmed(&mut self, name: String, first: String, again: String) {
        if again != first {
            self.error("The two passwords differ; type it again.");
            return self.ask_password(Mode::Register, name);
        }
        self.creds = Some(Credentials { name, password: first });
        self.begin_login(Mode::Register);
    }

    /// Asks for the room list; the prompt follows when it arrives.
    pub(super) fn list_rooms(&mut self, then_choose: bool) {
        if then_choose {
            self.phase = Phase::Listing;
        }
        self.room_list = Some(Vec::new());
        self.send("LIST".to_string());
    }

    /// Shows the "Join a Chat Room or Create New" prompt.
    pub(super) fn ask_room(&mut self) {
        self.phase = Phase::Choosing;
        self.prompt("Join a Chat Room or Create New:", false);
    }

    fn room_chosen(&mut self, line: &str) {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return self.ask_room();
        }
        if trimmed == "LIST" {
            return self.list_rooms(true);
        }
        if trimmed.starts_with('/') || trimmed == "LOGOUT" || trimmed == "LEAVE" {
            return match commands::parse(trimmed) {
                Command::Join(room) => self.join(&room),
                Command::Logout(reason) => self.logout(reason),
                Command::Rooms => self.list_rooms(true),
                Command::Help => {
                    self.text("Type a room name to join it (it is created if new), LIST to");
                    self.text("refresh the room list, or LOGOUT to quit. In a room:");
                    self.help();
                    self.ask_room();
                }
                Command::Leave => self.ask_room(),
                other => {
                    self.command(other);
                    if self.phase == Phase::Choosing {
                        self.ask_room();
                    }
                }
            };
        }
        self.join(trimmed);
    }

    /// Joins (or creates) a room and waits for the server to confirm.
    fn join(&mut self, room: &str) {
        match commands::room_channel(room) {
            Ok(channel) => {
                let key = irc::fold(&channel);
                if self.rooms.contains_key(&key) {
                    // Already there (servers ignore a second JOIN): switch to it.
                    self.current = Some(key);
                    self.phase = Phase::Chat;
                    let label = commands::room_label(&channel).to_string();
                    return self.info(format!("Now talking in room [{label}]"));
                }
                self.send(build("JOIN", &[&channel]));
                self.phase = Phase::Joining(key);
            }
            Err(why) => {
                self.error(why);
                if matches!(self.phase, Phase::Choosing) {
                    self.ask_room();
                }
            }
        }
    }

    fn chat_line(&mut self, line: &str) {
        let command = commands::parse(line);
        self.command(command);
    }

    /// Runs one parsed command in a room.
    fn command(&mut self, command: Command) {
        match command {
            Command::Say(text) if text.trim().is_empty() => {}
            Command::Say(text) => match self.current_channel() {
                Some(channel) => self.say(&channel, &text, false),
                None => self.error("You are not in a room: /join ROOM first."),
            },
            Command::Me(text) => match self.current_channel() {
                Some(channel) => self.say(&channel, &text, true),
                None => self.error("You are not in a room: /join ROOM first."),
            },
            Command::Msg { target, text } => self.say(&target, &text, false),
            Command::List => self.list_members(),
            Command::Leave => self.leave(),
            Command::Logout(reason) => self.logout(reason),
            Command::Join(room) => self.join(&room),
            Command::Part(room) => self.part(room),
            Command::Nick(nick) => match valid_name(&nick) {
                Ok(()) => self.send(build("NICK", &[&nick])),
                Err(why) => self.error(why),
            },
            Command::Who(target) => {
                let target = target.or_else(|| self.current_channel());
                match target {
                    Some(target) => {
                        let target = match commands::room_channel(&target) {
                            Ok(channel) if self.rooms.contains_key(&irc::fold(&channel)) => channel,
                            _ => target,
                        };
                        self.queries.push_back(Query::Who(target.clone(), Vec::new()));
                        self.send(build("WHO", &[&target]));
                    }
                    None => self.error("Usage: /who ROOM|NICK"),
                }
            }
            Command::Rooms => self.list_rooms(false),
            Command::Help => self.help(),
            Command::Quote(raw) => self.send(raw.replace(['\r', '\n'], " ")),
            Command::Usage(usage) => self.error(format!("Usage: {usage}")),
            Command::Unknown(name) => self.error(format!("Unknown command /{name}; /help lists the commands.")),
        }
    }

    fn help(&mut self) {
        for line in HELP {
            self.text(*line);
        }
    }

    /// The current room's channel name, as the server spells it.
    fn current_channel(&self) -> Option<String> {
        let key = self.current.as_ref()?;
        self.rooms.get(key).map(|room| room.name.clone())
    }

    /// Sends a message (or action) to a room or nick, showing it unless the
    /// server will echo it back.
    fn say(&mut self, target: &str, text: &str, action: bool) {
        let echo = self.caps.acked.contains("echo-message");
        let to_me = self.is_me(target);
        for piece in irc::split_text(text, MAX_TEXT) {
            let body = if action { format!("\u{1}ACTION {piece}\u{1}") } else { piece.clone() };
            self.send(build("PRIVMSG", &[target, &body]));
            // The server shows it to us: as the echo, as the recipient (a
            // message to ourselves), or both (then one copy is skipped).
            if echo || to_me {
                self.conn.echoes_due += u32::from(echo) + u32::from(to_me);
                self.conn.self_copies_to_skip += u32::from(echo && to_me);
                continue;
            }
            let me = self.me().to_string();
            let time = Some(timefmt::now());
            if !irc::is_channel(target) {
                let text =
                    if action { format!("-> *{target}* * {me} {piece}") } else { format!("-> *{target}* {piece}") };
                self.show(time, LineKind::Private { nick: target.to_string() }, text);
            } else {
                let (kind, shown) = self.format_message(target, &me, &piece, action);
                self.show(time, kind, shown);
            }
        }
    }

    /// `LIST`: the people in the current room with their addresses.
    fn list_members(&mut self) {
        let Some(channel) = self.current_channel() else {
            return self.error("You are not in a room: LIST shows the people in a room.");
        };
        if self.caps.acked.contains("userhost-in-names") {
            self.queries.push_back(Query::Names(irc::fold(&channel)));
            self.send(build("NAMES", &[&channel]));
        } else {
            self.queries.push_back(Query::Who(channel.clone(), Vec::new()));
            self.send(build("WHO", &[&channel]));
        }
    }

    /// `LEAVE`: part the current room and go back to the room list.
    fn leave(&mut self) {
        match self.current_channel() {
            Some(channel) => {
                self.send(build("PART", &[&channel, "Leaving"]));
                self.phase = Phase::Leaving(irc::fold(&channel));
            }
            None => self.list_rooms(true),
        }
    }

    /// `/part [room]`.
    fn part(&mut self, room: Option<String>) {
        let channel = match room {
            Some(room) => commands::room_channel(&room).ok(),
            None => self.current_channel(),
        };
        match channel {
            Some(channel) => self.send(build("PART", &[&channel])),
            None => self.error("Usage: /part [ROOM]"),
        }
    }

    /// `LOGOUT`, `/quit`, menu choice 3, end of input: say goodbye and exit.
    pub(super) fn logout(&mut self, reason: Option<String>) {
        if self.phase == Phase::Quitting {
            return;
        }
        let reason = reason.unwrap_or_else(|| "Logged out".to_string());
        match &self.nick {
            Some(nick) => {
                let bye = format!("Bye, {nick}");
                self.text(bye);
            }
            None => self.text("Bye"),
        }
        self.phase = Phase::Quitting;
        self.queue.clear();
        if self.conn.open {
            self.send(build("QUIT", &[&reason]));
        }
        self.out.push(Action::QuitSoon);
    }
}

/// Checks an account name / nick: what IRC accepts, no surprises.
pub(super) fn valid_name(name: &str) -> Result<(), String> {
    const SPECIAL: &str = "-_[]\\^{}|`";
    if name.is_empty() {
        return Err("The name cannot be empty.".to_string());
    }
    if name.chars().count() > 30 {
        return Err("The name is too long (at most 30 characters).".to_string());
    }
    let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || "_[]\\^{}|`".contains(c));
    let rest_ok = name.chars().all(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(c));
    if !first_ok || !rest_ok {
        return Err(format!("\"{name}\" is not a valid name: use letters, digits and - _ (starting with a letter)."));
    }
    Ok(())
}
