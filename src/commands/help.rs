//! HELP: the index is generated from the command table, and every command in
//! the table has a topic here (a test checks both ways), so HELP cannot fall
//! behind the commands the server understands.

use super::{err, Ctx, HandlerResult, COMMANDS};
use crate::proto::numeric::*;
use crate::proto::Message;

/// One help topic: the command, its syntax and what it does.
pub struct Topic {
    /// The command, upper case, as in the command table.
    pub name: &'static str,
    /// How to call it.
    pub syntax: &'static str,
    /// What it does, in a sentence or two.
    pub text: &'static str,
}

const fn t(name: &'static str, syntax: &'static str, text: &'static str) -> Topic {
    Topic { name, syntax, text }
}

/// A topic for every command in [`COMMANDS`].
pub static TOPICS: &[Topic] = &[
    t("ADMIN", "ADMIN", "Shows who runs this server and how to reach them."),
    t(
        "AUTHENTICATE",
        "AUTHENTICATE <mechanism|data>",
        "SASL login (PLAIN, SCRAM-SHA-256, EXTERNAL) after CAP REQ :sasl; your client does this for you.",
    ),
    t("AWAY", "AWAY [:<message>]", "Marks you as away with a message, or back without one."),
    t("CAP", "CAP LS [302] | REQ :<caps> | END", "Negotiates IRCv3 capabilities; your client does this for you."),
    t(
        "CERTFP",
        "CERTFP [ADD | DEL <fingerprint> | LIST]",
        "Links this connection's TLS client certificate to your account, for SASL EXTERNAL.",
    ),
    t("CS", "CS <command> [<params>]", "Short for CHANSERV."),
    t(
        "CHANSERV",
        "CHANSERV <command> [<params>]",
        "Talks to ChanServ, which registers channels. CHANSERV HELP lists its commands.",
    ),
    t(
        "CHATHISTORY",
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS <target> ...",
        "Fetches past messages of a channel or conversation (IRCv3 draft/chathistory).",
    ),
    t("DIE", "DIE", "Operators: stops the server (when server.allow_die is set)."),
    t("HELP", "HELP [<command>]", "Lists the commands, or explains one."),
    t("HELPOP", "HELPOP [<command>]", "The same as HELP."),
    t("INFO", "INFO", "Shows the server's version and uptime."),
    t("INVITE", "INVITE <nick> <#channel>", "Invites someone to a channel (needed to join an invite-only +i channel)."),
    t("ISON", "ISON <nick> [<nick>...]", "Says which of the nicks are online."),
    t(
        "JOIN",
        "JOIN <#channel>[,<#channel>] [<key>[,<key>]]",
        "Joins a channel, creating it if it does not exist. Channel names start with #. JOIN 0 leaves all.",
    ),
    t("KICK", "KICK <#channel> <nick> [:<reason>]", "Channel operators: removes someone from a channel."),
    t("KILL", "KILL <nick> :<reason>", "Operators: disconnects a user."),
    t("LINKS", "LINKS", "Lists the servers of the network (this one)."),
    t("LIST", "LIST [<#channel>|<filter>]", "Lists channels with their member counts. Filters: >n, <n, mask, !mask."),
    t("LUSERS", "LUSERS", "Counts users, operators and channels."),
    t(
        "MARKREAD",
        "MARKREAD <target> [timestamp=<time>]",
        "Gets or sets how far you have read a channel or conversation (IRCv3 draft/read-marker).",
    ),
    t(
        "METADATA",
        "METADATA <target> GET|SET|LIST|CLEAR|SUB|UNSUB|SUBS|SYNC ...",
        "Key/value data on users and channels (IRCv3 draft/metadata-3).",
    ),
    t("MODE", "MODE <target> [<modes> [<params>]]", "Shows or changes user or channel modes."),
    t("MONITOR", "MONITOR + <nicks> | - <nicks> | C | L | S", "Tells you when the nicks come online or go offline."),
    t("MOTD", "MOTD", "Shows the message of the day."),
    t("NAMES", "NAMES [<#channel>]", "Lists the members of a channel."),
    t(
        "NICK",
        "NICK <nick>",
        "Sets or changes your nickname: a letter or one of [ ] \\ ` _ ^ { | } first, then also digits and -.",
    ),
    t(
        "NICKSERV",
        "NICKSERV <command> [<params>]",
        "Talks to NickServ, which holds your account's settings (SET MULTICLIENT ON|OFF).",
    ),
    t("NOTICE", "NOTICE <target> :<text>", "Like PRIVMSG, but never answered automatically."),
    t("NS", "NS <command> [<params>]", "Short for NICKSERV."),
    t("OPER", "OPER <name> <password>", "Makes you an IRC operator."),
    t("PART", "PART <#channel>[,<#channel>] [:<reason>]", "Leaves channels."),
    t(
        "RENAME",
        "RENAME <#old> <#new> [:<reason>]",
        "Channel operators: renames a channel (IRCv3 draft/channel-rename).",
    ),
    t(
        "PASS",
        "PASS <account>:<password>",
        "Before NICK/USER: logs in to an account (or gives the server password, when the server has one).",
    ),
    t("PING", "PING <token>", "Asks the server to answer PONG <token>."),
    t("PONG", "PONG <token>", "Answers the server's PING; your client does this for you."),
    t("PRIVMSG", "PRIVMSG <target>[,<target>] :<text>", "Sends a message to a channel or a nick."),
    t("QUIT", "QUIT [:<reason>]", "Disconnects (logs out), leaving every channel."),
    t("REHASH", "REHASH", "Operators: reloads the configuration file."),
    t("REDACT", "REDACT <target> <msgid> [:<reason>]", "Deletes a message you sent (IRCv3 draft/message-redaction)."),
    t("REGAIN", "REGAIN <nick>", "Takes your account's nick back from whoever uses it; they become Guest<N>."),
    t("REGISTER", "REGISTER <account|*> <email|*> <password>", "Creates an account and logs you in."),
    t("RESTART", "RESTART", "Operators: restarts the server (when server.allow_restart is set)."),
    t("SETNAME", "SETNAME :<realname>", "Changes your real name."),
    t("STATS", "STATS <letter>", "Server statistics: STATS u is the uptime."),
    t("TAGMSG", "TAGMSG <target>", "Sends only message tags (typing notifications, reactions)."),
    t("TIME", "TIME", "Shows the server's time."),
    t("TOPIC", "TOPIC <#channel> [:<topic>]", "Shows or sets a channel topic."),
    t("USER", "USER <username> 0 * :<realname>", "Part of connecting, with NICK; your client does this for you."),
    t("USERHOST", "USERHOST <nick> [<nick>...]", "Shows the user@host of nicks."),
    t("VERIFY", "VERIFY <account> <code>", "Completes an account registration by code (this server needs none)."),
    t("VERSION", "VERSION", "Shows the server's version and ISUPPORT tokens."),
    t("WALLOPS", "WALLOPS :<text>", "Operators: sends a message to every user with mode +w."),
    t("WHO", "WHO <mask|#channel> [o][%fields[,token]]", "Lists users with their user@host."),
    t("WHOIS", "WHOIS <nick>", "Shows information about a user."),
    t("WHOWAS", "WHOWAS <nick>", "Shows who last used a nick."),
];

