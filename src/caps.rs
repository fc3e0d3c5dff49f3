//! IRCv3 capabilities, declared once: name, bit, and how the value is derived.

use crate::config::Config;

/// A set of capabilities as a bit mask (cheap to copy and compare on the fan-out path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CapSet(pub u32);

impl CapSet {
    /// No capabilities.
    pub const EMPTY: CapSet = CapSet(0);

    /// Whether `cap` is in the set.
    pub fn has(self, cap: Cap) -> bool {
        self.0 & cap.bit() != 0
    }

    /// The set with `cap` added.
    pub fn with(self, cap: Cap) -> CapSet {
        CapSet(self.0 | cap.bit())
    }

    /// The set with `cap` removed.
    pub fn without(self, cap: Cap) -> CapSet {
        CapSet(self.0 & !cap.bit())
    }

    /// The capabilities in both sets.
    pub fn intersect(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    /// The enabled capabilities, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Cap> {
        Cap::ALL.iter().copied().filter(move |c| self.has(*c))
    }
}

macro_rules! caps {
    ($($(#[$doc:meta])* $variant:ident = $name:literal;)*) => {
        /// A capability the server implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Cap { $($(#[$doc])* $variant),* }

        impl Cap {
            /// Every capability, in the order `CAP LS` lists them.
            pub const ALL: &'static [Cap] = &[$(Cap::$variant),*];

            /// The name on the wire.
            pub fn name(self) -> &'static str {
                match self { $(Cap::$variant => $name),* }
            }
        }
    };
}

caps! {
    /// account-notify: ACCOUNT messages when a channel peer logs in or out.
    AccountNotify = "account-notify";
    /// account-tag: `account=` on messages from logged-in users.
    AccountTag = "account-tag";
    /// away-notify: AWAY messages when channel peers change away state.
    AwayNotify = "away-notify";
    /// batch: BATCH framing.
    Batch = "batch";
    /// cap-notify: CAP NEW/DEL (implied by CAP LS 302).
    CapNotify = "cap-notify";
    /// chghost: CHGHOST instead of QUIT+JOIN on host changes.
    Chghost = "chghost";
    /// draft/account-registration: the REGISTER command.
    AccountRegistration = "draft/account-registration";
    /// draft/metadata-3: METADATA on users and channels, with subscriptions.
    Metadata = "draft/metadata-3";
    /// draft/multiline: messages sent as a `draft/multiline` batch of lines.
    Multiline = "draft/multiline";
    /// draft/channel-rename: the RENAME command, and RENAME instead of PART+JOIN.
    ChannelRename = "draft/channel-rename";
    /// draft/chathistory: the CHATHISTORY command.
    ChatHistory = "draft/chathistory";
    /// draft/event-playback: TAGMSG and TOPIC in history batches.
    EventPlayback = "draft/event-playback";
    /// draft/message-redaction: the REDACT command.
    MessageRedaction = "draft/message-redaction";
    /// draft/read-marker: the MARKREAD command.
    ReadMarker = "draft/read-marker";
    /// echo-message: a client's own messages are echoed back.
    EchoMessage = "echo-message";
    /// extended-monitor: MONITOR also delivers AWAY, ACCOUNT and SETNAME changes.
    ExtendedMonitor = "extended-monitor";
    /// extended-join: JOIN carries account and realname.
    ExtendedJoin = "extended-join";
    /// invite-notify: channel operators see INVITEs.
    InviteNotify = "invite-notify";
    /// labeled-response: replies carry the request's `label`.
    LabeledResponse = "labeled-response";
    /// message-tags: client tags, TAGMSG and msgid.
    MessageTags = "message-tags";
    /// multi-prefix: all member prefixes in NAMES and WHO.
    MultiPrefix = "multi-prefix";
    /// sasl: AUTHENTICATE.
    Sasl = "sasl";
    /// server-time: `time=` on relayed messages.
    ServerTime = "server-time";
    /// setname: the SETNAME command.
    Setname = "setname";
    /// userhost-in-names: `nick!user@host` in NAMES.
    UserhostInNames = "userhost-in-names";
}

impl Cap {
    /// The bit for this capability.
    pub fn bit(self) -> u32 {
        1 << (self as u8)
    }

    /// Looks a capability up by its wire name.
    pub fn from_name(name: &str) -> Option<Cap> {
        Cap::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// The value advertised with `CAP LS 302`, if any.
    pub fn value(self, config: &Config) -> Option<String> {
        match self {
            Cap::Sasl => Some(crate::accounts::sasl::mechanisms(config).join(",")),
            Cap::AccountRegistration => {
                let mut flags = Vec::new();
                if config.accounts.register_before_connect {
                    flags.push("before-connect");
                }
                // REGISTER takes any free account name, not only the nick
                flags.push("custom-account-name");
                if config.accounts.email_required {
                    flags.push("email-required");
                }
                Some(flags.join(","))
            }
            Cap::Metadata => {
                let m = &config.metadata;
                let mut v = Vec::new();
                if m.before_connect {
                    v.push("before-connect".to_owned());
                }
                v.push(format!("max-subs={}", m.max_subs));
                v.push(format!("max-keys={}", m.max_keys));
                v.push(format!("max-key-bytes={}", m.max_key_bytes));
                v.push(format!("max-value-bytes={}", m.max_value_bytes));
                Some(v.join(","))
            }
            Cap::Multiline => {
                Some(format!("max-bytes={},max-lines={}", config.multiline.max_bytes, config.multiline.max_lines))
            }
            _ => None,
        }
    }

    /// Whether the server currently offers this capability under `config`.
    pub fn offered(self, config: &Config) -> bool {
        match self {
            Cap::AccountRegistration => config.accounts.registration,
            Cap::ChatHistory | Cap::EventPlayback | Cap::MessageRedaction => config.history.enabled,
            _ => true,
        }
    }
}

/// The `CAP LS` entries for `config`, with values only for 302 clients.
pub fn ls_entries(config: &Config, with_values: bool) -> Vec<String> {
    Cap::ALL
        .iter()
        .filter(|c| c.offered(config))
        .map(|c| match (with_values, c.value(config)) {
            (true, Some(v)) if !v.is_empty() => format!("{}={}", c.name(), v),
            _ => c.name().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_distinct() {
        let mut all = 0u32;
        for c in Cap::ALL {
            assert_eq!(Cap::from_name(c.name()), Some(*c));
            assert_eq!(all & c.bit(), 0);
            all |= c.bit();
        }
    }
}
