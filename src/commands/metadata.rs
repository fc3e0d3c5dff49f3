//! METADATA (IRCv3 draft/metadata-3): key/value pairs on users and channels,
//! key subscriptions, change notifications, and the automatic syncs on
//! registration, JOIN and WHOIS.
//!
//! A user is visible to everyone; a channel's metadata only to its members (and
//! IRC operators). A user edits its own keys, a channel operator the channel's;
//! IRC operators may edit any. Notifications go as `761`/`766` numerics to the
//! clients subscribed to the key that share a channel with the user or monitor
//! it, or are in the channel.

use super::{fail, CmdError, Ctx, HandlerResult};
use crate::caps::Cap;
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::Message;
use crate::state::channel::Channel;
use crate::state::client::{Client, ClientId};
use crate::state::metadata::{self, Values};
use crate::state::{fanout, monitor, Server};
use std::collections::HashSet;
use std::sync::Arc;

/// What a METADATA command is about.
pub enum Target {
    /// A user.
    User(Arc<Client>),
    /// A channel.
    Channel(Arc<Channel>),
}

impl Target {
    /// The values currently set.
    fn values(&self) -> Values {
        match self {
            Target::User(c) => c.info().metadata.values.clone(),
            Target::Channel(ch) => ch.read().metadata.clone(),
        }
    }
}

/// METADATA `<target> <subcommand> [params...]`.
pub fn metadata(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    if msg.params.len() < 2 {
        let sub = if msg.params.is_empty() { "*" } else { msg.param(0) };
        return fail("METADATA", "INVALID_PARAMS", &[sub], "Not enough parameters");
    }
    let target = msg.param(0);
    let sub = msg.param(1).to_ascii_uppercase();
    let args = &msg.params[2..];
    let needs_arg = matches!(sub.as_str(), "GET" | "SET" | "SUB" | "UNSUB");
    if needs_arg && args.is_empty() {
        return fail("METADATA", "INVALID_PARAMS", &[&sub], "Not enough parameters");
    }
    if !ctx.client.is_registered() && !ctx.server.config().metadata.before_connect {
        return super::err(ERR_NOTREGISTERED, &[]);
    }
    match sub.as_str() {
        "GET" => get(ctx, target, args),
        "LIST" => list(ctx, target),
        "SET" => set(ctx, target, args[0], args.get(1).copied().filter(|v| !v.is_empty())),
        "CLEAR" => clear(ctx, target),
        "SUB" => sub_keys(ctx, target, args),
        "UNSUB" => unsub_keys(ctx, target, args),
        "SUBS" => subs(ctx, target),
        "SYNC" => sync(ctx, target),
        _ => fail("METADATA", "INVALID_PARAMS", &[&sub], "Unknown subcommand"),
    }
}

/// Saves a persistent channel's metadata before the reply goes out.
fn persist(ctx: &mut Ctx, t: &Target) {
    if let Target::Channel(ch) = t {
        if ch.read().is_persistent() {
            let ack = ctx.server.persist_channel(ch);
            ctx.commit("METADATA", ack);
        }
    }
}

/// Resolves `*` (oneself), a nick or a channel; `FAIL INVALID_TARGET` otherwise.
fn resolve(ctx: &Ctx, target: &str) -> Result<Target, CmdError> {
    let invalid = || fail("METADATA", "INVALID_TARGET", &[target], "Invalid metadata target").unwrap_err();
    if target == "*" {
        return Ok(Target::User(ctx.client.clone()));
    }
    if !ctx.client.is_registered() {
        return Err(invalid());
    }
    if target.starts_with('#') {
        return ctx.server.find_channel(target).map(Target::Channel).ok_or_else(invalid);
    }
    match ctx.server.find_user(target) {
        Some(c) if c.is_registered() => Ok(Target::User(c)),
        _ => Err(invalid()),
    }
}

/// How `target` is named in replies: the nick or channel name (`*` for oneself
/// before registration).
fn display(ctx: &Ctx, target: &Target) -> String {
    match target {
        Target::User(c) if c.id == ctx.client.id && !c.is_registered() => "*".into(),
        Target::User(c) => c.nick(),
        Target::Channel(ch) => ch.name.clone(),
    }
}

