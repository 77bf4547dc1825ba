//! `Escaped`: a `Display` for logs of text a client chose (or an error that quotes it), with
//! control characters escaped, so that a newline cannot start a forged log line.

use std::fmt::{self, Write};

/// Displays the inner value with every control character escaped as Rust does in `Debug`
/// (`\n`, `\u{1b}`); everything else is left as it is, so ordinary messages read as before.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{}", self.0)
    }
}

struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for piece in text.split_inclusive(char::is_control) {
            match piece.char_indices().last() {
                Some((at, last)) if last.is_control() => {
                    self.0.write_str(&piece[..at])?;
                    write!(self.0, "{}", last.escape_debug())?;
                }
                _ => self.0.write_str(piece)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(
            Escaped("user leo\nINJECTED\r\u{1b}[31m é").to_string(),
            "user leo\\nINJECTED\\r\\u{1b}[31m é"
        );
        assert_eq!(Escaped("plain").to_string(), "plain");
    }
}
