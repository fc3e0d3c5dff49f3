//! What the TUI shows and how it is drawn: scrollback, status line, input.

use std::collections::VecDeque;

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::editor::Editor;
use crate::client::event::{Line, Status};
use crate::client::style;

/// How many lines the scrollback keeps.
const SCROLLBACK_MAX: usize = 5000;

/// Everything on screen.
#[derive(Debug, Default)]
pub struct View {
    /// The scrollback, oldest first.
    pub lines: VecDeque<Line>,
    /// The status line's content.
    pub status: Status,
    /// The question being asked, if any, and whether the answer is secret.
    pub prompt: Option<(String, bool)>,
    /// The input line.
    pub editor: Editor,
    /// How many rows the scrollback is scrolled up from the bottom.
    pub scroll: usize,
    /// Rows of scrollback visible at the last draw (for paging).
    pub page: usize,
}

impl View {
    /// Appends a line to the scrollback.
    pub fn push(&mut self, line: Line) {
        self.lines.push_back(line);
        if self.lines.len() > SCROLLBACK_MAX {
            self.lines.pop_front();
        }
    }

    /// True when input should be masked.
    pub fn secret(&self) -> bool {
        self.prompt.as_ref().is_some_and(|(_, secret)| *secret)
    }

    /// The label in front of the input line.
    fn label(&self) -> String {
        match (&self.prompt, &self.status.room) {
            (Some((text, _)), _) => format!("{text} "),
            (None, Some(room)) => format!("[{room}] "),
            (None, None) => "> ".to_string(),
        }
    }

    /// Draws the whole screen.
    pub fn draw(&mut self, frame: &mut Frame) {
        let [body, status, input] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)]).areas(frame.area());
        self.draw_scrollback(frame, body);
        self.draw_status(frame, status);
        self.draw_input(frame, input);
    }

    fn draw_scrollback(&mut self, frame: &mut Frame, area: Rect) {
        let (width, height) = (usize::from(area.width.max(1)), usize::from(area.height));
        self.page = height;
        let want = height + self.scroll;
        let mut rows: VecDeque<TextLine<'static>> = VecDeque::new();
        for line in self.lines.iter().rev() {
            for row in wrap(style::text_line(line), width).into_iter().rev() {
                rows.push_front(row);
            }
            if rows.len() >= want {
                break;
            }
        }
        // Keep the scroll offset inside what exists.
        self.scroll = self.scroll.min(rows.len().saturating_sub(height));
        let end = rows.len() - self.scroll;
        let start = end.saturating_sub(height);
        let visible: Vec<TextLine> = rows.drain(start..end).collect();
        frame.render_widget(Paragraph::new(visible), area);
    }

    fn draw_status(&self, frame: &mut Frame, area: Rect) {
        let width = usize::from(area.width);
        let text = status_text(&self.status, self.scroll, width);
        let bar = Style::default().fg(Color::White).bg(Color::Blue).add_modifier(Modifier::BOLD);
        let pad = width.saturating_sub(text.chars().count());
        frame.render_widget(Paragraph::new(format!("{text}{}", " ".repeat(pad))).style(bar), area);
    }

    fn draw_input(&self, frame: &mut Frame, area: Rect) {
        let label = self.label();
        let text: Vec<char> = if self.secret() {
            vec!['*'; self.editor.text().chars().count()]
        } else {
            self.editor.text().chars().collect()
        };
        let width = usize::from(area.width);
        let label_width = label.chars().count().min(width.saturating_sub(1) / 2);
        let room = width.saturating_sub(label_width + 1).max(1);
        // Scroll the input horizontally so the cursor stays visible.
        let cursor = self.editor.cursor();
        let start = cursor.saturating_sub(room);
        let shown: String = text.iter().skip(start).take(room).collect();
        let label: String = label.chars().take(label_width).collect();
        let line = TextLine::from(vec![
            Span::styled(label, Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD)),
            Span::raw(shown),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        let x = area.x + u16::try_from(label_width + cursor - start).unwrap_or(area.width.saturating_sub(1));
        frame.set_cursor_position(Position::new(x.min(area.right().saturating_sub(1)), area.y));
    }
}

/// The status line for `width` columns. What matters most is kept when it
/// does not fit: the connection state and the room, then the nick; the
/// "banter" label and the server address go first. (Cut at the right edge, a
/// narrow terminal used to show `| con` for the connection state.)
fn status_text(s: &Status, scroll: usize, width: usize) -> String {
    let room = s.room.as_ref().map(|room| {
        let word = if s.members == 1 { "member" } else { "members" };
        format!("[{room}] {} {word}", s.members)
    });
    let scrolled = (scroll > 0).then(|| format!("scrolled up {scroll} (PgDn)"));
    let build = |label: bool, server: bool, nick: bool| {
        let mut parts = Vec::new();
        match (label, server) {
            (true, true) => parts.push(format!("banter {}", s.server)),
            (true, false) => parts.push("banter".to_string()),
            (false, true) => parts.push(s.server.clone()),
            (false, false) => {}
        }
        parts.extend(s.nick.clone().filter(|_| nick));
        parts.extend(room.clone());
        parts.push(s.link.clone());
        parts.extend(scrolled.clone());
        format!(" {}", parts.join(" | "))
    };
    let tries = [(true, true, true), (false, true, true), (false, false, true), (false, false, false)];
    tries
        .iter()
        .map(|&(label, server, nick)| build(label, server, nick))
        .find(|text| text.chars().count() <= width)
        .unwrap_or_else(|| build(false, false, false).chars().take(width).collect())
}

