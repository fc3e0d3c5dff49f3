//! Colours, shared by the TUI and the coloured plain mode.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};

use super::event::{Line, LineKind};

/// Colours nicks are drawn in; a nick always gets the same one. They are
/// xterm-256 colours, not the 16 named ones, whose shades depend on the
/// terminal's theme (light blue next to blue, light yellow invisible on
/// white): each has a 3:1 contrast against both black and white, they are
/// far apart from each other, and none is near the red of error lines (a test
/// checks all three).
const NICK_COLOURS: &[Color] = &[
    Color::Indexed(28),  // green   #008700
    Color::Indexed(30),  // teal    #008787
    Color::Indexed(69),  // blue    #5f87ff
    Color::Indexed(92),  // purple  #8700d7
    Color::Indexed(100), // olive   #878700
    Color::Indexed(133), // orchid  #af5faf
    Color::Indexed(198), // pink    #ff0087
    Color::Indexed(201), // magenta #ff00ff
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The RGB of an xterm-256 colour of the 6x6x6 cube.
    fn rgb(c: Color) -> [f64; 3] {
        let Color::Indexed(i @ 16..=231) = c else { panic!("{c:?} is not a cube colour") };
        let level = |n: u8| if n == 0 { 0.0 } else { 55.0 + 40.0 * f64::from(n) };
        let i = i - 16;
        [level(i / 36), level(i / 6 % 6), level(i % 6)]
    }

    fn luminance(c: [f64; 3]) -> f64 {
        let lin = |v: f64| {
            let v = v / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
    }

    fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
    }

    #[test]
    fn nick_colours_read_on_dark_and_light_terminals_and_differ() {
        let error_red = [205.0, 0.0, 0.0];
        for (i, &c) in NICK_COLOURS.iter().enumerate() {
            let l = luminance(rgb(c));
            assert!((l + 0.05) / 0.05 >= 3.0, "{c:?} too dark on black");
            assert!(1.05 / (l + 0.05) >= 3.0, "{c:?} too light on white");
            assert!(distance(rgb(c), error_red) > 110.0, "{c:?} looks like an error");
            for &other in &NICK_COLOURS[i + 1..] {
                assert!(distance(rgb(c), rgb(other)) > 80.0, "{c:?} and {other:?} look alike");
            }
        }
    }
}
