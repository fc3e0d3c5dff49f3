//! RPL_ISUPPORT (005) tokens, built from the config in this one place.

use crate::config::Config;

/// Channel modes by ISUPPORT CHANMODES class: lists, always-param, set-param, flags.
pub const CHANMODES: &str = "beI,k,l,CimnstP";
/// Member prefixes, highest first.
pub const PREFIX: &str = "(ov)@+";
/// User modes the server knows.
pub const USER_MODES: &str = "iowB";
/// Channel modes the server knows (for 004).
pub const CHANNEL_MODES: &str = "beCIiklmnopstvP";

/// The ISUPPORT tokens for `config`, in a stable order.
pub fn tokens(config: &Config) -> Vec<String> {
    let l = &config.limits;
    let t = l.max_targets;
    vec![
        "ACCOUNTEXTBAN=a".into(),
        "AWAYLEN=".to_owned() + &l.away_len.to_string(),
        "BOT=B".into(),
        format!("CASEMAPPING={}", config.server.casemapping),
        format!("CHANLIMIT=#:{}", l.max_channels_per_client),
        format!("CHANMODES={CHANMODES}"),
        format!("CHANNELLEN={}", l.channel_len),
        format!("CHATHISTORY={}", config.history.query_limit),
        "CHANTYPES=#".into(),
        "ELIST=CMNTU".into(),
        "EXCEPTS=e".into(),
        format!("EXTBAN={},{}", crate::state::extban::PREFIX, crate::state::extban::TYPES),
        "INVEX=I".into(),
        format!("KICKLEN={}", l.kick_len),
        "LINELEN=512".into(),
        format!("MAXLIST=beI:{}", l.max_list_entries),
        format!("MAXTARGETS={t}"),
        "MODES=4".into(),
        format!("MONITOR={}", l.monitor_entries),
        "MSGREFTYPES=msgid,timestamp".into(),
        format!("NETWORK={}", config.server.network),
        format!("NICKLEN={}", l.nick_len),
        format!("PREFIX={PREFIX}"),
        "SAFELIST".into(),
        "STATUSMSG=@+".into(),
        format!("TARGMAX=JOIN:,KICK:,LIST:1,MONITOR:,NAMES:,NOTICE:{t},PART:,PRIVMSG:{t},TAGMSG:{t},WHOIS:1"),
        format!("TOPICLEN={}", l.topic_len),
        "UTF8ONLY".into(),
        "WHOX".into(),
    ]
}

/// The tokens grouped by at most 13 (a 005 line may carry no more; a group
/// too long for 512 bytes is split further when sent).
pub fn lines(config: &Config) -> Vec<Vec<String>> {
    tokens(config).chunks(13).map(|c| c.to_vec()).collect()
}
