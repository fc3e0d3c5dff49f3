//! Every reply that carries a list of items (MONITOR, WHOIS channels, ISON,
//! USERHOST, NAMES, METADATA subscriptions, ISUPPORT, CAP LS) with items of
//! the largest lengths the config allows: split over several lines of at most
//! 512 bytes, never cut (issue 14, item 17: MONITOR L listed 30 of 40 nicks of
//! 30 characters, WHOIS 18 of 40 channels of 50).

mod common;
use common::*;
use std::collections::BTreeSet;

/// A 64-character server name and network name, 64-character nicks,
/// 200-character channel names, 100-byte metadata keys.
fn config() -> String {
    let server = format!("{}.example", "s".repeat(56));
    BASE_CONFIG
        .replace("name = \"test.banter\"", &format!("name = \"{server}\""))
        .replace("network = \"TestNet\"", &format!("network = \"{}\"", "N".repeat(64)))
        .replace(
            "exempt = [\"127.0.0.1\"]",
            "exempt = [\"127.0.0.1\"]\nnick_len = 64\nchannel_len = 200\nmax_per_ip = 100",
        )
        + "\n[metadata]\nmax_key_bytes = 100\n"
}

/// A nick of 64 characters ending in `i`.
fn long_nick(prefix: char, i: usize) -> String {
    let tail = format!("{i:03}");
    format!("{}{tail}", prefix.to_string().repeat(64 - tail.len()))
}

/// The message body (without tags) of every line fits in 510 bytes + CRLF.
fn all_fit(lines: &[String]) {
    for l in lines {
        let body = if l.starts_with('@') { l.split_once(' ').map_or("", |x| x.1) } else { l };
        assert!(body.len() <= 510, "{} bytes: {l}", body.len());
    }
}

