//! Server lines once logged in: joins, leaves, messages, replies, errors.

use super::{App, Phase, Room};
use crate::client::commands::room_label;
use crate::client::event::LineKind;
use crate::client::irc::{build, fold, is_channel, Message};
use crate::client::timefmt;

impl App {
    /// Handles one line from the server.
    pub fn on_message(&mut self, msg: &Message) {
        self.heard_from_server();
        self.dispatch(msg);
        self.settle();
    }

    fn dispatch(&mut self, msg: &Message) {
        match msg.command.as_str() {
            "PING" => {
                let params: Vec<&str> = msg.params.iter().map(String::as_str).collect();
                return self.send(build("PONG", &params));
            }
            "ERROR" => {
                self.conn.error = Some(msg.trailing().to_string());
                return;
            }
            "CAP" => return self.on_cap(msg),
            // A server without capability negotiation.
            "421" if msg.param(1).eq_ignore_ascii_case("CAP") => return self.caps_done(),
            _ => {}
        }
        if let Phase::Auth(step) = self.phase {
            if self.on_auth_message(step, msg) {
                return;
            }
        }
        if !self.conn.registered || self.phase == Phase::Quitting {
            return;
        }
        match msg.command.as_str() {
            "JOIN" => self.on_join(msg),
            "PART" => self.on_part(msg),
            "QUIT" => self.on_quit(msg),
            "KICK" => self.on_kick(msg),
            "NICK" => self.on_nick(msg),
            "PRIVMSG" | "NOTICE" => self.on_privmsg(msg),
            "TOPIC" => {
                self.info(format!("{} set the topic of [{}]: {}", msg.nick(), room_label(msg.param(0)), msg.trailing()))
            }
            "332" => self.info(format!("Topic of [{}]: {}", room_label(msg.param(1)), msg.trailing())),
            "353" => {
                let channel = msg.params.get(msg.params.len().saturating_sub(2)).cloned();
                self.on_names(&channel.unwrap_or_default(), msg.trailing());
            }
            "366" => self.on_names_end(msg.param(1)),
            "352" => self.on_who_reply(msg.param(1), msg.param(2), msg.param(3), msg.param(5)),
            "315" => self.on_who_end(),
            "322" => self.on_list_entry(msg.param(1), msg.param(2), msg.trailing()),
            "323" => self.on_list_end(),
            // RPL_TRYAGAIN: the server refused to run the command now.
            "263" => self.on_server_error(msg, msg.trailing()),
            "FAIL" => self.on_server_error(msg, &format!("{}: {}", msg.param(0), msg.trailing())),
            "WARN" | "NOTE" => self.info(msg.trailing().to_string()),
            code if is_error_numeric(code) => {
                let middle: Vec<&str> =
                    msg.params.iter().skip(1).take(msg.params.len().saturating_sub(2)).map(String::as_str).collect();
                let text = if middle.is_empty() {
                    msg.trailing().to_string()
                } else {
                    format!("{}: {}", middle.join(" "), msg.trailing())
                };
                self.on_server_error(msg, &text);
            }
            _ => {}
        }
    }

    /// An error reply: show it, and unblock whatever was waiting on it.
    fn on_server_error(&mut self, msg: &Message, text: &str) {
        match self.phase.clone() {
            Phase::Joining(_) => {
                self.error(format!("Cannot join: {text}"));
                if self.current.is_some() {
                    self.phase = Phase::Chat;
                } else {
                    self.ask_room();
                }
            }
            Phase::Leaving(key) => {
                self.error(text.to_string());
                self.forget_room(&key);
                self.list_rooms(true);
            }
            Phase::Listing => {
                self.error(format!("Cannot list rooms: {text}"));
                self.room_list = None;
                self.ask_room();
            }
            _ if msg.command == "433" => self.error(format!("The name {} is already in use.", msg.param(1))),
            _ => self.error(text.to_string()),
        }
    }