/// Channel metadata is visible to members and IRC operators; users' to everyone.
fn can_see(client: &Client, target: &Target) -> bool {
    match target {
        Target::User(_) => true,
        Target::Channel(ch) => client.is_oper() || ch.read().members.contains_key(&client.id),
    }
}

/// A user edits its own keys, a channel operator the channel's; opers any.
fn can_edit(client: &Client, target: &Target) -> bool {
    client.is_oper()
        || match target {
            Target::User(c) => c.id == client.id,
            Target::Channel(ch) => ch.read().members.get(&client.id).is_some_and(|m| m.modes.op),
        }
}

/// Resolves and checks visibility, with the FAIL replies the spec asks for.
fn visible_target(ctx: &Ctx, target: &str) -> Result<Target, CmdError> {
    let t = resolve(ctx, target)?;
    if !can_see(&ctx.client, &t) {
        return Err(fail("METADATA", "KEY_NO_PERMISSION", &[target, "*"], "You cannot see this channel's metadata")
            .unwrap_err());
    }
    Ok(t)
}

/// Opens a batch of `kind` (only for clients with the batch capability);
/// returns where its lines start in the response buffer and its reference.
fn open_batch(ctx: &mut Ctx, kind: &str, param: Option<&str>) -> (usize, Option<String>) {
    if !ctx.has_cap(Cap::Batch) {
        return (ctx.out.len(), None);
    }
    let id = super::response::batch_id(ctx);
    let mut params = vec![format!("+{id}"), kind.to_owned()];
    params.extend(param.map(str::to_owned));
    let start = Line::new(ctx.server_name(), "BATCH", params);
    ctx.reply(start);
    (ctx.out.len(), Some(id))
}

/// Tags every reply queued since `open_batch` with the batch and closes it.
fn close_batch(ctx: &mut Ctx, (from, id): (usize, Option<String>)) {
    let Some(id) = id else { return };
    for l in &mut ctx.out[from..] {
        l.tags.push(crate::proto::line::Tag { key: "batch", value: id.clone(), cap: Cap::Batch });
    }
    let end = Line::new(ctx.server_name(), "BATCH", vec![format!("-{id}")]);
    ctx.reply(end);
}

fn key_value(ctx: &mut Ctx, target: &str, key: &str, value: &str) {
    ctx.numeric(RPL_KEYVALUE, &[target, key, "*", value]);
}

fn get(ctx: &mut Ctx, target: &str, keys: &[&str]) -> HandlerResult {
    let t = visible_target(ctx, target)?;
    let name = display(ctx, &t);
    let values = t.values();
    let max_key = ctx.server.config().metadata.max_key_bytes;
    let batch = open_batch(ctx, "metadata", Some(&name));
    for key in keys {
        if !metadata::valid_key(key, max_key) {
            let context = [key.to_string()];
            ctx.standard_reply("WARN", "METADATA", "INVALID_KEY", &context, "Invalid key");
            continue;
        }
        match values.get(*key) {
            Some(v) => key_value(ctx, &name, key, v),
            None => ctx.numeric(RPL_KEYNOTSET, &[&name, key]),
        }
    }
    close_batch(ctx, batch);
    Ok(())
}

fn list(ctx: &mut Ctx, target: &str) -> HandlerResult {
    let t = visible_target(ctx, target)?;
    let name = display(ctx, &t);
    let values = t.values();
    let batch = open_batch(ctx, "metadata", Some(&name));
    for (k, v) in &values {
        key_value(ctx, &name, k, v);
    }
    close_batch(ctx, batch);
    Ok(())
}

