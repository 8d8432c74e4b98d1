//! Untrusted text (a configuration value, a server's error message, a directory field)
//! made safe for one log line or one error message: the one helper every layer uses.

/// `text` as it may be printed on one line: every control character escaped (`\n`,
/// `\u{1b}`: a value can neither break the line nor drive a terminal), surrounding
/// whitespace trimmed, and at most `max_chars` characters of it kept, followed by `…`
/// when it was cut.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n >= max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_length_bounded() {
        assert_eq!(one_line("a\tb\u{1b}", 10), "a\\tb\\u{1b}");
        assert_eq!(one_line("a\nb", 10), "a\\nb");
        assert_eq!(one_line("  padded \r\n", 10), "padded");
        let long = "é".repeat(10_000);
        let cut = one_line(&long, 64);
        assert_eq!(cut.chars().count(), 65);
        assert!(cut.ends_with('…'));
        assert_eq!(one_line("", 5), "");
    }
}