    fn on_join(&mut self, msg: &Message) {
        let channel = msg.param(0).to_string();
        let key = fold(&channel);
        let label = room_label(&channel).to_string();
        if self.is_me(msg.nick()) {
            let room = self.rooms.entry(key.clone()).or_insert_with(|| Room::new(&channel));
            room.announced = false;
            room.add(msg.nick(), msg.userhost());
            match self.phase {
                Phase::Joining(_) => {
                    self.current = Some(key);
                    self.phase = Phase::Chat;
                }
                // A rejoin after reconnecting, or a join the server made.
                Phase::Chat if self.current.is_none() => self.current = Some(key),
                _ => {}
            }
            self.show(
                Some(timefmt::stamp(msg)),
                LineKind::Info,
                format!("INFO> You joined room [{label}]. Type LIST, LEAVE, LOGOUT or /help."),
            );
            return;
        }
        let Some(room) = self.rooms.get_mut(&key) else {
            return;
        };
        room.add(msg.nick(), msg.userhost());
        let from = msg.userhost().map(|uh| format!(" from <{uh}>")).unwrap_or_default();
        let text = format!("INFO> {} joined room [{label}]{from}", msg.nick());
        self.show(Some(timefmt::stamp(msg)), LineKind::Info, text);
    }

    /// Forgets a room we left; picks another current room if there is one.
    fn forget_room(&mut self, key: &str) {
        self.rooms.remove(key);
        if self.current.as_deref() == Some(key) {
            self.current = None;
        }
        // Only while chatting: LEAVE and the room prompt handle their own.
        if self.current.is_some() || self.phase != Phase::Chat {
            return;
        }
        self.current = self.rooms.keys().next().cloned();
        match self.current.clone().and_then(|k| self.rooms.get(&k)) {
            Some(room) => {
                let name = room_label(&room.name).to_string();
                self.info(format!("Now talking in room [{name}]"));
            }
            None => self.list_rooms(true),
        }
    }

    fn on_part(&mut self, msg: &Message) {
        let channel = msg.param(0);
        let key = fold(channel);
        let label = room_label(channel).to_string();
        let reason = match msg.params.get(1) {
            Some(r) if !r.is_empty() => format!(" ({r})"),
            _ => String::new(),
        };
        if self.is_me(msg.nick()) {
            self.show(Some(timefmt::stamp(msg)), LineKind::Info, format!("INFO> You left room [{label}]"));
            let leaving = self.phase == Phase::Leaving(key.clone());
            self.forget_room(&key);
            if leaving {
                self.list_rooms(true);
            }
            return;
        }
        let Some(room) = self.rooms.get_mut(&key) else {
            return;
        };
        room.remove(msg.nick());
        let text = format!("INFO> {} left room [{label}]{reason}", msg.nick());
        self.show(Some(timefmt::stamp(msg)), LineKind::Info, text);
    }

    fn on_quit(&mut self, msg: &Message) {
        let nick = msg.nick().to_string();
        let reason = match msg.trailing() {
            "" => String::new(),
            r => format!(" (quit: {r})"),
        };
        let mut left = Vec::new();
        for room in self.rooms.values_mut() {
            if room.remove(&nick) {
                left.push(room_label(&room.name).to_string());
            }
        }
        for label in left {
            let text = format!("INFO> {nick} left room [{label}]{reason}");
            self.show(Some(timefmt::stamp(msg)), LineKind::Info, text);
        }
    }

    fn on_kick(&mut self, msg: &Message) {
        let (channel, victim) = (msg.param(0), msg.param(1).to_string());
        let key = fold(channel);
        let label = room_label(channel).to_string();
        let reason = msg.params.get(2).cloned().unwrap_or_default();
        let time = Some(timefmt::stamp(msg));
        if self.is_me(&victim) {
            let text = format!("ERROR> You were kicked from [{label}] by {} ({reason})", msg.nick());
            self.show(time, LineKind::Error, text);
            self.forget_room(&key);
            return;
        }
        if let Some(room) = self.rooms.get_mut(&key) {
            room.remove(&victim);
            let text = format!("INFO> {victim} was kicked from [{label}] by {} ({reason})", msg.nick());
            self.show(time, LineKind::Info, text);
        }
    }

