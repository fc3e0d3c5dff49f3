//! The operator's account CLI: `banterd account create|delete|passwd|list`.

use crate::accounts::password::{self, Cost};
use crate::config::Config;
use crate::state::casemap::Casemap;
use crate::store::location::Location;
use crate::store::AccountRow;
use std::io::{BufRead, IsTerminal};

/// Runs an account subcommand; returns the process exit code.
pub fn account_command(config: &Config, args: &[String]) -> i32 {
    let store = match Location::of(config).open() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("banterd: {e}");
            return 1;
        }
    };
    let cm = Casemap::from_name(&config.server.casemapping);
    let a = &config.accounts;
    let cost =
        Cost { memory_kib: a.argon2_memory_kib, iterations: a.argon2_iterations, parallelism: a.argon2_parallelism };
    let name = args.get(1).cloned().unwrap_or_default();
    let needs_name = matches!(args.first().map(String::as_str), Some("create" | "delete" | "passwd"));
    if needs_name && name.is_empty() {
        eprintln!("banterd account {}: an account name is needed", args[0]);
        return 2;
    }
    let result = match args.first().map(String::as_str) {
        Some("list") => store.list().map(|rows| {
            for (name, created, seen, email) in rows {
                let fmt = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
                println!(
                    "{name}\tcreated {}\tlast seen {}\t{}",
                    fmt(created),
                    seen.map(fmt).unwrap_or("never".into()),
                    email.unwrap_or_default()
                );
            }
        }),
        Some("create") => read_password(config).and_then(|pw| {
            let row = AccountRow {
                name: name.clone(),
                password_hash: password::hash(&pw, cost)?,
                scram: password::stored_scram(&pw, a),
                email: None,
                created_at: chrono::Utc::now().timestamp(),
                last_seen: None,
            };
            match store.insert(&cm.fold(&name), &row)? {
                true => {
                    println!("created account {name}");
                    Ok(())
                }
                false => Err(format!("account {name} already exists")),
            }
        }),
        Some("passwd") => read_password(config).and_then(|pw| {
            let hash = password::hash(&pw, cost)?;
            match store.set_password(&cm.fold(&name), &hash, &password::stored_scram(&pw, a))? {
                true => {
                    println!("password changed for {name}");
                    Ok(())
                }
                false => Err(format!("no account named {name}")),
            }
        }),
        Some("delete") => match store.delete(&cm.fold(&name)) {
            Ok(true) => {
                println!("deleted account {name}");
                Ok(())
            }
            Ok(false) => Err(format!("no account named {name}")),
            Err(e) => Err(e),
        },
        _ => {
            eprintln!("usage: banterd account create|delete|passwd NAME | list  [--config PATH] [--data-dir DIR]");
            return 2;
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("banterd: {e}");
            1
        }
    }
}

/// Reads a password: hidden from a terminal (asked twice), or one line of stdin.
fn read_password(config: &Config) -> Result<String, String> {
    let pw = if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let b = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if a != b {
            return Err("the passwords do not match".into());
        }
        a
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| e.to_string())?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if pw.chars().count() < config.accounts.min_password_len {
        return Err(format!("passwords must be at least {} characters", config.accounts.min_password_len));
    }
    Ok(pw)
}

/// `banterd hash-password`: prints an argon2id hash for an `[[oper]]` block.
pub fn hash_password_command(config: &Config) -> i32 {
    let a = &config.accounts;
    let cost =
        Cost { memory_kib: a.argon2_memory_kib, iterations: a.argon2_iterations, parallelism: a.argon2_parallelism };
    let mut relaxed = config.clone();
    relaxed.accounts.min_password_len = 1;
    match read_password(&relaxed).and_then(|pw| password::hash(&pw, cost)) {
        Ok(h) => {
            println!("{h}");
            0
        }
        Err(e) => {
            eprintln!("banterd: {e}");
            1
        }
    }
}
