//! CERTFP: link TLS client certificate fingerprints to the logged-in account,
//! so that SASL EXTERNAL logs in with the certificate alone.
//!
//! `CERTFP ADD [fingerprint]` (default: the certificate of this connection),
//! `CERTFP DEL <fingerprint>`, `CERTFP LIST` (the default). Answers are IRCv3
//! standard replies: `NOTE CERTFP <ADDED|REMOVED|FINGERPRINT|LISTED> ...` and
//! `FAIL CERTFP <code> ...`.

use super::{fail, BoxFuture, Ctx};
use crate::proto::OwnedMessage;
use crate::store::CertfpAdd;

/// Fingerprints one account may link.
pub const MAX_PER_ACCOUNT: usize = 10;

/// CERTFP `[ADD [fp] | DEL <fp> | LIST]`.
pub fn certfp(ctx: &mut Ctx, msg: OwnedMessage) -> BoxFuture<'_> {
    Box::pin(async move {
        let Some(own_account) = ctx.client.info().account.clone() else {
            return fail("CERTFP", "ACCOUNT_REQUIRED", &[], "Log in to manage certificate fingerprints");
        };
        let sub = msg.params.first().map_or("LIST".to_owned(), |s| s.to_ascii_uppercase());
        let arg = msg.params.get(1).map(String::as_str);
        let oper = ctx.client.is_oper();
        // Operators may name another account: LIST <account>, ADD|DEL <fp> <account>.
        let named = if sub == "LIST" { msg.params.get(1) } else { msg.params.get(2) };
        let account = match named {
            Some(other) if !ctx.server.casemap.eq(other, &own_account) => {
                if !oper {
                    return fail("CERTFP", "NO_PRIVILEGES", &[other], "Only operators may manage another account");
                }
                if !ctx.server.accounts.exists(other) {
                    return fail("CERTFP", "ACCOUNT_NOT_FOUND", &[other], "No such account");
                }
                other.clone()
            }
            _ => own_account.clone(),
        };
        let accounts = &ctx.server.accounts;
        let result = match sub.as_str() {
            "LIST" => accounts.certfps(&account).await.map(|fps| {
                for fp in &fps {
                    note(ctx, "FINGERPRINT", fp, &format!("Logs in to {account} with SASL EXTERNAL"));
                }
                note(ctx, "LISTED", &fps.len().to_string(), "End of certificate fingerprints");
            }),
            "ADD" => {
                let own = ctx.client.certfp.as_deref();
                let fp = match (arg, own) {
                    (Some(given), _) => match normalize(given) {
                        // Linking a fingerprint proves nothing about who holds the
                        // certificate (WHOIS shows fingerprints): a user may only
                        // link the one this connection presented; operators any.
                        Some(fp) if own == Some(fp.as_str()) || oper => fp,
                        Some(fp) => {
                            return fail(
                                "CERTFP",
                                "NOT_YOUR_CERTIFICATE",
                                &[&fp],
                                "Only the certificate of this connection can be linked: connect over TLS with it and send CERTFP ADD",
                            )
                        }
                        None => {
                            return fail("CERTFP", "INVALID_FINGERPRINT", &[given], "Expected 64 hex digits (SHA-256)")
                        }
                    },
                    (None, Some(own)) => own.to_owned(),
                    (None, None) => {
                        return fail("CERTFP", "NO_CERTIFICATE", &[], "This connection has no client certificate")
                    }
                };
                match accounts.add_certfp(&account, &fp, MAX_PER_ACCOUNT).await {
                    Ok(CertfpAdd::Added) => {
                        if own == Some(fp.as_str()) {
                            tracing::info!(account, fp, "certificate fingerprint added");
                        } else {
                            let by = ctx.client.mask();
                            tracing::warn!(account, fp, %by, "certificate fingerprint added by an operator");
                        }
                        note(ctx, "ADDED", &fp, "Certificate fingerprint linked to your account");
                        Ok(())
                    }
                    Ok(CertfpAdd::Already) => {
                        note(ctx, "ADDED", &fp, "Certificate fingerprint already linked to your account");
                        Ok(())
                    }
                    Ok(CertfpAdd::Taken) => {
                        return fail(
                            "CERTFP",
                            "FINGERPRINT_TAKEN",
                            &[&fp],
                            "That fingerprint is linked to another account",
                        )
                    }
                    Ok(CertfpAdd::Full) => {
                        let text = format!("An account may link at most {MAX_PER_ACCOUNT} fingerprints");
                        return fail("CERTFP", "TOO_MANY_FINGERPRINTS", &[&fp], &text);
                    }
                    Err(e) => Err(e),
                }
            }
            "DEL" => {
                let Some(given) = arg else {
                    return fail("CERTFP", "INVALID_PARAMS", &["DEL"], "Name the fingerprint to remove");
                };
                let Some(fp) = normalize(given) else {
                    return fail("CERTFP", "INVALID_FINGERPRINT", &[given], "Expected 64 hex digits (SHA-256)");
                };
                match accounts.remove_certfp(&account, &fp).await {
                    Ok(true) => {
                        tracing::info!(account, fp, "certificate fingerprint removed");
                        note(ctx, "REMOVED", &fp, "Certificate fingerprint unlinked");
                        Ok(())
                    }
                    Ok(false) => {
                        return fail("CERTFP", "NOT_LINKED", &[&fp], "That fingerprint is not linked to your account")
                    }
                    Err(e) => Err(e),
                }
            }
            _ => {
                return fail(
                    "CERTFP",
                    "INVALID_PARAMS",
                    &[&sub],
                    "Use CERTFP ADD [fingerprint], DEL <fingerprint> or LIST",
                )
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(_) => {
                fail("CERTFP", "TEMPORARILY_UNAVAILABLE", &[], "The account store is unavailable, try again later")
            }
        }
    })
}

fn note(ctx: &mut Ctx, code: &str, subject: &str, text: &str) {
    ctx.standard_reply("NOTE", "CERTFP", code, &[subject.to_owned()], text);
}

/// `fp` as 64 lowercase hex digits: colons (`AB:CD:…`, as openssl prints
/// fingerprints) and case are ignored; `None` if it is not a SHA-256 in hex.
pub fn normalize(fp: &str) -> Option<String> {
    let hex: String = fp.chars().filter(|c| *c != ':').map(|c| c.to_ascii_lowercase()).collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn fingerprints_are_normalized() {
        let fp = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(normalize(fp).as_deref(), Some(fp));
        let colons: Vec<String> = fp.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c).to_uppercase()).collect();
        assert_eq!(normalize(&colons.join(":")).as_deref(), Some(fp));
        assert_eq!(normalize("abc"), None);
        assert_eq!(normalize(&fp.replace('a', "g")), None);
    }
}