    fn on_nick(&mut self, msg: &Message) {
        let (old, new) = (msg.nick().to_string(), msg.param(0).to_string());
        if new.is_empty() {
            return;
        }
        let time = Some(timefmt::stamp(msg));
        let mut seen = false;
        for room in self.rooms.values_mut() {
            if let Some(mut member) = room.members.remove(&fold(&old)) {
                member.nick = new.clone();
                room.members.insert(fold(&new), member);
                seen = true;
            }
        }
        if self.is_me(&old) {
            self.nick = Some(new.clone());
            self.show(time, LineKind::Info, format!("INFO> You are now known as {new}"));
        } else if seen {
            self.show(time, LineKind::Info, format!("INFO> {old} is now known as {new}"));
        }
    }

    fn on_privmsg(&mut self, msg: &Message) {
        let (target, text) = (msg.param(0), msg.param(1));
        let from = msg.nick().to_string();
        let time = Some(timefmt::stamp(msg));
        let notice = msg.command == "NOTICE";
        let (action, text) = match text.strip_prefix('\u{1}') {
            Some(ctcp) => match ctcp.trim_end_matches('\u{1}').strip_prefix("ACTION ") {
                Some(act) => (true, act.to_string()),
                None => return, // other CTCP: ignored
            },
            None => (false, text.to_string()),
        };
        let text = strip_controls(&text);
        if !notice && self.is_me(&from) {
            self.conn.echoes_due = self.conn.echoes_due.saturating_sub(1);
            if self.is_me(target) && self.conn.self_copies_to_skip > 0 {
                self.conn.self_copies_to_skip -= 1;
                return;
            }
        }
        if notice && msg.userhost().is_none() {
            // A server notice: its prefix is a server name, not nick!user@host.
            return self.show(time, LineKind::Info, format!("NOTICE> {text}"));
        }
        if is_channel(target) {
            let (kind, shown) = self.format_message(target, &from, &text, action);
            let shown = if notice { format!("-{from}- {text}") } else { shown };
            return self.show(time, kind, shown);
        }
        if self.is_me(&from) {
            // Our own private message, echoed back.
            let shown = if action { format!("-> *{target}* * {from} {text}") } else { format!("-> *{target}* {text}") };
            return self.show(time, LineKind::Private { nick: target.to_string() }, shown);
        }
        let shown = match (action, notice) {
            (true, _) => format!("*{from}* * {from} {text}"),
            (false, true) => format!("-{from}- {text}"),
            (false, false) => format!("*{from}* {text}"),
        };
        self.show(time, LineKind::Private { nick: from }, shown);
    }

    /// How a room message looks: `bob> hi` in the current room,
    /// `[room2] bob> hi` elsewhere, `* bob waves` for actions.
    pub(super) fn format_message(&self, channel: &str, from: &str, text: &str, action: bool) -> (LineKind, String) {
        let here = self.current.as_deref() == Some(fold(channel).as_str());
        let room = if here { String::new() } else { format!("[{}] ", room_label(channel)) };
        if action {
            (LineKind::Action { nick: from.to_string() }, format!("{room}* {from} {text}"))
        } else {
            (LineKind::Message { nick: from.to_string() }, format!("{room}{from}> {text}"))
        }
    }
}

/// True for the 4xx and 5xx error numerics (except 422, no MOTD, which
/// is not a problem for anyone).
fn is_error_numeric(code: &str) -> bool {
    code != "422"
        && code.len() == 3
        && (code.starts_with('4') || code.starts_with('5'))
        && code.bytes().all(|b| b.is_ascii_digit())
}

/// Drops mIRC colour codes and other control characters the terminal would
/// otherwise interpret.
fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{3}' {
            skip_digits(&mut chars);
            if chars.peek() == Some(&',') {
                chars.next();
                skip_digits(&mut chars);
            }
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// Skips up to two ASCII digits (a colour number).
fn skip_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for _ in 0..2 {
        if chars.peek().is_some_and(char::is_ascii_digit) {
            chars.next();
        }
    }
}
