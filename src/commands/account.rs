//! Accounts on the wire: REGISTER and VERIFY (draft/account-registration),
//! AUTHENTICATE (SASL PLAIN and SCRAM-SHA-256), and PASS login.

use super::{fail, BoxFuture, Ctx, HandlerResult};
use crate::accounts::sasl::{self, Exchange, Mechanism, ScramStage};
use crate::accounts::throttle::Refusal;
use crate::accounts::AccountError;
use crate::proto::line::Line;
use crate::proto::numeric::*;
use crate::proto::{Message, OwnedMessage};
use crate::state::sequencer;
use std::time::Instant;

/// Logs the client in to `account`: 900, and ACCOUNT to peers with
/// account-notify (a sequenced change: the client knows its account at
/// once; on a cluster its reply goes out once the peers here were shown
/// the ACCOUNT).
pub fn login(ctx: &mut Ctx, account: &str) {
    ctx.client.info_mut().account = Some(account.to_owned());
    let who = crate::state::history::identity(&ctx.server, &ctx.client);
    ctx.waits.get_or_insert_with(Default::default).load_markers = Some(who);
    ctx.server.accounts.seen(account);
    let mask = ctx.client.mask();
    ctx.numeric(RPL_LOGGEDIN, &[&mask, account, &format!("You are now logged in as {account}")]);
    if ctx.client.is_registered() {
        // Shown to the others where the log has it, on every node alike.
        let line = ctx.client.line("ACCOUNT", vec![account.to_owned()]);
        let event = crate::cluster::Event::Account {
            node: sequencer::origin(&ctx.server),
            uid: ctx.client.id,
            line: crate::cluster::WireLine::of(&line),
            id: sequencer::token(&ctx.server),
        };
        if let Some(applying) = sequencer::in_turn(&ctx.server, event) {
            ctx.waits.get_or_insert_with(Default::default).applying.push(applying);
        }
    }
    tracing::info!(client = ctx.client.id, account, "logged in");
}

/// REGISTER `<account|*> <email|*> <password>`.
pub fn register(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let cfg = ctx.server.config();
        let (name, email, password) = (&msg.params[0], &msg.params[1], &msg.params[2]);
        if !cfg.accounts.registration {
            return fail("REGISTER", "TEMPORARILY_UNAVAILABLE", &[name], "Account registration is disabled");
        }
        if !ctx.client.is_registered() && !cfg.accounts.register_before_connect {
            return fail("REGISTER", "COMPLETE_CONNECTION_REQUIRED", &[name], "Finish connecting before registering");
        }
        if ctx.client.info().account.is_some() {
            return fail("REGISTER", "ALREADY_AUTHENTICATED", &[name], "You are already logged in");
        }
        let account = if name == "*" {
            ctx.conn.wanted_nick().map_or_else(|| ctx.client.nick(), str::to_owned)
        } else {
            name.clone()
        };
        if account == "*" || account.is_empty() {
            return fail("REGISTER", "NEED_NICK", &["*"], "Send NICK first or name the account");
        }
        if let Some(why) = crate::proto::names::nick_problem(&account, cfg.limits.nick_len) {
            let text = format!("That account name is not valid: {why}");
            return fail("REGISTER", "BAD_ACCOUNT_NAME", &[&account], &text);
        }
        if crate::services::lookup(&ctx.server, &account).is_some() {
            return fail("REGISTER", "BAD_ACCOUNT_NAME", &[&account], "That name belongs to a service");
        }
        let email = match email.as_str() {
            "*" if cfg.accounts.email_required => {
                return fail("REGISTER", "INVALID_EMAIL", &[&account], "An e-mail address is required")
            }
            "*" => None,
            e if valid_email(e) => Some(e.to_owned()),
            _ => return fail("REGISTER", "INVALID_EMAIL", &[&account], "That e-mail address is not valid"),
        };
        if password.chars().count() < cfg.accounts.min_password_len {
            let text = format!("Passwords must be at least {} characters", cfg.accounts.min_password_len);
            return fail("REGISTER", "WEAK_PASSWORD", &[&account], &text);
        }
        if password.len() > 256 {
            return fail("REGISTER", "UNACCEPTABLE_PASSWORD", &[&account], "Passwords may be at most 256 bytes");
        }
        if ctx.server.find_nick(&account).is_some_and(|c| c.id != ctx.client.id) {
            return fail("REGISTER", "ACCOUNT_EXISTS", &[&account], "That name is in use");
        }
        let origin = ctx.origin();
        match ctx.server.accounts.register(&cfg, &account, email.as_deref(), password, origin).await {
            Ok(()) => {
                let line = Line::new(
                    ctx.server_name(),
                    "REGISTER",
                    vec!["SUCCESS".into(), account.clone(), "Account created".into()],
                );
                ctx.reply(line);
                login(ctx, &account);
                Ok(())
            }
            Err(AccountError::Exists) => fail("REGISTER", "ACCOUNT_EXISTS", &[&account], "Account already exists"),
            Err(AccountError::Unavailable) => fail(
                "REGISTER",
                "TEMPORARILY_UNAVAILABLE",
                &[&account],
                "Account registration is unavailable, try again later",
            ),
            Err(e) => fail("REGISTER", "TEMPORARILY_UNAVAILABLE", &[&account], &e.text()),
        }
    })
}

