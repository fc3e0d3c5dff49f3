//! Channels: members with their prefixes, topic, modes and lists.

use super::client::{Client, ClientId};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A member's channel privileges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberModes {
    /// `+o`.
    pub op: bool,
    /// `+v`.
    pub voice: bool,
}

impl MemberModes {
    /// The prefixes, highest first; all of them or only the highest.
    pub fn prefixes(self, all: bool) -> &'static str {
        match (self.op, self.voice, all) {
            (true, true, true) => "@+",
            (true, _, _) => "@",
            (false, true, _) => "+",
            _ => "",
        }
    }
}

/// One member.
#[derive(Debug, Clone)]
pub struct Member {
    /// The client.
    pub client: Arc<Client>,
    /// Its privileges here.
    pub modes: MemberModes,
    /// Join order, so NAMES lists members in the order they came.
    pub seq: u64,
}

/// Channel flag modes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelModes {
    /// `+i`.
    pub invite_only: bool,
    /// `+m`.
    pub moderated: bool,
    /// `+n`.
    pub no_external: bool,
    /// `+s`.
    pub secret: bool,
    /// `+t`.
    pub topic_ops: bool,
    /// `+P` permanent: kept when empty.
    pub permanent: bool,
    /// `+C`: no CTCP other than ACTION to the channel.
    pub no_ctcp: bool,
    /// `+k`.
    pub key: Option<String>,
    /// `+l`.
    pub limit: Option<usize>,
}

impl ChannelModes {
    /// The flag modes that are set, as letters (`CimnstP` order).
    pub fn flags(&self) -> String {
        [
            (self.no_ctcp, 'C'),
            (self.invite_only, 'i'),
            (self.moderated, 'm'),
            (self.no_external, 'n'),
            (self.secret, 's'),
            (self.topic_ops, 't'),
            (self.permanent, 'P'),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect()
    }

    /// The flag mode named `c` (`CimnstP`), if it is one.
    pub fn flag_mut(&mut self, c: char) -> Option<&mut bool> {
        Some(match c {
            'C' => &mut self.no_ctcp,
            'i' => &mut self.invite_only,
            'm' => &mut self.moderated,
            'n' => &mut self.no_external,
            's' => &mut self.secret,
            't' => &mut self.topic_ops,
            'P' => &mut self.permanent,
            _ => return None,
        })
    }

    /// Sets the flag modes named in `flags` (the `channels.default_modes` setting).
    pub fn apply_defaults(&mut self, flags: &str) {
        for flag in flags.chars() {
            match flag {
                'i' => self.invite_only = true,
                'm' => self.moderated = true,
                'n' => self.no_external = true,
                's' => self.secret = true,
                't' => self.topic_ops = true,
                _ => {}
            }
        }
    }
}

/// A ban, exception or invite-exception entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The mask as set.
    pub mask: String,
    /// Who set it.
    pub set_by: String,
    /// When, Unix time.
    pub set_at: i64,
}

/// One channel mode change as applied (not as requested): its sign, its
/// letter, the parameter its MODE line shows (mask, key, limit or nick), and
/// for `o` and `v` the member it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    /// `+` (true) or `-`.
    pub add: bool,
    /// The mode letter.
    pub mode: char,
    /// The parameter shown, if any.
    pub arg: Option<String>,
    /// For `o` and `v`: the member.
    pub member: Option<ClientId>,
}

/// The parameters of the MODE line that shows `changes` on `channel`:
/// `[channel, "+ov-k", args...]`.
pub fn mode_params(channel: &str, changes: &[ModeChange]) -> Vec<String> {
    let mut modes = String::new();
    let mut params = vec![channel.to_owned(), String::new()];
    let mut sign = None;
    for change in changes {
        if sign != Some(change.add) {
            modes.push(if change.add { '+' } else { '-' });
            sign = Some(change.add);
        }
        modes.push(change.mode);
        params.extend(change.arg.clone());
    }
    params[1] = modes;
    params
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The text.
    pub text: String,
    /// Who set it (nick!user@host).
    pub set_by: String,
    /// When, Unix time.
    pub set_at: i64,
}

