//! Colours, shared by the TUI and the coloured plain mode.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};

use super::event::{Line, LineKind};

/// Colours nicks are drawn in; a nick always gets the same one.
const NICK_COLOURS: &[Color] = &[
    Color::LightBlue,
    Color::LightGreen,
    Color::LightMagenta,
    Color::LightYellow,
    Color::LightCyan,
    Color::LightRed,
    Color::Blue,
    Color::Magenta,
];

/// The colour of a nick: a stable hash of its lower-cased form.
pub fn nick_colour(nick: &str) -> Color {
    let hash = nick.to_ascii_lowercase().bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
    NICK_COLOURS[hash as usize % NICK_COLOURS.len()]
}

/// The pieces of a line with their styles: timestamp, a coloured lead-in
/// (`INFO>`, `bob>`), and the rest.
pub fn spans(line: &Line) -> Vec<(String, Style)> {
    let mut out = Vec::new();
    if let Some(time) = &line.time {
        out.push((format!("[{time}] "), Style::default().fg(Color::DarkGray)));
    }
    let text = line.text.as_str();
    match &line.kind {
        LineKind::Info => out.push((text.to_string(), Style::default().fg(Color::Cyan))),
        LineKind::Error => out.push((text.to_string(), Style::default().fg(Color::Red).add_modifier(Modifier::BOLD))),
        LineKind::Text => out.push((text.to_string(), Style::default())),
        LineKind::Action { nick } => {
            out.push((text.to_string(), Style::default().fg(nick_colour(nick)).add_modifier(Modifier::ITALIC)))
        }
        LineKind::Private { nick } => match text.split_once("* ") {
            Some((lead, rest)) => {
                out.push((format!("{lead}* "), Style::default().fg(nick_colour(nick)).add_modifier(Modifier::BOLD)));
                out.push((rest.to_string(), Style::default().fg(Color::Yellow)));
            }
            None => out.push((text.to_string(), Style::default().fg(Color::Yellow))),
        },
        LineKind::Message { nick } => match text.split_once("> ") {
            Some((lead, rest)) => {
                out.push((format!("{lead}> "), Style::default().fg(nick_colour(nick)).add_modifier(Modifier::BOLD)));
                out.push((rest.to_string(), Style::default()));
            }
            None => out.push((text.to_string(), Style::default())),
        },
    }
    out
}

/// The line as a ratatui line (one row before wrapping).
pub fn text_line(line: &Line) -> TextLine<'static> {
    TextLine::from(spans(line).into_iter().map(|(t, s)| Span::styled(t, s)).collect::<Vec<_>>())
}

/// The line with ANSI colour codes, for plain mode on a terminal.
pub fn ansi(line: &Line) -> String {
    use ratatui::crossterm::style::{Attribute, Color as CColor, Stylize};
    let mut out = String::new();
    for (text, style) in spans(line) {
        let mut styled = text.stylize();
        if let Some(fg) = style.fg {
            styled = styled.with(CColor::from(fg));
        }
        if style.add_modifier.contains(Modifier::BOLD) {
            styled = styled.attribute(Attribute::Bold);
        }
        if style.add_modifier.contains(Modifier::ITALIC) {
            styled = styled.attribute(Attribute::Italic);
        }
        out.push_str(&styled.to_string());
    }
    out
}
