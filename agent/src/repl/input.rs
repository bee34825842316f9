//! Multi-line input: when a line is not a complete input yet, the REPL asks for another one
//! with the continuation prompt (`   ...> `).
//!
//! An input goes on to the next line when its last line ends with a backslash (`\`, removed), or
//! when it leaves something open:
//! - a question: an unclosed `(` or `"` (apostrophes are words, "customers' orders", not
//!   quotes);
//! - `:run SQL`: an unclosed `(`, `'...'` string or `"..."` identifier.
//!
//! A blank line ends the input whatever is open, so a stray quote never traps the user.

/// The prompt of a new input.
pub const PROMPT: &str = "learnat> ";

/// The prompt of the lines that continue an input.
pub const CONTINUATION_PROMPT: &str = "   ...> ";

/// Lines typed so far for the current input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputBuffer {
    lines: Vec<String>,
}

impl InputBuffer {
    /// An empty buffer.
    pub fn new() -> InputBuffer {
        InputBuffer::default()
    }

    /// True when an input has started and waits for more lines.
    pub fn is_continuing(&self) -> bool {
        !self.lines.is_empty()
    }

    /// The prompt for the next line.
    pub fn prompt(&self) -> &'static str {
        if self.is_continuing() {
            CONTINUATION_PROMPT
        } else {
            PROMPT
        }
    }

    /// Drop what was typed (Ctrl-C).
    pub fn clear(&mut self) {
        self.lines.clear();
    }

    /// Add a typed line; the complete input (lines joined by newlines) when it is complete,
    /// `None` when another line is needed.
    ///
    /// ```
    /// use learnat_agent::repl::input::InputBuffer;
    /// let mut buffer = InputBuffer::new();
    /// assert_eq!(buffer.push(":run SELECT name FROM customers \\"), None);
    /// assert_eq!(buffer.push("WHERE city_id = 1").as_deref(),
    ///            Some(":run SELECT name FROM customers \nWHERE city_id = 1"));
    /// ```
    pub fn push(&mut self, line: &str) -> Option<String> {
        if self.is_continuing() && line.trim().is_empty() {
            return Some(self.take());
        }
        if let Some(without) = line.strip_suffix('\\') {
            self.lines.push(without.to_string());
            return None;
        }
        self.lines.push(line.to_string());
        let text = self.lines.join("\n");
        if is_open(&text) {
            None
        } else {
            Some(self.take())
        }
    }

    fn take(&mut self) -> String {
        std::mem::take(&mut self.lines).join("\n")
    }
}

/// True when `text` leaves a parenthesis or quote open (see the module docs for which quotes
/// count).
pub fn is_open(text: &str) -> bool {
    let trimmed = text.trim_start();
    let is_sql = trimmed
        .get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case(":run"));
    let mut depth: i64 = 0;
    let mut open_quote: Option<char> = None;
    for ch in trimmed.chars() {
        match open_quote {
            // Inside a quote only its closing character matters; SQL's doubled quote ('')
            // closes and reopens, which leaves the state as it should be.
            Some(quote) if ch == quote => open_quote = None,
            Some(_) => {}
            None => match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                '"' => open_quote = Some('"'),
                '\'' if is_sql => open_quote = Some('\''),
                _ => {}
            },
        }
    }
    depth > 0 || open_quote.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_are_inputs_at_once() {
        let mut buffer = InputBuffer::new();
        assert_eq!(
            buffer.push("What's the customers' total?").as_deref(),
            Some("What's the customers' total?")
        );
        assert!(!buffer.is_continuing());
        assert_eq!(buffer.prompt(), PROMPT);
    }

    #[test]
    fn a_trailing_backslash_continues() {
        let mut buffer = InputBuffer::new();
        assert_eq!(buffer.push("How many orders \\"), None);
        assert!(buffer.is_continuing());
        assert_eq!(buffer.prompt(), CONTINUATION_PROMPT);
        assert_eq!(
            buffer.push("were placed in 2024?").as_deref(),
            Some("How many orders \nwere placed in 2024?")
        );
        assert!(!buffer.is_continuing());
    }

    #[test]
    fn open_parentheses_and_sql_strings_continue() {
        let mut buffer = InputBuffer::new();
        assert_eq!(buffer.push(":run SELECT COUNT(*) FROM (SELECT 1"), None);
        assert_eq!(
            buffer.push("UNION ALL SELECT 2)").as_deref(),
            Some(":run SELECT COUNT(*) FROM (SELECT 1\nUNION ALL SELECT 2)")
        );
        assert_eq!(buffer.push(":run SELECT 'it''s"), None);
        assert_eq!(
            buffer.push("fine'").as_deref(),
            Some(":run SELECT 'it''s\nfine'")
        );
        // A parenthesis inside a string does not count.
        assert!(!is_open(":run SELECT '(' AS x"));
        assert!(is_open("Which customers (those in Paris"));
        assert!(is_open("customers named \"Smith"));
        assert!(!is_open("customers named \"Smith\""));
    }

    #[test]
    fn a_blank_line_ends_an_open_input() {
        let mut buffer = InputBuffer::new();
        assert_eq!(buffer.push(":run SELECT 'oops"), None);
        assert_eq!(buffer.push("").as_deref(), Some(":run SELECT 'oops"));
        assert!(!buffer.is_continuing());
        // A blank line with nothing typed is just an empty input.
        assert_eq!(buffer.push("").as_deref(), Some(""));
    }

    #[test]
    fn clear_drops_the_pending_lines() {
        let mut buffer = InputBuffer::new();
        assert_eq!(buffer.push("(half"), None);
        buffer.clear();
        assert!(!buffer.is_continuing());
        assert_eq!(buffer.push("whole").as_deref(), Some("whole"));
    }
}
