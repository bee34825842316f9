//! What a line typed at the REPL means: a question, or a `:command`.

use std::path::PathBuf;

use crate::error::{AgentError, AgentResult};

/// A REPL command (a line starting with `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplCommand {
    /// `:help`: the commands and how input works.
    Help,
    /// `:schema [TABLE]`: the whole schema (compact), or one table's DDL with sample values.
    Schema(Option<String>),
    /// `:sql`: the last answer's SQL.
    Sql,
    /// `:plan`: the last answer's decomposition steps with their outcomes.
    Plan,
    /// `:run SQL`: run SQL directly (read-only) and show the result.
    Run(String),
    /// `:model [SPEC]`: show the model, or switch to the one SPEC names.
    Model(Option<String>),
    /// `:reset`: forget the conversation (and any pending clarification).
    Reset,
    /// `:save FILE`: write the session as JSON.
    Save(PathBuf),
    /// `:load FILE`: continue a saved session.
    Load(PathBuf),
    /// `:quit`: leave (so does Ctrl-D).
    Quit,
}

/// What one complete input is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplInput {
    /// Nothing but whitespace.
    Empty,
    /// A question for the agent (or the answer to its clarification question).
    Question(String),
    /// A command.
    Command(ReplCommand),
}

/// The command names, for `:help` and for the error on an unknown one.
pub const COMMAND_NAMES: &[&str] = &[
    ":help", ":schema", ":sql", ":plan", ":run", ":model", ":reset", ":save", ":load", ":quit",
];

/// Read one complete input (possibly several lines). Errors say what is wrong with a command
/// and how it is used.
///
/// ```
/// use learnat_agent::repl::command::{parse_input, ReplCommand, ReplInput};
/// assert_eq!(
///     parse_input(":run SELECT 1").unwrap(),
///     ReplInput::Command(ReplCommand::Run("SELECT 1".into()))
/// );
/// assert_eq!(
///     parse_input("How many orders?").unwrap(),
///     ReplInput::Question("How many orders?".into())
/// );
/// ```
pub fn parse_input(text: &str) -> AgentResult<ReplInput> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(ReplInput::Empty);
    }
    let Some(command_text) = trimmed.strip_prefix(':') else {
        return Ok(ReplInput::Question(trimmed.to_string()));
    };
    let (name, argument) = match command_text.find(char::is_whitespace) {
        Some(at) => (&command_text[..at], command_text[at..].trim()),
        None => (command_text, ""),
    };
    let argument = (!argument.is_empty()).then(|| argument.to_string());
    let usage = |usage: &str| AgentError::InvalidInput {
        message: format!("usage: {usage}"),
    };
    let no_argument = |command: ReplCommand, name: &str| match &argument {
        None => Ok(command),
        Some(_) => Err(usage(&format!(":{name} (it takes no argument)"))),
    };
    let command = match name.to_ascii_lowercase().as_str() {
        "help" | "h" | "?" => no_argument(ReplCommand::Help, "help")?,
        "schema" => ReplCommand::Schema(argument),
        "sql" => no_argument(ReplCommand::Sql, "sql")?,
        "plan" => no_argument(ReplCommand::Plan, "plan")?,
        "run" => ReplCommand::Run(argument.ok_or_else(|| usage(":run SQL"))?),
        "model" => ReplCommand::Model(argument),
        "reset" => no_argument(ReplCommand::Reset, "reset")?,
        "save" => ReplCommand::Save(PathBuf::from(argument.ok_or_else(|| usage(":save FILE"))?)),
        "load" => ReplCommand::Load(PathBuf::from(argument.ok_or_else(|| usage(":load FILE"))?)),
        "quit" | "q" | "exit" => no_argument(ReplCommand::Quit, "quit")?,
        other => {
            return Err(AgentError::InvalidInput {
                message: format!(
                    "unknown command ':{other}'; the commands are {} (:help explains them)",
                    COMMAND_NAMES.join(" ")
                ),
            });
        }
    };
    Ok(ReplInput::Command(command))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(text: &str) -> ReplCommand {
        match parse_input(text) {
            Ok(ReplInput::Command(command)) => command,
            other => panic!("'{text}' should be a command, got {other:?}"),
        }
    }

    fn error(text: &str) -> String {
        parse_input(text)
            .expect_err(&format!("'{text}' should be refused"))
            .to_string()
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(command(":help"), ReplCommand::Help);
        assert_eq!(command(":?"), ReplCommand::Help);
        assert_eq!(command(":schema"), ReplCommand::Schema(None));
        assert_eq!(
            command(":schema  customers "),
            ReplCommand::Schema(Some("customers".into()))
        );
        assert_eq!(command(":SQL"), ReplCommand::Sql);
        assert_eq!(command(":plan"), ReplCommand::Plan);
        assert_eq!(
            command(":run SELECT 1,\n  2"),
            ReplCommand::Run("SELECT 1,\n  2".into())
        );
        assert_eq!(command(":model"), ReplCommand::Model(None));
        assert_eq!(
            command(":model gguf:qwen2.5-coder-0.5b"),
            ReplCommand::Model(Some("gguf:qwen2.5-coder-0.5b".into()))
        );
        assert_eq!(command(":reset"), ReplCommand::Reset);
        assert_eq!(
            command(":save /tmp/a b.json"),
            ReplCommand::Save(PathBuf::from("/tmp/a b.json"))
        );
        assert_eq!(
            command(":load s.json"),
            ReplCommand::Load(PathBuf::from("s.json"))
        );
        assert_eq!(command(":q"), ReplCommand::Quit);
        assert_eq!(command(":exit"), ReplCommand::Quit);
    }

    #[test]
    fn questions_and_blank_lines() {
        assert_eq!(parse_input("   \n ").unwrap(), ReplInput::Empty);
        assert_eq!(
            parse_input("  Which city?\n").unwrap(),
            ReplInput::Question("Which city?".into())
        );
    }

    #[test]
    fn bad_commands_say_how_they_are_used() {
        assert!(error(":run").contains("usage: :run SQL"));
        assert!(error(":save").contains("usage: :save FILE"));
        assert!(error(":load   ").contains("usage: :load FILE"));
        assert!(error(":sql now").contains("takes no argument"));
        let unknown = error(":frobnicate x");
        assert!(
            unknown.contains("unknown command ':frobnicate'"),
            "{unknown}"
        );
        assert!(unknown.contains(":help"), "{unknown}");
    }
}
