//! Plain line mode: events one per line on stdout, input lines from stdin.
//! This is what scripts and the tests drive; on a terminal it still colours
//! lines and hides the password as it is typed.

use std::io::{BufRead, IsTerminal, Write};

use tokio::sync::mpsc;

use super::event::{Input, UiEvent};
use super::style;

/// Runs the plain front end until the session exits; returns the exit code.
pub async fn run(mut ui: mpsc::UnboundedReceiver<UiEvent>, input: mpsc::Sender<Input>) -> i32 {
    let stdout_tty = std::io::stdout().is_terminal();
    let colour = stdout_tty && std::env::var_os("NO_COLOR").is_none();
    let echo = EchoGuard::new();
    let interrupt = input.clone();
    std::thread::spawn(move || read_stdin(input));
    let mut hidden = false;
    loop {
        let event = tokio::select! {
            event = ui.recv() => event,
            _ = tokio::signal::ctrl_c() => {
                let _ = interrupt.send(Input::Quit).await;
                continue;
            }
        };
        let Some(event) = event else { return 1 };
        if hidden && !matches!(event, UiEvent::Status(_)) {
            echo.set(true);
            hidden = false;
            let _ = writeln!(std::io::stdout());
        }
        let mut out = std::io::stdout().lock();
        match event {
            UiEvent::Line(line) if colour => {
                let _ = writeln!(out, "{}", style::ansi(&line));
            }
            UiEvent::Line(line) => {
                let _ = writeln!(out, "{}", line.render());
            }
            UiEvent::Prompt { text, secret } => {
                if stdout_tty {
                    let _ = write!(out, "{text} ");
                } else {
                    let _ = writeln!(out, "{text}");
                }
                if secret && echo.set(false) {
                    hidden = true;
                }
            }
            UiEvent::Status(_) => {}
            UiEvent::Exit(code) => {
                let _ = out.flush();
                return code;
            }
        }
        let _ = out.flush();
    }
}

/// Reads stdin line by line (lossy UTF-8) until end of input.
fn read_stdin(input: mpsc::Sender<Input>) {
    let stdin = std::io::stdin();
    let mut reader = stdin.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => {
                let _ = input.blocking_send(Input::Eof);
                return;
            }
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_string();
        if input.blocking_send(Input::Line(line)).is_err() {
            return;
        }
    }
}

/// Turns terminal echo off while a password is typed, and back on when
/// dropped, so an early exit never leaves the terminal silent.
struct EchoGuard {
    saved: Option<libc::termios>,
}

impl EchoGuard {
    fn new() -> EchoGuard {
        if !std::io::stdin().is_terminal() {
            return EchoGuard { saved: None };
        }
        // SAFETY: tcgetattr only writes into the termios we own.
        let mut term: libc::termios = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut term) } == 0;
        EchoGuard { saved: ok.then_some(term) }
    }

    /// Turns echo on or off; false when stdin is not a terminal.
    fn set(&self, on: bool) -> bool {
        let Some(mut term) = self.saved else {
            return false;
        };
        if !on {
            term.c_lflag &= !libc::ECHO;
        }
        // SAFETY: tcsetattr reads a termios obtained from tcgetattr.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &term) == 0 }
    }
}

impl Drop for EchoGuard {
    fn drop(&mut self) {
        self.set(true);
    }
}
