//! `banter`, the bundled terminal client. It speaks only standard IRC (plus
//! the IRCv3 extensions it finds), so it works with banterd and other servers.
//!
//! Data flow: a front end ([`tui`] or [`plain`]) sends typed lines as
//! [`event::Input`] to the [`session`], which feeds them and the server's
//! lines ([`conn`], parsed by [`irc`]) to the [`app`] state machine; the app
//! answers with lines to send and [`event::UiEvent`]s to show.

#![warn(missing_docs)]

pub mod app;
pub mod args;
pub mod commands;
pub mod conn;
pub mod event;
pub mod irc;
pub mod plain;
pub mod session;
pub mod style;
pub mod timefmt;
pub mod tls;
pub mod tui;

use std::io::IsTerminal;

use tokio::sync::mpsc;

/// Runs the client with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let opts = match args::parse(std::env::args().skip(1)) {
        Ok(args::Parsed::Run(opts)) => opts,
        Ok(args::Parsed::Help) => {
            print!("{}", args::USAGE);
            return 0;
        }
        Err(err) => {
            eprintln!("banter: {err}\n{}", args::USAGE);
            return 2;
        }
    };
    let tls = match opts.tls.then(|| tls::client_config(opts.tls_ca.as_deref())).transpose() {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("banter: --tls: {err}");
            return 2;
        }
    };
    let target = conn::Target { addr: opts.server.clone(), tls };
    let plain = opts.plain || !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("banter: cannot start: {err}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let (input_tx, input_rx) = mpsc::channel(64);
        let (ui_tx, ui_rx) = mpsc::unbounded_channel();
        tokio::spawn(session::run(target, opts.user, input_rx, ui_tx));
        if plain {
            plain::run(ui_rx, input_tx).await
        } else {
            tui::run(ui_rx, input_tx).await
        }
    })
}
