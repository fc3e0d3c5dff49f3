//! Wildcard masks (`*` and `?`) for bans, WHO and LIST, compared case-mapped.

use super::casemap::Casemap;

/// Whether `text` matches the glob `pattern` under `casemap`.
pub fn matches(casemap: Casemap, pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| casemap.fold_char(c)).collect();
    let t: Vec<char> = text.chars().map(|c| casemap.fold_char(c)).collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Completes a partial ban mask: `nick` → `nick!*@*`, `user@host` → `*!user@host`.
pub fn normalize(mask: &str) -> String {
    match (mask.contains('!'), mask.contains('@')) {
        (true, true) => mask.to_owned(),
        (true, false) => format!("{mask}@*"),
        (false, true) => format!("*!{mask}"),
        (false, false) => format!("{mask}!*@*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        let m = Casemap::Rfc1459;
        assert!(matches(m, "*!*@*", "a!b@c"));
        assert!(matches(m, "Nick*!*@127.*", "nICKname!~u@127.0.0.1"));
        assert!(matches(m, "a?c", "abc"));
        assert!(!matches(m, "a?c", "ac"));
        assert!(matches(m, "*x*y", "zzxzzy"));
        assert!(!matches(m, "*x*y", "zzxzz"));
        assert!(matches(m, "[foo]*", "{FOO}bar"));
    }

    #[test]
    fn normalizing() {
        assert_eq!(normalize("bad"), "bad!*@*");
        assert_eq!(normalize("u@h"), "*!u@h");
        assert_eq!(normalize("n!u"), "n!u@*");
    }
}
