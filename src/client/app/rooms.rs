//! Rooms we are in, their members, and the listings the user asks for.

use std::collections::BTreeMap;

use super::{App, Phase, Query};
use crate::client::commands::room_label;
use crate::client::irc::fold;

/// A room (IRC channel) we are in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Room {
    /// The channel name as the server spells it, `#room1`.
    pub name: String,
    /// Members by folded nick.
    pub members: BTreeMap<String, Member>,
    /// True while a NAMES reply is being collected (it replaces `members`).
    pub collecting: bool,
    /// True once the member summary after joining was shown.
    pub announced: bool,
}

/// Someone in a room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// Their nick.
    pub nick: String,
    /// `user@host`, when the server told us.
    pub userhost: Option<String>,
}

impl Room {
    /// A freshly joined room.
    pub fn new(name: &str) -> Room {
        Room { name: name.to_string(), ..Room::default() }
    }

    /// Adds or updates a member.
    pub fn add(&mut self, nick: &str, userhost: Option<&str>) {
        let entry = self.members.entry(fold(nick)).or_default();
        entry.nick = nick.to_string();
        if let Some(uh) = userhost {
            entry.userhost = Some(uh.to_string());
        }
    }

    /// Removes a member; true if they were here.
    pub fn remove(&mut self, nick: &str) -> bool {
        self.members.remove(&fold(nick)).is_some()
    }
}

/// Splits a NAMES entry (`@+alice!a@host`) into nick and user@host.
pub(super) fn parse_names_entry(entry: &str) -> (&str, Option<&str>) {
    let entry = entry.trim_start_matches(['~', '&', '@', '%', '+']);
    match entry.split_once('!') {
        Some((nick, uh)) => (nick, Some(uh).filter(|uh| !uh.is_empty())),
        None => (entry, None),
    }
}

/// Drops the `[+nt]` channel modes some servers put before a LIST topic.
fn strip_modes(topic: &str) -> &str {
    match topic.strip_prefix("[+").and_then(|rest| rest.split_once(']')) {
        Some((modes, rest)) if !modes.contains(' ') => rest.trim_start(),
        _ => topic,
    }
}

/// "1 member" / "2 members".
pub(super) fn members_word(n: usize) -> String {
    if n == 1 {
        "1 member".to_string()
    } else {
        format!("{n} members")
    }
}

impl App {
    /// 353: members of a room.
    pub(super) fn on_names(&mut self, channel: &str, names: &str) {
        let Some(room) = self.rooms.get_mut(&fold(channel)) else {
            return;
        };
        if !room.collecting {
            room.members.clear();
            room.collecting = true;
        }
        for entry in names.split_whitespace() {
            let (nick, uh) = parse_names_entry(entry);
            if !nick.is_empty() {
                room.add(nick, uh);
            }
        }
    }

    /// 366: end of NAMES: announce after a join, answer a pending LIST.
    pub(super) fn on_names_end(&mut self, channel: &str) {
        let key = fold(channel);
        let Some(room) = self.rooms.get_mut(&key) else {
            return;
        };
        room.collecting = false;
        let first = !room.announced;
        room.announced = true;
        let room = room.clone();
        let pending = self.queries.iter().position(|q| *q == Query::Names(key.clone()));
        if let Some(index) = pending {
            self.queries.remove(index);
            self.show_people(&room.name, room.members.values().map(|m| (m.nick.clone(), m.userhost.clone())));
        } else if first {
            let nicks: Vec<&str> = room.members.values().map(|m| m.nick.as_str()).collect();
            self.info(format!(
                "Room [{}] has {}: {}",
                room_label(&room.name),
                members_word(nicks.len()),
                nicks.join(", ")
            ));
        }
    }

    /// 352: one WHO reply line.
    pub(super) fn on_who_reply(&mut self, channel: &str, user: &str, host: &str, nick: &str) {
        let userhost = format!("{user}@{host}");
        if let Some(room) = self.rooms.get_mut(&fold(channel)) {
            room.add(nick, Some(&userhost));
        }
        let who = self.queries.iter_mut().find_map(|q| match q {
            Query::Who(_, entries) => Some(entries),
            Query::Names(_) => None,
        });
        if let Some(entries) = who {
            entries.push((nick.to_string(), userhost));
        }
    }

    /// 315: end of WHO.
    pub(super) fn on_who_end(&mut self) {
        let pending = self.queries.iter().position(|q| matches!(q, Query::Who(..)));
        if let Some(Query::Who(target, entries)) = pending.and_then(|i| self.queries.remove(i)) {
            if entries.is_empty() {
                self.info(format!("Nobody found for {}", room_label(&target)));
            } else {
                self.show_people(&target, entries.into_iter().map(|(n, uh)| (n, Some(uh))));
            }
        }
    }

    /// Prints "People in room [x] (n):" and one `nick <user@host>` a line.
    fn show_people(&mut self, target: &str, people: impl Iterator<Item = (String, Option<String>)>) {
        let people: Vec<_> = people.collect();
        if crate::client::irc::is_channel(target) {
            let label = room_label(target);
            self.text(format!("People in room [{label}] ({}):", people.len()));
        } else {
            self.text(format!("Who is {target}:"));
        }
        for (nick, uh) in people {
            match uh {
                Some(uh) => self.text(format!("  {nick} <{uh}>")),
                None => self.text(format!("  {nick}")),
            }
        }
    }

    /// 322: one room of the room list.
    pub(super) fn on_list_entry(&mut self, channel: &str, count: &str, topic: &str) {
        if let Some(list) = &mut self.room_list {
            let count = count.trim().parse().unwrap_or(0);
            list.push((channel.to_string(), count, strip_modes(topic).to_string()));
        }
    }

    /// 323: the room list is complete: show it, then ask for a room.
    pub(super) fn on_list_end(&mut self) {
        let mut list = self.room_list.take().unwrap_or_default();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if list.is_empty() {
            self.text("No rooms yet: type a name to create one.");
        } else {
            self.text(format!("Rooms ({}):", list.len()));
            for (channel, count, topic) in list {
                let topic = if topic.is_empty() { String::new() } else { format!("  {topic}") };
                self.text(format!("  {} ({}){topic}", room_label(&channel), members_word(count)));
            }
        }
        if self.phase == Phase::Listing {
            self.ask_room();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_entries() {
        assert_eq!(parse_names_entry("@+alice!a@h"), ("alice", Some("a@h")));
        assert_eq!(parse_names_entry("bob"), ("bob", None));
        assert_eq!(parse_names_entry("@"), ("", None));
    }

    #[test]
    fn list_topics_lose_their_modes() {
        assert_eq!(strip_modes("[+nt] hello"), "hello");
        assert_eq!(strip_modes("[+nt]"), "");
        assert_eq!(strip_modes("[not modes] x"), "[not modes] x");
    }
}