fn valid_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !e.contains(' ')
        }
        None => false,
    }
}

/// VERIFY: there is no e-mail verification, so every code is refused.
pub fn verify(_ctx: &mut Ctx, msg: &Message<'_>) -> HandlerResult {
    fail("VERIFY", "INVALID_CODE", &[msg.param(0)], "This server does not use verification codes")
}

/// Checks a PASS given before registration: `account:password`, or the
/// password of the account named like the nick. Logs in on success; on failure,
/// returns why (a throttle or outage is also said as `FAIL PASS`).
pub async fn login_with_pass(ctx: &mut Ctx, pass: &str) -> Result<(), String> {
    if ctx.client.info().account.is_some() {
        return Ok(());
    }
    let (name, password) = match pass.split_once(':') {
        Some((a, p)) if !a.is_empty() => (a.to_owned(), p.to_owned()),
        // The nick asked for: a reserved one is not claimed until this login.
        _ => (ctx.conn.wanted_nick().map_or_else(|| ctx.client.nick(), str::to_owned), pass.to_owned()),
    };
    let cfg = ctx.server.config();
    let origin = ctx.origin();
    match ctx.server.accounts.check_password(&cfg, &name, &password, origin).await {
        Ok(Some(account)) => {
            login(ctx, &account);
            Ok(())
        }
        Err(e @ (AccountError::Refused(_) | AccountError::Busy(_))) => {
            ctx.standard_reply("FAIL", "PASS", "TEMPORARILY_UNAVAILABLE", &[], &e.text());
            Err(e.text())
        }
        _ => Err("wrong account name or password".into()),
    }
}

fn abort(ctx: &mut Ctx) {
    ctx.conn.sasl = None;
}

fn send_challenge(ctx: &mut Ctx, payload: &[u8]) {
    let b64 = sasl::encode(payload);
    let name = ctx.server_name();
    let mut rest = b64.as_str();
    loop {
        let (chunk, tail) = rest.split_at(rest.len().min(400));
        ctx.reply(Line::new(name.clone(), "AUTHENTICATE", vec![chunk.to_owned()]));
        rest = tail;
        if chunk.len() < 400 {
            break;
        }
        if rest.is_empty() {
            ctx.reply(Line::new(name.clone(), "AUTHENTICATE", vec!["+".to_owned()]));
            break;
        }
    }
}

fn sasl_failed(ctx: &mut Ctx) -> HandlerResult {
    abort(ctx);
    Err(super::CmdError::Numeric(ERR_SASLFAIL, vec![]))
}

/// 904 with the reason the attempt was not even checked (throttled, or the
/// server busy hashing), which says when to try again.
fn sasl_refused(ctx: &mut Ctx, e: &AccountError) -> HandlerResult {
    abort(ctx);
    Err(super::CmdError::Numeric(Numeric { text: None, ..ERR_SASLFAIL }, vec![e.text()]))
}

/// AUTHENTICATE `<mechanism>` | `<base64 chunk>` | `+` | `*`.
pub fn authenticate(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let arg = msg.params[0].as_str();
        if arg == "*" {
            abort(ctx);
            return Err(super::CmdError::Numeric(ERR_SASLABORTED, vec![]));
        }
        // A logged-in client may authenticate again (sasl-3.2 re-authentication):
        // success switches it to the new account, failure leaves it as it was.
        let Some(mut exchange) = ctx.conn.sasl.take() else {
            let cfg = ctx.server.config();
            let offered = |m: &Mechanism| cfg.accounts.scram || *m != Mechanism::ScramSha256;
            let Some(mech) = Mechanism::from_name(arg).filter(offered) else {
                ctx.numeric(RPL_SASLMECHS, &[&sasl::mechanisms(&cfg).join(",")]);
                return Err(super::CmdError::Numeric(ERR_SASLFAIL, vec![]));
            };
            ctx.conn.sasl = Some(Box::new(Exchange::new(mech)));
            let name = ctx.server_name();
            ctx.reply(Line::new(name, "AUTHENTICATE", vec!["+".into()]));
            return Ok(());
        };
        if arg.len() > 400 {
            abort(ctx);
            return Err(super::CmdError::Numeric(ERR_SASLTOOLONG, vec![]));
        }
        if arg != "+" {
            exchange.buffer.push_str(arg);
        }
        // 905 is for one line over 400 bytes; a payload too large in all is
        // a failed authentication (904), as ergo answers.
        if exchange.buffer.len() > sasl::MAX_PAYLOAD * 4 / 3 + 4 {
            abort(ctx);
            return Err(super::CmdError::Numeric(ERR_SASLFAIL, vec![]));
        }
        if arg.len() == 400 {
            ctx.conn.sasl = Some(exchange);
            return Ok(());
        }
        let Some(data) = sasl::decode(&std::mem::take(&mut exchange.buffer)) else { return sasl_failed(ctx) };
        step(ctx, exchange, data).await
    })
}

