//! NickServ: account settings. `/msg NickServ <command> ...` or `/NS ...`.
//!
//! Accounts are made with REGISTER and used with SASL or PASS (docs/accounts.md);
//! NickServ only holds the settings of the account you are logged in to. Today
//! one: `SET MULTICLIENT ON|OFF`, as on ergo.

use super::notice;
use crate::commands::Ctx;

/// NickServ's nick.
pub const NICK: &str = "NickServ";

/// Runs one NickServ command; every answer is a NOTICE from NickServ.
pub async fn handle(ctx: &mut Ctx, text: &str) {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [set, what, value] if set.eq_ignore_ascii_case("SET") && what.eq_ignore_ascii_case("MULTICLIENT") => {
            set_multiclient(ctx, value).await
        }
        [set, ..] if set.eq_ignore_ascii_case("SET") => {
            notice(ctx, NICK, "Usage: SET MULTICLIENT ON|OFF");
        }
        _ => help(ctx),
    }
}

fn help(ctx: &mut Ctx) {
    notice(ctx, NICK, "NickServ holds the settings of the account you are logged in to.");
    notice(ctx, NICK, "  SET MULTICLIENT ON|OFF   Whether other connections logged in to your account");
    notice(ctx, NICK, "                           share your nick (attach) instead of getting 433.");
    notice(ctx, NICK, "Accounts: REGISTER <name> * <password>, then log in with SASL or PASS name:password.");
}

async fn set_multiclient(ctx: &mut Ctx, value: &str) {
    let on = match value.to_ascii_uppercase().as_str() {
        "ON" | "TRUE" => true,
        "OFF" | "FALSE" => false,
        _ => return notice(ctx, NICK, "Usage: SET MULTICLIENT ON|OFF"),
    };
    let Some(account) = ctx.client.info().account.clone() else {
        return notice(ctx, NICK, "You are not logged in to an account.");
    };
    let text = match ctx.server.accounts.set_multiclient(&account, on).await {
        Ok(true) if on => format!("Multiclient is now on for {account}: connections logging in share your nick."),
        Ok(true) => format!("Multiclient is now off for {account}: another connection gets 433 for your nick."),
        Ok(false) => format!("The account {account} no longer exists."),
        Err(e) => format!("The setting could not be saved: {}", e.text()),
    };
    notice(ctx, NICK, &text);
}