fn set(ctx: &mut Ctx, target: &str, key: &str, value: Option<&str>) -> HandlerResult {
    let cfg = ctx.server.config();
    let limits = &cfg.metadata;
    let t = resolve(ctx, target)?;
    if !metadata::valid_key(key, limits.max_key_bytes) {
        return fail("METADATA", "INVALID_KEY", &[key], "Invalid key");
    }
    if !can_edit(&ctx.client, &t) {
        return fail("METADATA", "KEY_NO_PERMISSION", &[target, key], "You may not change this target's metadata");
    }
    if value.is_some_and(|v| v.len() > limits.max_value_bytes) {
        return fail("METADATA", "INVALID_VALUE", &[key], "Value is too long");
    }
    let result = match &t {
        Target::User(c) => metadata::set(&mut c.info_mut().metadata.values, key, value, limits.max_keys),
        Target::Channel(ch) => metadata::set(&mut ch.write().metadata, key, value, limits.max_keys),
    };
    let name = display(ctx, &t);
    if result.is_err() {
        return fail("METADATA", "LIMIT_REACHED", &[&name, &limits.max_keys.to_string()], "Metadata limit reached");
    }
    persist(ctx, &t);
    match value {
        Some(v) => key_value(ctx, &name, key, v),
        None => ctx.numeric(RPL_KEYNOTSET, &[&name, key]),
    }
    changed(ctx, &t, &[(key.to_owned(), value.map(str::to_owned))]);
    Ok(())
}

fn clear(ctx: &mut Ctx, target: &str) -> HandlerResult {
    let t = resolve(ctx, target)?;
    if !can_edit(&ctx.client, &t) {
        return fail("METADATA", "KEY_NO_PERMISSION", &[target, "*"], "You may not change this target's metadata");
    }
    let cleared = match &t {
        Target::User(c) => std::mem::take(&mut c.info_mut().metadata.values),
        Target::Channel(ch) => std::mem::take(&mut ch.write().metadata),
    };
    let name = display(ctx, &t);
    persist(ctx, &t);
    let batch = open_batch(ctx, "metadata", Some(&name));
    for k in cleared.keys() {
        ctx.numeric(RPL_KEYNOTSET, &[&name, k]);
    }
    close_batch(ctx, batch);
    let changes: Vec<(String, Option<String>)> = cleared.into_keys().map(|k| (k, None)).collect();
    changed(ctx, &t, &changes);
    Ok(())
}

/// SUB, UNSUB and SUBS only take `*` or one's own nick.
fn check_self(ctx: &Ctx, target: &str) -> HandlerResult {
    if target == "*" || (ctx.client.is_registered() && ctx.server.fold(target) == ctx.server.fold(&ctx.client.nick())) {
        Ok(())
    } else {
        fail("METADATA", "INVALID_TARGET", &[target], "Invalid metadata target")
    }
}

fn sub_keys(ctx: &mut Ctx, target: &str, keys: &[&str]) -> HandlerResult {
    check_self(ctx, target)?;
    let cfg = ctx.server.config();
    let mut ok = Vec::new();
    let mut added = false;
    for key in keys {
        if !metadata::valid_key(key, cfg.metadata.max_key_bytes) {
            let context = [key.to_string()];
            ctx.standard_reply("WARN", "METADATA", "INVALID_KEY", &context, "Invalid key");
            continue;
        }
        let full = {
            let mut info = ctx.client.info_mut();
            let subs = &mut info.metadata.subs;
            if subs.contains(*key) {
                false
            } else if subs.len() >= cfg.metadata.max_subs {
                true
            } else {
                subs.insert(key.to_string());
                added = true;
                false
            }
        };
        if full {
            let context = [key.to_string(), cfg.metadata.max_subs.to_string()];
            ctx.standard_reply("FAIL", "METADATA", "LIMIT_REACHED", &context, "Too many subscriptions");
            break;
        }
        ok.push(key.to_string());
    }
    ctx.numeric_params(RPL_METADATASUBOK, &[], &ok);
    if added && ctx.client.is_registered() {
        // The current values are not pushed here: the client asks with SYNC.
        ctx.numeric(RPL_METADATASYNCLATER, &["*ALL", "0"]);
    }
    Ok(())
}

fn unsub_keys(ctx: &mut Ctx, target: &str, keys: &[&str]) -> HandlerResult {
    check_self(ctx, target)?;
    let max_key = ctx.server.config().metadata.max_key_bytes;
    let mut ok = Vec::new();
    for key in keys {
        if !metadata::valid_key(key, max_key) {
            let context = [key.to_string()];
            ctx.standard_reply("WARN", "METADATA", "INVALID_KEY", &context, "Invalid key");
            continue;
        }
        ctx.client.info_mut().metadata.subs.remove(*key);
        ok.push(key.to_string());
    }
    ctx.numeric_params(RPL_METADATAUNSUBOK, &[], &ok);
    Ok(())
}