/// The items of every `code` line's parameter `index`, split on `sep`.
fn items(lines: &[String], code: &str, index: usize, sep: char) -> Vec<String> {
    lines
        .iter()
        .filter(|l| command_of(l) == code)
        .flat_map(|l| params_of(l)[index].split(sep).map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect()
}

fn set(v: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    v.into_iter().collect()
}

#[test]
fn list_replies_are_split_not_cut() {
    let s = Server::start_with(&config());
    let mut me = s.connect();
    me.send("CAP LS 302");
    let caps = me.collect_until_last_cap();
    all_fit(&caps);
    me.send("CAP REQ :userhost-in-names multi-prefix draft/metadata-3 batch");
    me.expect("CAP");
    me.send("CAP END");
    let nick = long_nick('m', 0);
    let burst = me.register(&nick);
    all_fit(&burst);
    let isupport: Vec<String> = burst
        .iter()
        .filter(|l| command_of(l) == "005")
        .flat_map(|l| {
            let p = params_of(l);
            assert_eq!(p.last().map(String::as_str), Some("are supported by this server"), "{l}");
            p[1..p.len() - 1].to_vec()
        })
        .collect();
    assert!(isupport.contains(&format!("NETWORK={}", "N".repeat(64))), "{isupport:?}");
    assert!(isupport.iter().any(|t| t == "WHOX") && isupport.iter().any(|t| t.starts_with("CHANMODES=")));

    // Eight users with 64-character nicks online, thirty-two more watched.
    let online: Vec<String> = (1..=8).map(|i| long_nick('o', i)).collect();
    let mut others: Vec<Client> = online.iter().map(|n| s.client(n)).collect();
    let offline: Vec<String> = (1..=32).map(|i| long_nick('f', i)).collect();
    let watched: Vec<String> = online.iter().chain(&offline).cloned().collect();
    let mut replies = Vec::new();
    for group in watched.chunks(6) {
        me.send(&format!("MONITOR + {}", group.join(",")));
        replies.extend(me.sync());
    }
    all_fit(&replies);
    let on: Vec<String> =
        items(&replies, "730", 1, ',').iter().map(|m| m.split('!').next().unwrap().to_owned()).collect();
    assert_eq!(set(on), set(online.clone()));
    assert_eq!(set(items(&replies, "731", 1, ',')), set(offline.clone()));
    me.send("MONITOR L");
    let list = me.collect_until("733");
    all_fit(&list);
    assert!(list.iter().filter(|l| command_of(l) == "732").count() > 1, "split over lines");
    let folded = |v: &[String]| set(v.iter().map(|n| n.to_lowercase()));
    assert_eq!(set(items(&list, "732", 1, ',')), folded(&watched), "every watched nick listed");
    me.send("MONITOR S");
    let status = me.sync();
    all_fit(&status);
    assert_eq!(items(&status, "730", 1, ',').len(), 8);
    assert_eq!(items(&status, "731", 1, ',').len(), 32);

    // ISON and USERHOST with the longest nicks that fit in one command.
    me.send(&format!("ISON {}", online[..7].join(" ")));
    let ison = me.sync();
    all_fit(&ison);
    assert_eq!(set(items(&ison, "303", 1, ' ')), set(online[..7].to_vec()));
    me.send(&format!("USERHOST {}", online[..5].join(" ")));
    let uh = me.sync();
    all_fit(&uh);
    let nicks: Vec<String> =
        items(&uh, "302", 1, ' ').iter().map(|e| e.split('=').next().unwrap().to_owned()).collect();
    assert_eq!(set(nicks), set(online[..5].to_vec()));

    // Forty channels of 200 characters: WHOIS lists every one.
    let channels: Vec<String> = (0..40).map(|i| format!("#{}{i:03}", "c".repeat(196))).collect();
    for ch in &channels {
        me.send(&format!("JOIN {ch}"));
        me.expect("366");
    }
    let asker = &mut others[0];
    asker.sync();
    asker.send(&format!("WHOIS {nick}"));
    let whois = asker.collect_until("318");
    all_fit(&whois);
    let listed: Vec<String> =
        items(&whois, "319", 2, ' ').iter().map(|c| c.trim_start_matches('@').to_owned()).collect();
    assert_eq!(set(listed), set(channels.clone()), "every channel in WHOIS");

    // NAMES of a 200-character channel, with nick!user@host of 64-character nicks.
    for o in others.iter_mut() {
        o.send(&format!("JOIN {}", channels[0]));
        o.expect("366");
    }
    me.sync();
    me.send(&format!("NAMES {}", channels[0]));
    let names = me.collect_until("366");
    all_fit(&names);
    let members: Vec<String> = items(&names, "353", 3, ' ')
        .iter()
        .map(|m| m.trim_start_matches('@').split('!').next().unwrap().to_owned())
        .collect();
    assert_eq!(set(members), set(online.iter().cloned().chain([nick.clone()])));

    // Metadata subscriptions with keys of 100 bytes.
    let keys: Vec<String> = (0..12).map(|i| format!("{}{i:02}", "k".repeat(98))).collect();
    let mut subs = Vec::new();
    for group in keys.chunks(4) {
        me.send(&format!("METADATA * SUB {}", group.join(" ")));
        subs.extend(me.sync());
    }
    all_fit(&subs);
    let ok: Vec<String> =
        subs.iter().filter(|l| command_of(l) == "770").flat_map(|l| params_of(l)[1..].to_vec()).collect();
    assert_eq!(set(ok), set(keys.clone()));
    me.send("METADATA * SUBS");
    let listed = me.sync();
    all_fit(&listed);
    let all: Vec<String> =
        listed.iter().filter(|l| command_of(l) == "772").flat_map(|l| params_of(l)[1..].to_vec()).collect();
    assert_eq!(set(all), set(keys));
}

trait CapLs {
    fn collect_until_last_cap(&mut self) -> Vec<String>;
}

impl CapLs for Client {
    /// CAP LS lines up to the last one (without `*`).
    fn collect_until_last_cap(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.expect("CAP");
            let last = params_of(&l)[2] != "*";
            out.push(l);
            if last {
                return out;
            }
        }
    }
}
