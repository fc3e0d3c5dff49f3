//! Changes to a channel's ChanServ registration (REGISTER, DROP, AMODE,
//! TRANSFER) as values. ChanServ makes each change with [`apply`] on the node
//! where its command runs; on a node of a cluster the change then travels in
//! the log ([`crate::cluster::Event::Registration`]) and every other node
//! applies it with the same function, in log order.

use super::casemap::Casemap;
use super::channel::ChannelState;
use crate::store::{Access, AccessMode, Registration};
use serde::{Deserialize, Serialize};

/// One change to a channel's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum RegistrationChange {
    /// REGISTER: the channel is registered to `founder` at Unix time `at`,
    /// with an empty access list.
    #[serde(rename = "reg")]
    Register {
        /// The founder's account.
        founder: String,
        /// Unix time of registration.
        at: i64,
    },
    /// DROP: the channel is no longer registered.
    #[serde(rename = "drop")]
    Drop,
    /// AMODE: `account` gets `mode` (`o` or `v`) on joining, or (None) no
    /// longer gets anything.
    #[serde(rename = "amode")]
    Access {
        /// The account, as its name was given.
        account: String,
        /// `o`, `v`, or None to take the account off the list.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<char>,
    },
    /// TRANSFER: `account` becomes the founder.
    #[serde(rename = "founder")]
    Founder {
        /// The new founder's account.
        account: String,
    },
}

/// Applies `change` to the registration in `st`; true when it changed
/// anything. A change other than REGISTER to a channel that is not
/// registered, and an AMODE letter other than `o` and `v`, change nothing.
pub fn apply(st: &mut ChannelState, casemap: Casemap, change: &RegistrationChange) -> bool {
    match change {
        RegistrationChange::Register { founder, at } => {
            let reg = Registration { founder: founder.clone(), registered_at: *at, access: Vec::new() };
            if st.registration.as_deref() == Some(&reg) {
                return false;
            }
            st.registration = Some(Box::new(reg));
            true
        }
        RegistrationChange::Drop => st.registration.take().is_some(),
        RegistrationChange::Access { account, mode } => {
            let Some(reg) = st.registration.as_mut() else { return false };
            let pos = reg.access.iter().position(|a| casemap.eq(&a.account, account));
            let wanted = match mode {
                Some(c) => match AccessMode::from_letter(*c) {
                    Some(m) => Some(m),
                    None => return false,
                },
                None => None,
            };
            match (wanted, pos) {
                (Some(mode), Some(i)) => {
                    let changed = reg.access[i].mode != mode;
                    reg.access[i].mode = mode;
                    changed
                }
                (Some(mode), None) => {
                    reg.access.push(Access { account: account.clone(), mode });
                    true
                }
                (None, Some(i)) => {
                    reg.access.remove(i);
                    true
                }
                (None, None) => false,
            }
        }
        RegistrationChange::Founder { account } => {
            let Some(reg) = st.registration.as_mut() else { return false };
            if reg.founder == *account {
                return false;
            }
            reg.founder = account.clone();
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::channel::Channel;

    fn amode(account: &str, mode: Option<char>) -> RegistrationChange {
        RegistrationChange::Access { account: account.into(), mode }
    }

    #[test]
    fn changes_apply_in_order_and_again_harmlessly() {
        let ch = Channel::new("#c", 1);
        let mut st = ch.write();
        let cm = Casemap::Rfc1459;
        assert!(!apply(&mut st, cm, &amode("bob", Some('o'))), "not registered yet");
        let reg = RegistrationChange::Register { founder: "alice".into(), at: 7 };
        assert!(apply(&mut st, cm, &reg));
        assert!(!apply(&mut st, cm, &reg), "the same registration again changes nothing");
        assert!(apply(&mut st, cm, &amode("bob", Some('o'))));
        assert!(apply(&mut st, cm, &amode("BOB", Some('v'))), "the same account, any case");
        assert!(!apply(&mut st, cm, &amode("bob", Some('x'))), "an unknown letter changes nothing");
        assert!(apply(&mut st, cm, &amode("carol", Some('o'))));
        assert!(apply(&mut st, cm, &amode("Carol", None)));
        assert!(!apply(&mut st, cm, &amode("carol", None)));
        assert!(apply(&mut st, cm, &RegistrationChange::Founder { account: "bob".into() }));
        let r = st.registration.as_deref().unwrap();
        assert_eq!((r.founder.as_str(), r.registered_at), ("bob", 7));
        assert_eq!(r.access, vec![Access { account: "bob".into(), mode: AccessMode::Voice }]);
        assert!(apply(&mut st, cm, &RegistrationChange::Drop));
        assert!(st.registration.is_none());
        assert!(!apply(&mut st, cm, &RegistrationChange::Drop));
        assert!(!apply(&mut st, cm, &RegistrationChange::Founder { account: "x".into() }));
    }

    #[test]
    fn changes_are_short_json() {
        let c = amode("bob", Some('o'));
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"k":"amode","account":"bob","mode":"o"}"#);
        assert_eq!(serde_json::from_str::<RegistrationChange>(&json).unwrap(), c);
        let off: RegistrationChange = serde_json::from_str(r#"{"k":"amode","account":"bob"}"#).unwrap();
        assert_eq!(off, amode("bob", None));
        assert!(serde_json::from_str::<RegistrationChange>(r#"{"k":"nope"}"#).is_err());
    }
}
