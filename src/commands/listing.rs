//! Channel listings: NAMES and LIST (with ELIST filters).

use super::{Ctx, HandlerResult};
use crate::caps::{Cap, CapSet};
use crate::proto::line::{pack, room_for_text, Line};
use crate::proto::numeric::*;
use crate::proto::Message;
use crate::state::channel::Channel;
use crate::state::client::Client;
use crate::state::mask::Pattern;
use std::sync::Arc;

/// Whether the client may see `channel` in listings (not secret, or a member).
pub fn visible(ctx: &Ctx, channel: &Channel) -> bool {
    let st = channel.read();
    !st.modes.secret || st.members.contains_key(&ctx.client.id) || ctx.client.is_oper()
}

/// Every channel, ordered by name, so listings are stable.
fn sorted_channels(ctx: &Ctx) -> Vec<Arc<Channel>> {
    let mut v: Vec<(String, Arc<Channel>)> =
        ctx.server.channels.iter().map(|c| (c.key().clone(), c.value().clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, c)| c).collect()
}

/// Sends 353 lines (split to fit) and 366 for one channel.
pub fn send_names(ctx: &mut Ctx, channel: &Arc<Channel>) {
    send_name_lines(ctx, channel);
    ctx.numeric(RPL_ENDOFNAMES, &[&channel.name]);
}

/// Sends the 353 lines for one channel.
fn send_name_lines(ctx: &mut Ctx, channel: &Arc<Channel>) {
    for line in name_lines(&ctx.server_name(), &ctx.client, ctx.link.caps(), channel) {
        ctx.reply(line);
    }
}

/// The 353 lines `viewer` gets for `channel` (split to fit), as its
/// capabilities ask: all prefixes with multi-prefix, masks with
/// userhost-in-names. Used for clients that are not the one asking too (the
/// join burst a channel rename sends to clients without draft/channel-rename).
/// `caps` are those of the connection the lines go to.
pub fn name_lines(server_name: &str, viewer: &Client, caps: CapSet, channel: &Channel) -> Vec<Line> {
    let all_prefixes = caps.has(Cap::MultiPrefix);
    let uhnames = caps.has(Cap::UserhostInNames);
    let (symbol, entries, member) = {
        let st = channel.read();
        let member = st.members.contains_key(&viewer.id);
        let symbol = if st.modes.secret { "@" } else { "=" };
        let entries: Vec<String> = st
            .members_ordered()
            .into_iter()
            .filter(|m| member || !m.client.info().modes.invisible)
            .map(|m| {
                let info = m.client.info();
                let who = if uhnames { info.mask() } else { info.nick.clone() };
                format!("{}{}", m.modes.prefixes(all_prefixes), who)
            })
            .collect();
        (symbol, entries, member)
    };
    let mut out = Vec::new();
    if member || !channel.read().modes.secret {
        let nick = viewer.nick();
        let room = room_for_text(server_name, RPL_NAMREPLY.code, [nick.as_str(), symbol, &channel.name]);
        for names in pack(&entries, " ", room) {
            let params = vec![nick.clone(), symbol.to_owned(), channel.name.clone(), names];
            out.push(Line::new(server_name.to_owned(), RPL_NAMREPLY.code, params));
        }
    }
    out
}

/// NAMES `[#a,#b]`.
pub fn names(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    if msg.params.is_empty() || msg.param(0).is_empty() {
        for ch in sorted_channels(ctx) {
            if visible(ctx, &ch) {
                send_name_lines(ctx, &ch);
            }
        }
        ctx.numeric(RPL_ENDOFNAMES, &["*"]);
        return Ok(());
    }
    let names: Vec<&str> = msg.param(0).split(',').filter(|n| !n.is_empty()).collect();
    if let [name] = names[..] {
        match ctx.server.find_channel(name) {
            Some(ch) if visible(ctx, &ch) => send_names(ctx, &ch),
            _ => ctx.numeric(RPL_ENDOFNAMES, &[name]),
        }
        return Ok(());
    }
    // Several channels: their 353s, then one 366 naming the whole list.
    for name in &names {
        if let Some(ch) = ctx.server.find_channel(name).filter(|ch| visible(ctx, ch)) {
            send_name_lines(ctx, &ch);
        }
    }
    ctx.numeric(RPL_ENDOFNAMES, &[msg.param(0)]);
    Ok(())
}

