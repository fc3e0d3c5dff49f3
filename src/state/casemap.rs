//! Case mapping: the one function that decides when two nicks or channel names are equal.

/// The CASEMAPPING in force (ISUPPORT advertises the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Casemap {
    /// ASCII letters only.
    Ascii,
    /// ASCII plus `[]\~` as the upper case of `{}|^`.
    Rfc1459,
}

impl Casemap {
    /// Parses the config name; unknown names fall back to rfc1459 (config validation refuses them first).
    pub fn from_name(name: &str) -> Casemap {
        if name == "ascii" {
            Casemap::Ascii
        } else {
            Casemap::Rfc1459
        }
    }

    /// Folds one character.
    pub fn fold_char(self, c: char) -> char {
        match (self, c) {
            (_, 'A'..='Z') => c.to_ascii_lowercase(),
            (Casemap::Rfc1459, '[') => '{',
            (Casemap::Rfc1459, ']') => '}',
            (Casemap::Rfc1459, '\\') => '|',
            (Casemap::Rfc1459, '~') => '^',
            _ => c,
        }
    }

    /// Folds one byte of UTF-8 text (only ASCII bytes change, so a folded
    /// string stays valid UTF-8 and folding by bytes equals folding by chars).
    pub fn fold_byte(self, b: u8) -> u8 {
        match (self, b) {
            (_, b'A'..=b'Z') => b.to_ascii_lowercase(),
            (Casemap::Rfc1459, b'[') => b'{',
            (Casemap::Rfc1459, b']') => b'}',
            (Casemap::Rfc1459, b'\\') => b'|',
            (Casemap::Rfc1459, b'~') => b'^',
            _ => b,
        }
    }

    /// The folded form used as the key of every nick and channel map.
    pub fn fold(self, s: &str) -> String {
        s.chars().map(|c| self.fold_char(c)).collect()
    }

    /// Whether two names are equal under this mapping.
    pub fn eq(self, a: &str, b: &str) -> bool {
        a.len() == b.len() && a.chars().zip(b.chars()).all(|(x, y)| self.fold_char(x) == self.fold_char(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1459_folds_brackets() {
        let m = Casemap::Rfc1459;
        assert_eq!(m.fold("Nick[A]\\~"), "nick{a}|^");
        assert!(m.eq("FOO[]", "foo{}"));
        assert!(!m.eq("foo", "fo"));
    }

    #[test]
    fn ascii_keeps_brackets() {
        let m = Casemap::Ascii;
        assert_eq!(m.fold("Nick[A]"), "nick[a]");
        assert!(!m.eq("a[", "a{"));
    }

    #[test]
    fn non_ascii_unchanged() {
        assert_eq!(Casemap::Rfc1459.fold("ÉA"), "Éa");
    }
}
