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
        let s = &self.status;
        let mut parts = vec![format!(" banter {}", s.server)];
        if let Some(nick) = &s.nick {
            parts.push(nick.clone());
        }
        if let Some(room) = &s.room {
            let word = if s.members == 1 { "member" } else { "members" };
            parts.push(format!("[{room}] {} {word}", s.members));
        }
        parts.push(s.link.clone());
        if self.scroll > 0 {
            parts.push(format!("scrolled up {} (PgDn)", self.scroll));
        }
        let text = parts.join(" | ");
        let bar = Style::default().fg(Color::White).bg(Color::Blue).add_modifier(Modifier::BOLD);
        let pad = usize::from(area.width).saturating_sub(text.chars().count());
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

/// Splits a styled line into rows of at most `width` columns.
fn wrap(line: TextLine<'static>, width: usize) -> Vec<TextLine<'static>> {
    let mut rows = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = char_width(c);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(TextLine::from(std::mem::take(&mut row)));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    rows.push(TextLine::from(row));
    rows
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

    #[test]
    fn wraps_by_width() {
        let rows = wrap(TextLine::from("abcdefghij"), 4);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].width(), 2);
        assert_eq!(wrap(TextLine::from(""), 4).len(), 1);
    }
}