/// One ELIST condition.
enum Filter {
    MoreThan(usize),
    FewerThan(usize),
    Mask(Pattern),
    NotMask(Pattern),
    /// Created more (`true`) or less than this many minutes ago.
    Created(bool, i64),
    /// Topic set more (`true`) or less than this many minutes ago.
    TopicSet(bool, i64),
}

/// LIST `[#a,#b | filters]`: channels with member counts and topics.
pub fn list(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let mut filters = Vec::new();
    let mut names: Option<Vec<String>> = None;
    for word in msg.param(0).split(',').filter(|w| !w.is_empty()) {
        let minutes = |w: &str| w[2..].parse::<i64>().unwrap_or(0);
        if word.len() > 2 && (word.starts_with("C>") || word.starts_with("C<")) {
            filters.push(Filter::Created(word.as_bytes()[1] == b'>', minutes(word)));
        } else if word.len() > 2 && (word.starts_with("T>") || word.starts_with("T<")) {
            filters.push(Filter::TopicSet(word.as_bytes()[1] == b'>', minutes(word)));
        } else if let Some(n) = word.strip_prefix('>') {
            filters.push(Filter::MoreThan(n.parse().unwrap_or(0)));
        } else if let Some(n) = word.strip_prefix('<') {
            filters.push(Filter::FewerThan(n.parse().unwrap_or(usize::MAX)));
        } else if let Some(m) = word.strip_prefix('!') {
            filters.push(Filter::NotMask(Pattern::new(ctx.server.casemap, m)));
        } else if word.contains('*') || word.contains('?') {
            filters.push(Filter::Mask(Pattern::new(ctx.server.casemap, word)));
        } else {
            names.get_or_insert_with(Vec::new).push(word.to_owned());
        }
    }
    let channels: Vec<Arc<Channel>> = match names {
        Some(n) => n.iter().filter_map(|n| ctx.server.find_channel(n)).collect(),
        None => sorted_channels(ctx),
    };
    ctx.numeric(RPL_LISTSTART, &["Channel", "Users  Name"]);
    for ch in channels {
        if !visible(ctx, &ch) {
            continue;
        }
        let (count, topic, topic_at, modes) = {
            let st = ch.read();
            let topic = st.topic.as_ref();
            (
                st.members.len(),
                topic.map(|t| t.text.clone()).unwrap_or_default(),
                topic.map(|t| t.set_at),
                st.mode_string(false).0,
            )
        };
        let now = chrono::Utc::now().timestamp();
        let older = |at: i64, more: bool, mins: i64| if more { now - at > mins * 60 } else { now - at < mins * 60 };
        let keep = filters.iter().all(|f| match f {
            Filter::MoreThan(n) => count > *n,
            Filter::FewerThan(n) => count < *n,
            Filter::Mask(m) => m.matches(&ch.name),
            Filter::NotMask(m) => !m.matches(&ch.name),
            Filter::Created(more, mins) => older(ch.created, *more, *mins),
            Filter::TopicSet(more, mins) => topic_at.is_some_and(|at| older(at, *more, *mins)),
        });
        if keep {
            let text = match (modes.len() > 1, topic.is_empty()) {
                (true, true) => format!("[{modes}]"),
                (true, false) => format!("[{modes}] {topic}"),
                _ => topic,
            };
            ctx.numeric(RPL_LIST, &[&ch.name, &count.to_string(), &text]);
        }
    }
    ctx.numeric(RPL_LISTEND, &[]);
    Ok(())
}
