//! The input line: editing keys and history, free of any terminal code.

/// How many submitted lines the history keeps.
const HISTORY_MAX: usize = 500;

/// An editable line with a cursor and a history of submitted lines.
#[derive(Debug, Default, Clone)]
pub struct Editor {
    chars: Vec<char>,
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing history; `history.len()` means "new line".
    browse: usize,
    /// What was being typed before browsing started.
    draft: String,
}

impl Editor {
    /// The current text.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    /// The cursor position, in characters.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// True when nothing is typed.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char) {
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.chars.remove(self.cursor);
        }
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.chars.len() {
            self.chars.remove(self.cursor);
        }
    }

    /// Moves the cursor one character left.
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// Moves the cursor one character right.
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.chars.len());
    }

    /// Moves to the start of the line.
    pub fn home(&mut self) {
        self.cursor = 0;
    }

    /// Moves to the end of the line.
    pub fn end(&mut self) {
        self.cursor = self.chars.len();
    }

    /// Deletes from the start of the line to the cursor (Ctrl-U).
    pub fn kill_before(&mut self) {
        self.chars.drain(..self.cursor);
        self.cursor = 0;
    }

    /// Deletes from the cursor to the end of the line (Ctrl-K).
    pub fn kill_after(&mut self) {
        self.chars.truncate(self.cursor);
    }

    /// Deletes the word before the cursor (Ctrl-W).
    pub fn kill_word(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.chars[start - 1] == ' ' {
            start -= 1;
        }
        while start > 0 && self.chars[start - 1] != ' ' {
            start -= 1;
        }
        self.chars.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Completes the word before the cursor to the first of `candidates`
    /// it starts (case-insensitively); a nick at the start of the line gets
    /// `: ` after it, as IRC users expect.
    pub fn complete(&mut self, candidates: &[String]) {
        let start = self.chars[..self.cursor].iter().rposition(|c| *c == ' ').map_or(0, |i| i + 1);
        let word: String = self.chars[start..self.cursor].iter().collect::<String>().to_lowercase();
        if word.is_empty() {
            return;
        }
        let Some(found) = candidates.iter().find(|c| c.to_lowercase().starts_with(&word)) else {
            return;
        };
        let suffix = if start == 0 { ": " } else { " " };
        let replacement: Vec<char> = format!("{found}{suffix}").chars().collect();
        let added = replacement.len();
        self.chars.splice(start..self.cursor, replacement);
        self.cursor = start + added;
    }

    /// Takes the line out; it goes into the history unless `secret`.
    pub fn submit(&mut self, secret: bool) -> String {
        let line = self.text();
        self.set(String::new());
        if !secret && !line.trim().is_empty() && self.history.last() != Some(&line) {
            self.history.push(line.clone());
            if self.history.len() > HISTORY_MAX {
                self.history.remove(0);
            }
        }
        self.browse = self.history.len();
        line
    }

    /// Shows the previous history entry (Up).
    pub fn history_up(&mut self) {
        if self.browse == 0 {
            return;
        }
        if self.browse == self.history.len() {
            self.draft = self.text();
        }
        self.browse -= 1;
        let entry = self.history[self.browse].clone();
        self.set(entry);
    }

    /// Shows the next history entry, or the draft after the last (Down).
    pub fn history_down(&mut self) {
        if self.browse >= self.history.len() {
            return;
        }
        self.browse += 1;
        let entry = match self.history.get(self.browse) {
            Some(entry) => entry.clone(),
            None => std::mem::take(&mut self.draft),
        };
        self.set(entry);
    }

    fn set(&mut self, text: String) {
        self.chars = text.chars().collect();
        self.cursor = self.chars.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(s: &str) -> Editor {
        let mut e = Editor::default();
        s.chars().for_each(|c| e.insert(c));
        e
    }

    #[test]
    fn edits() {
        let mut e = typed("hello world");
        e.kill_word();
        assert_eq!(e.text(), "hello ");
        e.home();
        e.delete();
        e.insert('j');
        assert_eq!(e.text(), "jello ");
        e.end();
        e.backspace();
        e.left();
        e.kill_after();
        assert_eq!(e.text(), "jell");
        e.kill_before();
        assert!(e.is_empty());
    }

    #[test]
    fn tab_completes_nicks() {
        let nicks = vec!["Alice".to_string(), "bob".to_string()];
        let mut e = typed("al");
        e.complete(&nicks);
        assert_eq!(e.text(), "Alice: ");
        let mut e = typed("hi B");
        e.complete(&nicks);
        assert_eq!(e.text(), "hi bob ");
        let mut e = typed("hi zed");
        e.complete(&nicks);
        assert_eq!(e.text(), "hi zed");
    }

    #[test]
    fn history_keeps_the_draft_and_skips_secrets() {
        let mut e = typed("one");
        e.submit(false);
        "pw".chars().for_each(|c| e.insert(c));
        e.submit(true);
        "two".chars().for_each(|c| e.insert(c));
        e.submit(false);
        "dra".chars().for_each(|c| e.insert(c));
        e.history_up();
        assert_eq!(e.text(), "two");
        e.history_up();
        assert_eq!(e.text(), "one");
        e.history_up();
        assert_eq!(e.text(), "one");
        e.history_down();
        e.history_down();
        assert_eq!(e.text(), "dra");
    }
}
