//! The async driver: one `select!` loop between the server connection, the
//! user's input and two timers (reconnect, quit), feeding the [`App`].

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::app::{Action, App};
use super::conn::{self, ConnEvent, Target, Writer};
use super::event::{Input, UiEvent};

/// How long to wait for the server to close the connection after QUIT.
const QUIT_GRACE: Duration = Duration::from_secs(2);

/// Runs the client session until it decides to exit; the last event sent to
/// `ui` is always [`UiEvent::Exit`].
pub async fn run(
    target: Target,
    user: Option<String>,
    mut input: mpsc::Receiver<Input>,
    ui: mpsc::UnboundedSender<UiEvent>,
) {
    let label = if target.tls.is_some() { format!("{}, TLS", target.addr) } else { target.addr.clone() };
    let mut app = App::new(&label, user);
    let (conn_tx, mut conn_rx) = mpsc::unbounded_channel();
    let mut conn_id = 0u64;
    let mut writer: Option<Writer> = None;
    let mut connect_at: Option<Instant> = None;
    let mut quit_at: Option<Instant> = None;
    let mut input_open = true;
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    app.start();
    loop {
        for action in app.take_actions() {
            match action {
                Action::Send(line) => {
                    if let Some(w) = &writer {
                        let _ = w.send(line);
                    }
                }
                Action::Ui(UiEvent::Exit(code)) => {
                    let _ = ui.send(UiEvent::Exit(code));
                    return;
                }
                Action::Ui(event) => {
                    let _ = ui.send(event);
                }
                Action::Connect(delay) => {
                    writer = None;
                    conn_id += 1;
                    if delay.is_zero() {
                        connect_at = None;
                        conn::spawn(conn_id, target.clone(), conn_tx.clone());
                    } else {
                        connect_at = Some(Instant::now() + delay);
                    }
                }
                Action::QuitSoon => {
                    if writer.is_none() {
                        let _ = ui.send(UiEvent::Exit(app.exit_code()));
                        return;
                    }
                    quit_at = Some(Instant::now() + QUIT_GRACE);
                }
            }
        }
        tokio::select! {
            Some(event) = conn_rx.recv() => match event {
                ConnEvent::Connected { id, writer: w } if id == conn_id => {
                    writer = Some(w);
                    app.on_connected();
                }
                ConnEvent::Failed { id, error } if id == conn_id => app.on_connect_failed(&error),
                ConnEvent::Message { id, msg } if id == conn_id => app.on_message(&msg),
                ConnEvent::Closed { id, reason } if id == conn_id => {
                    writer = None;
                    app.on_closed(&reason);
                }
                _ => {}
            },
            line = input.recv(), if input_open => match line {
                Some(line) => app.on_input(line),
                None => {
                    input_open = false;
                    app.on_input(Input::Eof);
                }
            },
            _ = sleep_until(connect_at.unwrap_or_else(Instant::now)), if connect_at.is_some() => {
                connect_at = None;
                conn::spawn(conn_id, target.clone(), conn_tx.clone());
            }
            _ = ticks.tick() => app.on_tick(),
            _ = sleep_until(quit_at.unwrap_or_else(Instant::now)), if quit_at.is_some() => {
                let _ = ui.send(UiEvent::Exit(app.exit_code()));
                return;
            }
        }
    }
}
