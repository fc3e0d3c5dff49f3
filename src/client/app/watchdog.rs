//! Once a second: give up on replies that never come, and notice a server
//! that went silent (a dead link TCP alone would not report for ages).

use std::time::Duration;

use super::{App, Phase};
use crate::client::irc::build;

/// Seconds without a line from the server before we PING it.
const PING_AFTER: u32 = 60;
/// Seconds without a line from the server before the link counts as dead.
const DEAD_AFTER: u32 = 120;
/// Seconds to wait for a JOIN, PART or LIST reply.
const REPLY_WAIT: u32 = 20;
/// Seconds to wait for a login verdict (the server may throttle up to 60 s).
const LOGIN_WAIT: u32 = 90;

impl App {
    /// Called every second by the session.
    pub fn on_tick(&mut self) {
        if self.phase != self.watched_phase {
            self.watched_phase = self.phase.clone();
            self.phase_age = 0;
        }
        self.phase_age += 1;
        if self.conn.open {
            self.idle += 1;
            if self.idle == PING_AFTER {
                self.send(build("PING", &["banter"]));
            } else if self.idle >= DEAD_AFTER {
                self.idle = 0;
                self.on_closed("no reply from the server for 2 minutes");
                return;
            }
        }
        self.give_up_waiting();
        self.settle();
    }

    /// Any line from the server shows the link is alive.
    pub(super) fn heard_from_server(&mut self) {
        self.idle = 0;
    }

    fn give_up_waiting(&mut self) {
        self.replies_age = if self.replies_due() { self.replies_age + 1 } else { 0 };
        if self.replies_age >= REPLY_WAIT {
            self.replies_age = 0;
            self.error("The server did not finish its answer (member list, LIST, /who or a message echo).");
            self.queries.clear();
            self.conn.echoes_due = 0;
            self.conn.self_copies_to_skip = 0;
            for room in self.rooms.values_mut() {
                room.announced = true;
            }
        }
        let age = self.phase_age;
        match self.phase.clone() {
            Phase::Auth(_) if age >= LOGIN_WAIT => {
                self.error("The server did not answer the login.");
                self.auto_login = false;
                self.drop_typed_ahead();
                self.reconnect(Duration::ZERO);
                self.show_menu();
            }
            Phase::Listing if age >= REPLY_WAIT => {
                self.error("The server did not send the room list.");
                self.room_list = None;
                self.ask_room();
            }
            Phase::Joining(_) if age >= REPLY_WAIT => {
                self.error("The server did not answer the JOIN.");
                if self.current.is_some() {
                    self.phase = Phase::Chat;
                } else {
                    self.ask_room();
                }
            }
            Phase::Leaving(key) if age >= REPLY_WAIT => {
                self.rooms.remove(&key);
                if self.current.as_deref() == Some(key.as_str()) {
                    self.current = None;
                }
                self.list_rooms(true);
            }
            _ => {}
        }
    }
}