async fn step(ctx: &mut Ctx, mut exchange: Box<Exchange>, data: Vec<u8>) -> HandlerResult {
    let cfg = ctx.server.config();
    let origin = ctx.origin();
    match exchange.mechanism {
        Mechanism::Plain => {
            let Some((authz, authc, password)) = sasl::parse_plain(&data) else { return sasl_failed(ctx) };
            if !authz.is_empty() && !ctx.server.casemap.eq(&authz, &authc) {
                return sasl_failed(ctx);
            }
            match ctx.server.accounts.check_password(&cfg, &authc, &password, origin).await {
                Ok(Some(account)) => succeed(ctx, &account),
                Err(e @ (AccountError::Refused(_) | AccountError::Busy(_))) => sasl_refused(ctx, &e),
                _ => sasl_failed(ctx),
            }
        }
        Mechanism::External => {
            // The message is the authorization identity, empty for "the account
            // the certificate belongs to".
            let Some(fp) = ctx.client.certfp.clone() else { return sasl_failed(ctx) };
            let Ok(authz) = String::from_utf8(data) else { return sasl_failed(ctx) };
            match ctx.server.accounts.account_for_certfp(&fp).await {
                Ok(Some(account)) if authz.is_empty() || ctx.server.casemap.eq(&authz, &account) => {
                    succeed(ctx, &account)
                }
                _ => sasl_failed(ctx),
            }
        }
        Mechanism::ScramSha256 => match exchange.scram.clone() {
            ScramStage::Start => {
                let Some(first) = sasl::parse_client_first(&data) else { return sasl_failed(ctx) };
                let accounts = &ctx.server.accounts;
                let folded = accounts.fold(&first.user);
                let policy = crate::accounts::policy(&cfg);
                if let Some(wait) =
                    accounts.throttle.locked_for(policy, &folded, origin.key, origin.exempt, Instant::now())
                {
                    return sasl_refused(ctx, &AccountError::Refused(Refusal::Locked(wait)));
                }
                let Ok((account, keys)) = ctx.server.accounts.scram_keys(&cfg, &first.user).await else {
                    return sasl_failed(ctx);
                };
                let (server_first, stage) = sasl::server_first(&first, account, keys);
                exchange.scram = stage;
                send_challenge(ctx, server_first.as_bytes());
                ctx.conn.sasl = Some(exchange);
                Ok(())
            }
            stage @ ScramStage::Sent { .. } => {
                // Counted under the name given, known or not: unknown names
                // must not share one throttle slot (that told them apart).
                let name = match &stage {
                    ScramStage::Sent { user, .. } => user.clone(),
                    _ => String::new(),
                };
                let server = ctx.server.clone();
                let accounts = &server.accounts;
                let folded = accounts.fold(&name);
                let policy = crate::accounts::policy(&cfg);
                let attempt = match accounts.throttle.begin(policy, &folded, origin.key, origin.exempt, Instant::now())
                {
                    Ok(a) => a,
                    Err(r) => return sasl_refused(ctx, &AccountError::Refused(r)),
                };
                let verified = sasl::verify_client_final(&stage, &data);
                attempt.finish(verified.is_some());
                match verified {
                    Some((account, server_final)) => {
                        exchange.scram = ScramStage::Verified { account };
                        send_challenge(ctx, server_final.as_bytes());
                        ctx.conn.sasl = Some(exchange);
                        Ok(())
                    }
                    None => {
                        tracing::info!(account = %folded, from = %origin.key, "failed login");
                        sasl_failed(ctx)
                    }
                }
            }
            ScramStage::Verified { account } => {
                if !data.is_empty() {
                    return sasl_failed(ctx);
                }
                succeed(ctx, &account)
            }
        },
    }
}

fn succeed(ctx: &mut Ctx, account: &str) -> HandlerResult {
    abort(ctx);
    login(ctx, account);
    ctx.numeric(RPL_SASLSUCCESS, &[]);
    Ok(())
}