/// The index: every command in the table, in lines of at most `width` bytes.
fn index_lines(width: usize) -> Vec<String> {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    names.sort_unstable();
    let mut lines = vec!["banter understands these commands. HELP <command> explains one:".to_owned()];
    let mut line = String::new();
    for name in names {
        if !line.is_empty() && line.len() + 1 + name.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(name);
    }
    lines.push(line);
    lines
}

/// HELP / HELPOP `[command]`.
pub fn help(ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    let subject = msg.param(0);
    let (shown, lines) = if subject.is_empty() {
        ("*", index_lines(300))
    } else {
        let Some(topic) = TOPICS.iter().find(|t| t.name.eq_ignore_ascii_case(subject)) else {
            return err(ERR_HELPNOTFOUND, &[subject]);
        };
        (topic.name, vec![topic.syntax.to_owned(), topic.text.to_owned()])
    };
    let mut iter = lines.iter();
    ctx.numeric(RPL_HELPSTART, &[shown, iter.next().map(String::as_str).unwrap_or("")]);
    for l in iter {
        ctx.numeric(RPL_HELPTXT, &[shown, l]);
    }
    ctx.numeric(RPL_ENDOFHELP, &[shown, "End of /HELP"]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_topic_and_every_topic_a_command() {
        for c in COMMANDS {
            assert!(TOPICS.iter().any(|t| t.name == c.name), "HELP has no topic for {}: add one to TOPICS", c.name);
        }
        for t in TOPICS {
            assert!(COMMANDS.iter().any(|c| c.name == t.name), "HELP topic {} is not a command", t.name);
        }
    }

    #[test]
    fn the_index_lists_every_command() {
        let index = index_lines(300).join(" ");
        for c in COMMANDS {
            assert!(index.split(' ').any(|w| w == c.name), "{} missing from {index}", c.name);
        }
        assert!(index_lines(300).iter().all(|l| l.len() <= 300));
    }
}