/// Splits a styled line into rows of at most `width` columns, between words:
/// a row ends after the last space that fits, and only a word longer than a
/// whole row is cut. (Cutting at the column used to split words, and left a
/// lone `.` on a row of its own when a line was one column too long.)
fn wrap(line: TextLine<'static>, width: usize) -> Vec<TextLine<'static>> {
    let chars: Vec<(char, Style)> =
        line.spans.iter().flat_map(|span| span.content.chars().map(move |c| (c, span.style))).collect();
    let mut rows = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut used = 0;
        let mut end = start;
        while end < chars.len() && (used + char_width(chars[end].0) <= width || end == start) {
            used += char_width(chars[end].0);
            end += 1;
        }
        let mut next = end;
        if end < chars.len() {
            // Break after the last space in the row, if the row has one (and
            // the break is not simply at a space that fell just past it).
            if chars[end].0 != ' ' {
                if let Some(space) = (start + 1..end).rev().find(|&i| chars[i].0 == ' ') {
                    end = space + 1;
                    next = end;
                }
            }
            while next < chars.len() && chars[next].0 == ' ' {
                next += 1;
            }
        }
        rows.push(styled_row(&chars[start..end]));
        start = next;
    }
    if rows.is_empty() {
        rows.push(TextLine::default());
    }
    rows
}

/// One row, its characters grouped back into spans of one style; trailing
/// spaces are dropped.
fn styled_row(chars: &[(char, Style)]) -> TextLine<'static> {
    let keep = chars.len() - chars.iter().rev().take_while(|(c, _)| *c == ' ').count();
    let mut spans: Vec<Span<'static>> = Vec::new();
    for &(c, style) in &chars[..keep] {
        match spans.last_mut() {
            Some(span) if span.style == style => span.content.to_mut().push(c),
            _ => spans.push(Span::styled(c.to_string(), style)),
        }
    }
    TextLine::from(spans)
}

/// Display width of one character (wide CJK and emoji take two columns).
fn char_width(c: char) -> usize {
    if c.is_ascii() {
        1
    } else {
        Span::raw(c.to_string()).width()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[TextLine]) -> Vec<String> {
        rows.iter().map(|r| r.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn wraps_by_width() {
        let rows = wrap(TextLine::from("abcdefghij"), 4);
        assert_eq!(texts(&rows), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap(TextLine::from(""), 4).len(), 1);
    }

    #[test]
    fn wraps_between_words() {
        assert_eq!(texts(&wrap(TextLine::from("hello big world"), 9)), ["hello big", "world"]);
        assert_eq!(texts(&wrap(TextLine::from("hello big world"), 7)), ["hello", "big", "world"]);
        assert_eq!(texts(&wrap(TextLine::from("a verylongword"), 5)), ["a", "veryl", "ongwo", "rd"]);
        // A line one column too long moves its last word, never a lone ".".
        let long = format!("ERROR> {}the ends.", "word ".repeat(17));
        assert_eq!(long.chars().count(), 100 + 1);
        let rows = texts(&wrap(TextLine::from(long), 100));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], "ends.");
    }

    #[test]
    fn status_line_keeps_what_matters_when_narrow() {
        let status = Status {
            server: "127.0.0.1:44659".into(),
            nick: Some("alice".into()),
            room: Some("room1".into()),
            members: 2,
            nicks: Vec::new(),
            link: "connected".into(),
        };
        let full = " banter 127.0.0.1:44659 | alice | [room1] 2 members | connected";
        assert_eq!(status_text(&status, 0, 100), full);
        assert_eq!(status_text(&status, 0, 60), " 127.0.0.1:44659 | alice | [room1] 2 members | connected");
        assert_eq!(status_text(&status, 0, 40), " alice | [room1] 2 members | connected");
        assert_eq!(status_text(&status, 0, 32), " [room1] 2 members | connected");
        assert_eq!(status_text(&status, 0, 10).chars().count(), 10);
    }

    #[test]
    fn wrapping_keeps_styles() {
        let red = Style::default().fg(Color::Red);
        let line = TextLine::from(vec![Span::raw("bob> "), Span::styled("hi there", red)]);
        let rows = wrap(line, 8);
        assert_eq!(texts(&rows), ["bob> hi", "there"]);
        assert_eq!(rows[0].spans[1].style, red);
        assert_eq!(rows[1].spans[0].style, red);
    }
}