/// The mutable state of a channel.
#[derive(Debug, Default)]
pub struct ChannelState {
    /// Members by client id.
    pub members: HashMap<ClientId, Member>,
    /// The topic, if set.
    pub topic: Option<Topic>,
    /// Modes.
    pub modes: ChannelModes,
    /// `+b`.
    pub bans: Vec<ListEntry>,
    /// `+e`.
    pub excepts: Vec<ListEntry>,
    /// `+I`.
    pub invex: Vec<ListEntry>,
    /// Clients invited with INVITE (cleared as they join).
    pub invited: HashSet<ClientId>,
    /// IRCv3 metadata on the channel.
    pub metadata: super::metadata::Values,
    /// The ChanServ registration, if registered (boxed: most channels have none).
    pub registration: Option<Box<crate::store::Registration>>,
    /// Set while a ChanServ REGISTER of the channel waits for the store and
    /// then the log: another REGISTER, and other registration changes once it
    /// is applied, are refused meanwhile, so none of them reaches the other
    /// nodes of a cluster before the registration itself.
    pub registering: bool,
    /// Set when the channel has been removed from the server's map; a joiner
    /// holding a stale `Arc` must look it up again.
    pub dead: bool,
    next_seq: u64,
}

impl ChannelState {
    /// Whether the channel outlives its last member and is kept on disk:
    /// registered with ChanServ, or `+P`.
    pub fn is_persistent(&self) -> bool {
        self.modes.permanent || self.registration.is_some()
    }

    /// Whether member `id` may change the channel, an operator where `op`
    /// (KICK; TOPIC where `+t` is set; INVITE where `+i` is; MODE): `442`
    /// if it is not a member, `482` if it is not an operator where one is
    /// needed. Checked when a command decides a change, and again where the
    /// log has it (see [`crate::cluster::apply::sequenced`]).
    pub fn may_change(&self, id: ClientId, op: bool) -> Result<(), crate::proto::numeric::Numeric> {
        use crate::proto::numeric::{ERR_CHANOPRIVSNEEDED, ERR_NOTONCHANNEL};
        match self.members.get(&id) {
            None => Err(ERR_NOTONCHANNEL),
            Some(m) if op && !m.modes.op => Err(ERR_CHANOPRIVSNEEDED),
            Some(_) => Ok(()),
        }
    }

    /// Whether changing channel mode `mode` takes a channel operator: all
    /// but `P`, which an IRC operator changes whether or not it is one.
    /// Checked when MODE decides a change, and again where the log has it.
    pub fn needs_op(mode: char) -> bool {
        mode != 'P'
    }

    /// The status an account gets on joining a registered channel: the
    /// founder and AMODE `+o` accounts are ops, AMODE `+v` ones voiced.
    pub fn access_of(&self, casemap: super::casemap::Casemap, account: Option<&str>) -> Option<MemberModes> {
        let (reg, account) = (self.registration.as_ref()?, account?);
        if casemap.eq(&reg.founder, account) {
            return Some(MemberModes { op: true, voice: false });
        }
        let entry = reg.access.iter().find(|a| casemap.eq(&a.account, account))?;
        Some(match entry.mode {
            crate::store::AccessMode::Op => MemberModes { op: true, voice: false },
            crate::store::AccessMode::Voice => MemberModes { op: false, voice: true },
        })
    }

    /// Adds a member.
    pub fn add(&mut self, client: Arc<Client>, modes: MemberModes) {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.members.insert(client.id, Member { client, modes, seq });
    }

    /// The list a list mode letter names: `b` bans, `e` exceptions, `I`
    /// invite exceptions.
    pub fn list_mut(&mut self, c: char) -> Option<&mut Vec<ListEntry>> {
        match c {
            'b' => Some(&mut self.bans),
            'e' => Some(&mut self.excepts),
            'I' => Some(&mut self.invex),
            _ => None,
        }
    }

    /// Members in join order.
    pub fn members_ordered(&self) -> Vec<&Member> {
        let mut v: Vec<&Member> = self.members.values().collect();
        v.sort_by_key(|m| m.seq);
        v
    }

    /// The `+modes args` string; key and limit values only for members.
    pub fn mode_string(&self, show_params: bool) -> (String, Vec<String>) {
        let m = &self.modes;
        let mut s = format!("+{}", m.flags());
        let mut args = Vec::new();
        if let Some(k) = &m.key {
            s.push('k');
            args.push(if show_params { k.clone() } else { "*".into() });
        }
        if let Some(l) = m.limit {
            s.push('l');
            args.push(l.to_string());
        }
        (s, args)
    }
}

/// A channel.
#[derive(Debug)]
pub struct Channel {
    /// The name as first created (display form).
    pub name: String,
    /// Unix time of creation.
    pub created: i64,
    state: RwLock<ChannelState>,
}

impl Channel {
    /// A new empty channel.
    pub fn new(name: &str, created: i64) -> Self {
        Channel { name: name.to_owned(), created, state: RwLock::new(ChannelState::default()) }
    }

    /// Reads the state.
    pub fn read(&self) -> RwLockReadGuard<'_, ChannelState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state; never await with the guard held.
    pub fn write(&self) -> RwLockWriteGuard<'_, ChannelState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}
