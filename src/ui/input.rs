//! A one-line text input (the command bar and the rule editor): insert, delete, move, with the
//! cursor kept on a character boundary.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Text and cursor (a byte offset on a char boundary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineInput {
    /// The text.
    pub text: String,
    /// Cursor byte offset.
    pub cursor: usize,
}

impl LineInput {
    /// An input holding `text`, cursor at the end.
    #[must_use]
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            cursor: text.len(),
        }
    }

    /// Replaces the text, cursor at the end.
    pub fn set(&mut self, text: &str) {
        *self = Self::new(text);
    }

    fn prev(&self) -> usize {
        self.text[..self.cursor]
            .char_indices()
            .last()
            .map_or(0, |(i, _)| i)
    }

    fn next(&self) -> usize {
        self.text[self.cursor..]
            .chars()
            .next()
            .map_or(self.cursor, |c| self.cursor + c.len_utf8())
    }

    /// Handles an editing key; false when the key is not an editing key.
    pub fn key(&mut self, k: KeyEvent) -> bool {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('u') if ctrl => {
                self.text.drain(..self.cursor);
                self.cursor = 0;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.text.len(),
            KeyCode::Char(c) if !ctrl => {
                self.text.insert(self.cursor, c);
                self.cursor += c.len_utf8();
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let p = self.prev();
                self.text.drain(p..self.cursor);
                self.cursor = p;
            }
            KeyCode::Delete if self.cursor < self.text.len() => {
                let n = self.next();
                self.text.drain(self.cursor..n);
            }
            KeyCode::Left => self.cursor = self.prev(),
            KeyCode::Right => self.cursor = self.next(),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.text.len(),
            KeyCode::Backspace | KeyCode::Delete => {}
            _ => return false,
        }
        true
    }

    /// Column of the cursor (characters before it).
    #[must_use]
    pub fn column(&self) -> usize {
        self.text[..self.cursor].chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn edits_multibyte_text_on_char_boundaries() {
        let mut i = LineInput::new("aé");
        assert!(i.key(k(KeyCode::Backspace)));
        assert_eq!(i.text, "a");
        i.key(k(KeyCode::Home));
        i.key(k(KeyCode::Char('ß')));
        assert_eq!((i.text.as_str(), i.column()), ("ßa", 1));
        i.key(k(KeyCode::Delete));
        assert_eq!(i.text, "ß");
        assert!(!i.key(k(KeyCode::Tab)));
    }
}