fn subs(ctx: &mut Ctx, target: &str) -> HandlerResult {
    check_self(ctx, target)?;
    let keys: Vec<String> = ctx.client.info().metadata.subs.iter().cloned().collect();
    let batch = open_batch(ctx, "metadata-subs", None);
    ctx.numeric_params(RPL_METADATASUBS, &[], &keys);
    close_batch(ctx, batch);
    Ok(())
}

fn sync(ctx: &mut Ctx, target: &str) -> HandlerResult {
    if !ctx.client.is_registered() {
        return fail("METADATA", "INVALID_TARGET", &[target], "Invalid metadata target");
    }
    if target == "*ALL" {
        let channels = ctx.client.info().channels.clone();
        let mut lines = Vec::new();
        let mut seen = HashSet::new();
        for ch in &channels {
            lines.extend(channel_lines(ctx, ch, &mut seen));
        }
        for w in watched(ctx) {
            if seen.insert(w.id) {
                lines.extend(user_lines(ctx, &w));
            }
        }
        send_lines(ctx, "*ALL", lines);
        return Ok(());
    }
    let t = visible_target(ctx, target)?;
    let name = display(ctx, &t);
    let lines = match &t {
        Target::User(c) => user_lines(ctx, c),
        Target::Channel(ch) => channel_lines(ctx, ch, &mut HashSet::new()),
    };
    send_lines(ctx, &name, lines);
    Ok(())
}

/// The online users this client MONITORs.
fn watched(ctx: &Ctx) -> Vec<Arc<Client>> {
    let list: Vec<String> = ctx.client.info().monitoring.iter().cloned().collect();
    list.iter().filter_map(|n| ctx.server.find_user(n)).filter(|c| c.is_registered()).collect()
}

/// `(target, key, value)` for the keys this client subscribed to that `user` has set.
fn user_lines(ctx: &Ctx, user: &Client) -> Vec<(String, String, String)> {
    let subs = ctx.client.info().metadata.subs.clone();
    let info = user.info();
    subs.iter().filter_map(|k| info.metadata.values.get(k).map(|v| (info.nick.clone(), k.clone(), v.clone()))).collect()
}

/// The subscribed keys set on `ch` and on its members (other than this client
/// and those in `seen`, which is updated).
fn channel_lines(ctx: &Ctx, ch: &Channel, seen: &mut HashSet<u64>) -> Vec<(String, String, String)> {
    let subs = ctx.client.info().metadata.subs.clone();
    let (values, members) = {
        let st = ch.read();
        let members: Vec<Arc<Client>> = st.members_ordered().iter().map(|m| m.client.clone()).collect();
        (st.metadata.clone(), members)
    };
    let mut out: Vec<_> =
        subs.iter().filter_map(|k| values.get(k).map(|v| (ch.name.clone(), k.clone(), v.clone()))).collect();
    for m in members {
        if m.id != ctx.client.id && seen.insert(m.id) {
            out.extend(user_lines(ctx, &m));
        }
    }
    out
}

/// Sends `lines` as 761s in a `metadata` batch named after `param`.
fn send_lines(ctx: &mut Ctx, param: &str, lines: Vec<(String, String, String)>) {
    let batch = open_batch(ctx, "metadata", Some(param));
    for (t, k, v) in lines {
        key_value(ctx, &t, &k, &v);
    }
    close_batch(ctx, batch);
}

/// Whether a client should hear about `key` changes: it negotiated the
/// capability and subscribed to the key.
fn subscribed(c: &Client, key: &str) -> bool {
    c.caps().has(Cap::Metadata) && c.info().metadata.subs.contains(key)
}

/// `changes` made here: the subscribers here are told, and the other nodes
/// of a cluster (which tell theirs).
fn changed(ctx: &Ctx, target: &Target, changes: &[(String, Option<String>)]) {
    if changes.is_empty() {
        return;
    }
    notify(&ctx.server, target, changes, Some(ctx.client.id));
    crate::cluster::metadata(&ctx.server, target, changes);
}

