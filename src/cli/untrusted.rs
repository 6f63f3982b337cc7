//! Text that agents wrote (titles, descriptions, artifacts, comments), made safe to print on a
//! person's terminal: an agent is untrusted input, and an escape sequence in a description
//! could otherwise move the cursor, rewrite lines already shown or change the terminal's
//! title, and make a request look like something it is not.

use std::fmt::Write as _;

/// The text with every control character other than a newline or a tab shown as a visible
/// `\u{..}` escape.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(printable("ok\n\tfine"), "ok\n\tfine");
        assert_eq!(printable("\u{1b}[2J\u{7}x"), "\\u{1b}[2J\\u{7}x");
        assert_eq!(printable("\r\u{9b}31m"), "\\u{d}\\u{9b}31m");
        assert_eq!(printable("日本 é"), "日本 é");
    }
}
