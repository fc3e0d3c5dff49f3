//! The events of the network's log: what one node tells the others, as
//! compact JSON in one field of a Redis stream entry. Users are named by their
//! node and the id they have there (`uid`); channels by name.

use crate::caps::Cap;
use crate::proto::line::Line;
use crate::state::registration::RegistrationChange;
use serde::{Deserialize, Serialize};

/// The version of this encoding of events (and of the snapshots made of
/// them), compared when a node joins: a release that changes it must not
/// join a network whose log another release wrote.
pub const FORMAT: &str = "2";

/// One change the other nodes must see. On the wire the variant's short
/// name is the one key of an object holding its fields (`{"J":{...}}`):
/// serde decodes that straight into the variant, where a tag among the
/// fields would first buffer the whole object (that buffering was a tenth
/// of a receiving node's CPU at 50×20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A user completed registration on `node`.
    #[serde(rename = "U")]
    User {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// Nick.
        nick: String,
        /// Username.
        user: String,
        /// Displayed host.
        host: String,
        /// Real name.
        realname: String,
        /// Logged-in account.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        /// User modes (`+iw`...).
        modes: String,
        /// The origin's server name (WHOIS `312`, WHO).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        server: String,
        /// The origin's server description (WHOIS `312`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        info: String,
        /// Unix time the user connected (WHOIS `317`).
        #[serde(default, skip_serializing_if = "is_zero")]
        signon: i64,
        /// The address it connected from (`limits.max_per_ip` counts the
        /// network's users).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ip: Option<std::net::IpAddr>,
    },
    /// A user changed nick (already claimed in Redis by the same script; a
    /// sequenced change, applied by its node too in the log's order).
    #[serde(rename = "N")]
    Nick {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The new nick.
        nick: String,
        /// The change's id (a msgid, by which its node knows it again);
        /// empty on a single node.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A user left the network.
    #[serde(rename = "Q")]
    Quit {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The QUIT reason as its channels see it.
        reason: String,
    },
    /// A user joined a channel.
    #[serde(rename = "J")]
    Join {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The channel.
        chan: String,
        /// Whether it has channel operator status (a snapshot's member; a
        /// sequenced JOIN's status is decided where it is applied).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        op: bool,
        /// Whether it has voice (as `op`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        voice: bool,
        /// The channel's creation time on the origin (Unix time): a node
        /// that creates its copy of the channel for this JOIN takes it.
        #[serde(default, skip_serializing_if = "is_zero")]
        ts: i64,
        /// The key the joiner gave (a sequenced JOIN is checked against the
        /// channel's modes where it is applied).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// A sequenced JOIN's id (a msgid, by which its node knows it again);
        /// empty for a snapshot's member.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A user left a channel.
    #[serde(rename = "P")]
    Part {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The channel.
        chan: String,
        /// The PART reason, if any.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
        /// The msgid of the PART line (the same on every node).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A channel operator removed a user from a channel.
    #[serde(rename = "K")]
    Kick {
        /// The kicker's node.
        node: String,
        /// The kicker's id on its node.
        uid: u64,
        /// The channel.
        chan: String,
        /// The victim's node.
        to_node: String,
        /// The victim's id on its node.
        to_uid: u64,
        /// The reason.
        reason: String,
        /// The msgid of the KICK line (the same on every node).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A channel's topic was set or cleared.
    #[serde(rename = "T")]
    Topic {
        /// Origin node.
        node: String,
        /// The setter's id on its node.
        uid: u64,
        /// The channel.
        chan: String,
        /// The TOPIC line as the origin's channel members saw it.
        line: WireLine,
        /// Unix time it was set.
        set_at: i64,
    },
    /// A channel's modes changed: one event per MODE command (or ChanServ
    /// change), with the changes as requested (each node applies those that
    /// change something there, in order).
    #[serde(rename = "O")]
    Mode {
        /// Origin node.
        node: String,
        /// The setter's id on its node, whose standing in the channel is
        /// checked again where the log has the change; none for ChanServ's
        /// changes and a snapshot's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u64>,
        /// The channel.
        chan: String,
        /// The MODE line as the origin's channel members saw it (its source
        /// is also the setter of new list entries).
        line: WireLine,
        /// Unix time of the change (the set time of new list entries).
        at: i64,
        /// The changes, in order.
        changes: Vec<ModeChange>,
    },
    /// A user set its away message (the line has it) or came back (none).
    #[serde(rename = "A")]
    Away {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The AWAY line as away-notify clients see it.
        line: WireLine,
        /// A sequenced change's id (as a JOIN's); empty for a snapshot's.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A user changed its real name (SETNAME).
    #[serde(rename = "R")]
    Realname {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The SETNAME line as setname clients see it.
        line: WireLine,
        /// A sequenced change's id (as a JOIN's); empty for a snapshot's.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A registered user logged in to an account.
    #[serde(rename = "L")]
    Account {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The ACCOUNT line as account-notify clients see it.
        line: WireLine,
        /// A sequenced change's id (as a JOIN's).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// A channel operator renamed a channel (draft/channel-rename); the new
    /// name was claimed in Redis in the same step.
    #[serde(rename = "RN")]
    Rename {
        /// Origin node.
        node: String,
        /// The channel's name before.
        chan: String,
        /// Its new name.
        to: String,
        /// The RENAME line as the origin's members with the capability saw it
        /// (its last parameter is the reason).
        line: WireLine,
    },
    /// An account's read marker moved forward (MARKREAD); the origin saved
    /// it in the shared store.
    #[serde(rename = "MR")]
    Marker {
        /// Origin node.
        node: String,
        /// The account, as read markers name it (`a:FOLDED`).
        who: String,
        /// The target as the client named it.
        target: String,
        /// The marker, Unix time in milliseconds.
        ms: i64,
    },
    /// METADATA keys of a user or a channel were set or removed (`None`).
    #[serde(rename = "MD")]
    Metadata {
        /// Origin node.
        node: String,
        /// The user: its node and its id there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<(String, u64)>,
        /// Or the channel.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chan: Option<String>,
        /// The changes, in order.
        changes: Vec<(String, Option<String>)>,
    },
    /// The owner of an account regains its nick from a user of another node:
    /// that node renames its user to a guest nick.
    #[serde(rename = "RG")]
    Regain {
        /// The regaining user's node.
        node: String,
        /// The holder's node and id there.
        to: (String, u64),
        /// The nick (the account's name).
        nick: String,
        /// The account regaining it.
        account: String,
    },
    /// A user's modes changed (MODE, OPER).
    #[serde(rename = "UM")]
    UserModes {
        /// Origin node.
        node: String,
        /// The user's id on its node.
        uid: u64,
        /// The changes as applied, `+i-w` style.
        modes: String,
    },
    /// A channel member invited a user (of any node) to a channel.
    #[serde(rename = "I")]
    Invite {
        /// The inviter's node.
        node: String,
        /// The inviter's id on its node.
        uid: u64,
        /// The channel.
        chan: String,
        /// The invited user's node and id there.
        to: (String, u64),
        /// The INVITE line as the invited user and invite-notify ops see it.
        line: WireLine,
        /// A sequenced INVITE's id (as a JOIN's); empty for a snapshot's.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// An operator killed a user of another node: that node disconnects it
    /// (and its QUIT follows as for any user).
    #[serde(rename = "X")]
    Kill {
        /// The killer's node.
        node: String,
        /// The killer's id on its node.
        uid: u64,
        /// The victim's node and id there.
        to: (String, u64),
        /// The KILL line the victim sees.
        line: WireLine,
        /// The QUIT reason (`Killed (nick (reason))`).
        reason: String,
    },
    /// WALLOPS from an operator: every node sends it to its `+w` users.
    #[serde(rename = "W")]
    Wallops {
        /// Origin node.
        node: String,
        /// The sender's id on its node.
        uid: u64,
        /// The WALLOPS line.
        line: WireLine,
    },
    /// PRIVMSG, NOTICE or TAGMSG lines from one user to one target: a channel
    /// (each node delivers to its members there) or a user of node `to_node`.
    #[serde(rename = "M")]
    Msg {
        /// Origin node.
        node: String,
        /// The sender's id on its node.
        uid: u64,
        /// For a message to a user: the recipient's node and id there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<(String, u64)>,
        /// The lines, in order ([packed](super::packed): what a line shares
        /// with the one before it is left out).
        #[serde(with = "super::packed")]
        lines: Vec<WireLine>,
    },
    /// A draft/multiline message from one user to a channel or to a user of
    /// node `to_node`: each node builds the batch and the separate lines
    /// from its first line with text, as the origin did.
    #[serde(rename = "ML")]
    Multiline {
        /// Origin node.
        node: String,
        /// The sender's id on its node.
        uid: u64,
        /// For a message to a user: the recipient's node and id there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<(String, u64)>,
        /// The first line with text, with the message's time, msgid and
        /// other tags.
        first: WireLine,
        /// Every line, with whether it joins the previous one.
        lines: Vec<(String, bool)>,
    },
    /// A REDACT of a message in a channel (each node tells its members) or
    /// in a conversation with a user of node `to_node`.
    #[serde(rename = "RD")]
    Redact {
        /// Origin node.
        node: String,
        /// The redactor's id on its node.
        uid: u64,
        /// For a conversation: the other side's node and id there.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<(String, u64)>,
        /// The REDACT line (target, msgid, reason).
        line: WireLine,
    },
    /// A channel's ChanServ registration changed (REGISTER, DROP, AMODE,
    /// TRANSFER): the change, committed to the shared store by the origin
    /// (the others do not save it again). DROP, AMODE and TRANSFER are
    /// sequenced changes; REGISTER, decided by the store first, is applied
    /// by its node at once.
    #[serde(rename = "CS")]
    Registration {
        /// Origin node.
        node: String,
        /// The channel.
        chan: String,
        /// The change.
        change: RegistrationChange,
        /// A sequenced change's id (as a JOIN's); empty for a REGISTER and
        /// a snapshot's.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        id: String,
    },
    /// Only in a snapshot (`super::snapshot`): a channel as the snapshot
    /// has it begins, made with creation time `ts` if new here; its topic,
    /// modes, lists, invitations and registration start empty (the events
    /// after it set them as the snapshot has them).
    #[serde(rename = "C")]
    Channel {
        /// The node that wrote the snapshot ([`crate::cluster::snapshot::SOURCE`]).
        node: String,
        /// The channel.
        chan: String,
        /// Its creation time (Unix time).
        ts: i64,
    },
    /// A node left the network (it said so, or the reaper found its liveness
    /// key expired): its users quit everywhere.
    #[serde(rename = "D")]
    NodeDown {
        /// The node.
        node: String,
    },
}

impl Event {
    /// For a change every node applies in the log's order, the node it was
    /// made on included ([`crate::state::sequencer`]): the msgid of its line,
    /// by which that node knows it again when it reads it back.
    pub fn sequenced_id(&self) -> Option<&str> {
        match self {
            Event::Topic { line, .. } | Event::Mode { line, .. } => line.tag("msgid"),
            Event::Join { id, .. }
            | Event::Kick { id, .. }
            | Event::Part { id, .. }
            | Event::Nick { id, .. }
            | Event::Invite { id, .. }
            | Event::Registration { id, .. }
            | Event::Away { id, .. }
            | Event::Realname { id, .. }
            | Event::Account { id, .. }
                if !id.is_empty() =>
            {
                Some(id)
            }
            _ => None,
        }
    }

    /// The node that appended the event.
    pub fn node(&self) -> &str {
        match self {
            Event::User { node, .. }
            | Event::Nick { node, .. }
            | Event::Quit { node, .. }
            | Event::Join { node, .. }
            | Event::Part { node, .. }
            | Event::Kick { node, .. }
            | Event::Topic { node, .. }
            | Event::Mode { node, .. }
            | Event::Away { node, .. }
            | Event::Realname { node, .. }
            | Event::UserModes { node, .. }
            | Event::Account { node, .. }
            | Event::Invite { node, .. }
            | Event::Kill { node, .. }
            | Event::Wallops { node, .. }
            | Event::Msg { node, .. }
            | Event::Multiline { node, .. }
            | Event::Redact { node, .. }
            | Event::Registration { node, .. }
            | Event::Rename { node, .. }
            | Event::Marker { node, .. }
            | Event::Metadata { node, .. }
            | Event::Regain { node, .. }
            | Event::Channel { node, .. }
            | Event::NodeDown { node } => node,
        }
    }

    /// The event as the stream stores it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether `n` is its type's zero (a field left out when it is).
pub(super) fn is_zero<N: Default + PartialEq>(n: &N) -> bool {
    *n == N::default()
}

/// One applied channel mode change, as the log carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeChange {
    /// `+` (true) or `-`.
    #[serde(rename = "a")]
    pub add: bool,
    /// The mode letter.
    #[serde(rename = "m")]
    pub mode: char,
    /// The parameter (mask, key, limit, or for `o`/`v` the nick as shown).
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
    /// For `o` and `v`: the member's node and id there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<(String, u64)>,
}

/// A line as relayed between nodes: its server tags (time, msgid, account,
/// bot), client-only tags, source, command and parameters, so every node
/// shows the same message with the same id and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLine {
    /// Server tags, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Client-only tags (`+draft/reply=...`), as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctags: Option<String>,
    /// `nick!user@host`.
    pub src: String,
    /// The command.
    pub cmd: String,
    /// The parameters.
    pub params: Vec<String>,
}

impl WireLine {
    /// The wire form of `line`.
    pub fn of(line: &Line) -> WireLine {
        WireLine {
            tags: line.tags.iter().map(|t| (t.key.to_owned(), t.value.clone())).collect(),
            ctags: line.client_tags.clone(),
            src: line.source.clone(),
            cmd: line.command.to_string(),
            params: line.params.clone(),
        }
    }

    /// The value of server tag `key`, if the line has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The line again, with each known server tag shown to the clients with
    /// its capability (unknown tags are dropped).
    pub fn into_line(self) -> Line {
        let command: std::borrow::Cow<'static, str> = match self.cmd.as_str() {
            "PRIVMSG" => "PRIVMSG".into(),
            "NOTICE" => "NOTICE".into(),
            "TAGMSG" => "TAGMSG".into(),
            "TOPIC" => "TOPIC".into(),
            "MODE" => "MODE".into(),
            "AWAY" => "AWAY".into(),
            "SETNAME" => "SETNAME".into(),
            "ACCOUNT" => "ACCOUNT".into(),
            "INVITE" => "INVITE".into(),
            "REDACT" => "REDACT".into(),
            "KILL" => "KILL".into(),
            "WALLOPS" => "WALLOPS".into(),
            other => other.to_owned().into(),
        };
        let mut line = Line::new(self.src, command, self.params);
        for (key, value) in self.tags {
            if let Some((key, cap)) = known_tag(&key) {
                line = line.tag(key, value, cap);
            }
        }
        line.client_tags = self.ctags;
        line
    }

    /// The line this is, leaving it as it was (see [`WireLine::into_line`]).
    pub fn to_line(&self) -> Line {
        self.clone().into_line()
    }
}

/// The server tags a relayed line may carry, with the capability that shows each.
fn known_tag(key: &str) -> Option<(&'static str, Cap)> {
    Some(match key {
        "time" => ("time", Cap::ServerTime),
        "account" => ("account", Cap::AccountTag),
        "msgid" => ("msgid", Cap::MessageTags),
        "bot" => ("bot", Cap::MessageTags),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_compactly() {
        let e = Event::Join {
            node: "a:1".into(),
            uid: 7,
            chan: "#x".into(),
            op: true,
            voice: false,
            ts: 99,
            key: None,
            id: String::new(),
        };
        let json = e.to_json();
        assert_eq!(json, r##"{"J":{"node":"a:1","uid":7,"chan":"#x","op":true,"ts":99}}"##);
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        // The reaper writes NodeDown from Lua.
        let down: Event = serde_json::from_str(r#"{"D":{"node":"b:2"}}"#).unwrap();
        assert_eq!(down, Event::NodeDown { node: "b:2".into() });
    }

    #[test]
    fn registration_changes_travel() {
        let change = RegistrationChange::Access { account: "bob".into(), mode: Some('v') };
        let e = Event::Registration { node: "a:1".into(), chan: "#x".into(), change, id: String::new() };
        let json = e.to_json();
        assert_eq!(json, r##"{"CS":{"node":"a:1","chan":"#x","change":{"k":"amode","account":"bob","mode":"v"}}}"##);
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
        assert!(serde_json::from_str::<Event>(r##"{"CS":{"node":"a:1","chan":"#x","change":{"k":"?"}}}"##).is_err());
    }

    #[test]
    fn mode_changes_are_short() {
        let c = ModeChange { add: true, mode: 'o', arg: Some("bob".into()), to: Some(("b:2".into(), 9)) };
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"a":true,"m":"o","p":"bob","to":["b:2",9]}"#);
        let flag = ModeChange { add: false, mode: 'm', arg: None, to: None };
        assert_eq!(serde_json::to_string(&flag).unwrap(), r#"{"a":false,"m":"m"}"#);
    }

    #[test]
    fn lines_keep_their_tags() {
        let line = Line::from_user("n!u@h".into(), Some("acc"), "PRIVMSG", vec!["#c".into(), "hi".into()]).tag(
            "msgid",
            "abc",
            Cap::MessageTags,
        );
        let back = WireLine::of(&line).to_line();
        let caps = crate::caps::CapSet(u32::MAX);
        assert_eq!(back.serialize(caps, &[]), line.serialize(caps, &[]));
    }
}