/// `changes` another node of a cluster made: set here (not saved: its origin
/// did) and told to the subscribers here.
pub fn apply_remote(server: &Server, target: &Target, changes: &[(String, Option<String>)]) {
    let max = server.config().metadata.max_keys;
    for (key, value) in changes {
        let _ = match target {
            Target::User(c) => metadata::set(&mut c.info_mut().metadata.values, key, value.as_deref(), max),
            Target::Channel(ch) => metadata::set(&mut ch.write().metadata, key, value.as_deref(), max),
        };
    }
    notify(server, target, changes, None);
}

/// Tells the clients subscribed to the changed keys that share a channel with
/// the user or monitor it, or are in the channel, but the `changer`.
fn notify(server: &Server, target: &Target, changes: &[(String, Option<String>)], changer: Option<ClientId>) {
    if changes.is_empty() {
        return;
    }
    let (name, recipients) = match target {
        Target::User(c) => {
            if !c.is_registered() {
                return;
            }
            let mut all = fanout::peers(c);
            let mut seen: HashSet<u64> = all.iter().map(|p| p.id).collect();
            all.extend(monitor::watchers(server, &c.nick()).into_iter().filter(|w| seen.insert(w.id)));
            if Some(c.id) != changer && seen.insert(c.id) {
                all.push(c.clone());
            }
            (c.nick(), all)
        }
        Target::Channel(ch) => {
            let members: Vec<Arc<Client>> = ch.read().members.values().map(|m| m.client.clone()).collect();
            (ch.name.clone(), members)
        }
    };
    let server_name = server.config().server.name.clone();
    for r in recipients.iter().filter(|r| Some(r.id) != changer) {
        for (key, value) in changes {
            if !subscribed(r, key) {
                continue;
            }
            let nick = r.nick();
            let line = match value {
                Some(v) => Line::new(
                    server_name.clone(),
                    RPL_KEYVALUE.code,
                    vec![nick, name.clone(), key.clone(), "*".into(), v.clone()],
                ),
                None => {
                    let text = RPL_KEYNOTSET.text.unwrap_or_default().to_owned();
                    Line::new(server_name.clone(), RPL_KEYNOTSET.code, vec![nick, name.clone(), key.clone(), text])
                }
            };
            fanout::to_client(r, &line);
        }
    }
}

/// After registration: a client with the capability gets its own metadata
/// (set before connecting) in a `metadata` batch, before the MOTD.
pub fn registration_burst(ctx: &mut Ctx) {
    if !ctx.has_cap(Cap::Metadata) {
        return;
    }
    let nick = ctx.client.nick();
    let values = ctx.client.info().metadata.values.clone();
    let lines = values.into_iter().map(|(k, v)| (nick.clone(), k, v)).collect();
    send_lines(ctx, &nick, lines);
}

/// After a JOIN: a client with the capability gets the subscribed keys of the
/// channel and its members in a `metadata` batch (what `SYNC` would send).
pub fn join_sync(ctx: &mut Ctx, channel: &Channel) {
    if !ctx.has_cap(Cap::Metadata) || !ctx.has_cap(Cap::Batch) {
        return;
    }
    let lines = channel_lines(ctx, channel, &mut HashSet::new());
    send_lines(ctx, &channel.name, lines);
}

/// In WHOIS: `760` for each key set on `who`, for clients with the capability.
pub fn whois(ctx: &mut Ctx, who: &Client) {
    if !ctx.has_cap(Cap::Metadata) {
        return;
    }
    let (nick, values) = {
        let i = who.info();
        (i.nick.clone(), i.metadata.values.clone())
    };
    for (k, v) in values {
        ctx.numeric(RPL_WHOISKEYVALUE, &[&nick, &k, "*", &v]);
    }
}

/// After MONITOR reports `who` online to a metadata-aware client: `who`'s
/// subscribed keys in a `metadata` batch (what `SYNC` would send).
pub fn monitor_sync(ctx: &mut Ctx, who: &Client) {
    if !ctx.has_cap(Cap::Metadata) || !ctx.has_cap(Cap::Batch) {
        return;
    }
    let lines = user_lines(ctx, who);
    send_lines(ctx, &who.nick(), lines);
}
