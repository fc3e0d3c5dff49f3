//! The terminal UI: ratatui on crossterm. One task owns the screen; key
//! presses arrive from a reader thread and session events from a channel,
//! and every change ends in a single full redraw, so messages arriving while
//! the user types never garble the input line.

mod editor;
mod view;

use std::io::{self, Stdout, Write};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;
use tokio::sync::mpsc;

use super::event::{Input, Line, LineKind, UiEvent};
use view::View;

/// How many of the last lines are printed again after leaving the screen.
const LINES_AFTER_EXIT: usize = 3;

/// Runs the TUI until the session exits; returns the exit code.
pub async fn run(mut ui: mpsc::UnboundedReceiver<UiEvent>, input: mpsc::Sender<Input>) -> i32 {
    let mut terminal = match setup() {
        Ok(terminal) => terminal,
        Err(err) => {
            eprintln!("banter: cannot start the terminal UI ({err}); try --plain");
            return 1;
        }
    };
    let (keys_tx, mut keys) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        while let Ok(event) = event::read() {
            if keys_tx.send(event).is_err() {
                break;
            }
        }
    });
    let mut view = View::default();
    let code = loop {
        if terminal.draw(|frame| view.draw(frame)).is_err() {
            break 1;
        }
        tokio::select! {
            event = ui.recv() => match event {
                Some(UiEvent::Exit(code)) => break code,
                None => break 1,
                Some(event) => apply(&mut view, event),
            },
            Some(event) = keys.recv() => {
                if let Some(line) = on_terminal_event(&mut view, event) {
                    if input.send(line).await.is_err() {
                        break 1;
                    }
                }
            }
        }
        // Take whatever else is already waiting before redrawing.
        while let Ok(event) = ui.try_recv() {
            if let UiEvent::Exit(code) = event {
                restore(&mut terminal);
                print_tail(&view);
                return code;
            }
            apply(&mut view, event);
        }
    };
    restore(&mut terminal);
    print_tail(&view);
    code
}

/// Applies a session event to the view.
fn apply(view: &mut View, event: UiEvent) {
    match event {
        UiEvent::Line(line) => view.push(line),
        UiEvent::Prompt { text, secret } => view.prompt = Some((text, secret)),
        UiEvent::Status(status) => view.status = status,
        UiEvent::Exit(_) => {}
    }
}

/// Handles a key press or resize; returns input for the session.
fn on_terminal_event(view: &mut View, event: Event) -> Option<Input> {
    let Event::Key(KeyEvent { code, modifiers, kind, .. }) = event else {
        return None; // resizes just redraw
    };
    if kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = modifiers.contains(KeyModifiers::CONTROL);
    let secret = view.secret();
    let editor = &mut view.editor;
    match code {
        KeyCode::Char('c') if ctrl => return Some(Input::Quit),
        KeyCode::Char('d') if ctrl && editor.is_empty() => return Some(Input::Quit),
        KeyCode::Char('a') if ctrl => editor.home(),
        KeyCode::Char('e') if ctrl => editor.end(),
        KeyCode::Char('u') if ctrl => editor.kill_before(),
        KeyCode::Char('k') if ctrl => editor.kill_after(),
        KeyCode::Char('w') if ctrl => editor.kill_word(),
        KeyCode::Char('l') if ctrl => view.scroll = 0,
        KeyCode::Char(c) if !ctrl => editor.insert(c),
        KeyCode::Backspace => editor.backspace(),
        KeyCode::Delete => editor.delete(),
        KeyCode::Left => editor.left(),
        KeyCode::Right => editor.right(),
        KeyCode::Home => editor.home(),
        KeyCode::End => editor.end(),
        KeyCode::Up => editor.history_up(),
        KeyCode::Down => editor.history_down(),
        KeyCode::PageUp => view.scroll += view.page.saturating_sub(1).max(1),
        KeyCode::PageDown => view.scroll = view.scroll.saturating_sub(view.page.saturating_sub(1).max(1)),
        KeyCode::Tab if !secret => editor.complete(&view.status.nicks),
        KeyCode::Enter => return Some(submit(view)),
        _ => {}
    }
    None
}

/// Takes the typed line; a dialog answer is echoed (masked if secret).
fn submit(view: &mut View) -> Input {
    let secret = view.secret();
    let line = view.editor.submit(secret);
    if let Some((prompt, _)) = view.prompt.take() {
        let shown = if secret { "*".repeat(line.chars().count()) } else { line.clone() };
        view.push(Line { time: None, kind: LineKind::Text, text: format!("{prompt} {shown}") });
    }
    view.scroll = 0;
    Input::Line(line)
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Raw mode, alternate screen, and a panic hook that undoes both.
fn setup() -> io::Result<Term> {
    enable_raw_mode()?;
    let mut stdout = io::stdout();
    if let Err(err) = execute!(stdout, EnterAlternateScreen) {
        let _ = disable_raw_mode();
        return Err(err);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen);
        previous(info);
    }));
    Terminal::new(CrosstermBackend::new(stdout))
}

/// Gives the terminal back as it was.
fn restore(terminal: &mut Term) {
    let _ = disable_raw_mode();
    let _ = execute!(terminal.backend_mut(), LeaveAlternateScreen);
    let _ = terminal.show_cursor();
}

/// Prints the last lines (the goodbye or the error) on the normal screen.
fn print_tail(view: &View) {
    let skip = view.lines.len().saturating_sub(LINES_AFTER_EXIT);
    let mut out = io::stdout().lock();
    for line in view.lines.iter().skip(skip) {
        let _ = writeln!(out, "{}", line.render());
    }
}
