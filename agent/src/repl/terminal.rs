//! The terminal side of the REPL: rustyline line editing with a history file, multi-line
//! input, Ctrl-C and Ctrl-D.
//!
//! - While the user types, the terminal is in raw mode and Ctrl-C reaches rustyline as a key:
//!   the line (or the multi-line input so far) is dropped.
//! - While the agent works, the terminal is back in cooked mode and Ctrl-C is a SIGINT; the
//!   REPL catches it (it never ends the process) and hands it to [`Repl::handle`] as the
//!   interrupt, which cancels the generation or query.
//! - Ctrl-D on an empty line, or `:quit`, leaves.
//!
//! The editor runs on a blocking thread (rustyline reads the terminal synchronously), so the
//! async runtime keeps serving the agent's work.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor};

use super::input::InputBuffer;
use super::{Flow, Repl};
use crate::error::{AgentError, AgentResult};

/// How the terminal loop behaves.
#[derive(Debug, Clone, Default)]
pub struct TerminalOptions {
    /// The history file; `None` keeps no history.
    pub history_file: Option<PathBuf>,
    /// Printed once before the first prompt.
    pub banner: Option<String>,
}

/// `$XDG_DATA_HOME/learnat/history` when `XDG_DATA_HOME` is set (and not empty), else
/// `$HOME/.local/share/learnat/history`; `None` when neither is set.
pub fn default_history_path(
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(dir) = xdg_data_home.filter(|value| !value.is_empty()) {
        return Some(Path::new(&dir).join("learnat/history"));
    }
    home.filter(|value| !value.is_empty())
        .map(|home| Path::new(&home).join(".local/share/learnat/history"))
}

/// [`default_history_path`] from this process's environment.
pub fn history_path_from_environment() -> Option<PathBuf> {
    default_history_path(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
}

/// Ctrl-C while the agent works.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Catch SIGINT from now on (so Ctrl-C never ends the REPL).
    fn install() -> AgentResult<Interrupts> {
        #[cfg(unix)]
        {
            let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map_err(|error| AgentError::Interface {
                    what: "cannot catch Ctrl-C",
                    message: error.to_string(),
                })?;
            Ok(Interrupts { signal })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// Forget a Ctrl-C that arrived between inputs, so it does not cancel the next one.
    fn drain(&mut self) {
        #[cfg(unix)]
        {
            use futures::FutureExt;
            while let Some(Some(())) = self.signal.recv().now_or_never() {}
        }
    }

    /// Resolves at the next Ctrl-C.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            if self.signal.recv().await.is_none() {
                // The signal driver is gone: never interrupt rather than interrupt at once.
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The editor and what reading one line gave.
type ReadOutcome = (DefaultEditor, Result<String, ReadlineError>, Option<String>);

/// Read one line on a blocking thread, first adding `remember` to the history (and its file).
/// The third value is a history problem to report, if any.
async fn read_line(
    mut editor: DefaultEditor,
    prompt: &'static str,
    remember: Option<String>,
    history_file: Option<PathBuf>,
) -> AgentResult<ReadOutcome> {
    tokio::task::spawn_blocking(move || {
        let mut problem = None;
        if let Some(entry) = remember {
            let _ = editor.add_history_entry(entry);
            if let Some(path) = &history_file
                && let Err(error) = editor.append_history(path)
            {
                problem = Some(format!(
                    "cannot write the history file {}: {error}",
                    path.display()
                ));
            }
        }
        let line = editor.readline(prompt);
        (editor, line, problem)
    })
    .await
    .map_err(|error| AgentError::Interface {
        what: "the terminal reader stopped",
        message: error.to_string(),
    })
}

/// Open the history file, creating its directory; a problem is returned as a warning.
fn open_history(editor: &mut DefaultEditor, path: &Path) -> Option<String> {
    if let Some(dir) = path.parent()
        && let Err(error) = std::fs::create_dir_all(dir)
    {
        return Some(format!(
            "cannot create the history directory {}: {error}",
            dir.display()
        ));
    }
    if path.exists() {
        if let Err(error) = editor.load_history(path) {
            return Some(format!(
                "cannot read the history file {}: {error}",
                path.display()
            ));
        }
    } else if let Err(error) = std::fs::write(path, "") {
        return Some(format!(
            "cannot create the history file {}: {error}",
            path.display()
        ));
    }
    None
}

/// Run the REPL at the terminal until `:quit` or Ctrl-D.
pub async fn run_terminal(mut repl: Repl, options: TerminalOptions) -> AgentResult<()> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)
        .map_err(|error| AgentError::Interface {
            what: "cannot configure the line editor",
            message: error.to_string(),
        })?
        .max_history_size(10_000)
        .map_err(|error| AgentError::Interface {
            what: "cannot configure the line editor",
            message: error.to_string(),
        })?
        .build();
    let mut editor = DefaultEditor::with_config(config).map_err(|error| AgentError::Interface {
        what: "cannot open the terminal",
        message: error.to_string(),
    })?;
    let mut history_file = options.history_file.clone();
    if let Some(path) = &options.history_file
        && let Some(warning) = open_history(&mut editor, path)
    {
        eprintln!("warning: {warning}; this session keeps no history");
        history_file = None;
    }
    let mut interrupts = Interrupts::install()?;
    let mut stdout = std::io::stdout();
    if let Some(banner) = &options.banner {
        writeln!(stdout, "{banner}").map_err(super::screen_error)?;
    }

    let mut buffer = InputBuffer::new();
    let mut remember: Option<String> = None;
    loop {
        let (returned, line, problem) = read_line(
            editor,
            buffer.prompt(),
            remember.take(),
            history_file.clone(),
        )
        .await?;
        editor = returned;
        if let Some(problem) = problem {
            eprintln!("warning: {problem}; history is off for the rest of this session");
            history_file = None;
        }
        let input = match line {
            Ok(line) => match buffer.push(&line) {
                Some(input) => input,
                None => continue,
            },
            // Ctrl-C while typing: drop the line (and a multi-line input so far).
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            // A window resize is reported as an error on some platforms; it is not one.
            Err(ReadlineError::Signal(_)) => continue,
            Err(error) => {
                return Err(AgentError::Interface {
                    what: "cannot read from the terminal",
                    message: error.to_string(),
                });
            }
        };
        if input.trim().is_empty() {
            continue;
        }
        remember = Some(input.clone());
        interrupts.drain();
        let flow = repl.handle(&input, interrupts.next(), &mut stdout).await?;
        if flow == Flow::Quit {
            break;
        }
    }
    // The last input (`:quit`) goes into the history too.
    if let (Some(entry), Some(path)) = (remember, &history_file) {
        let _ = editor.add_history_entry(entry);
        if let Err(error) = editor.append_history(path) {
            eprintln!(
                "warning: cannot write the history file {}: {error}",
                path.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lives_under_xdg_data_home_else_home() {
        assert_eq!(
            default_history_path(Some("/data".into()), Some("/home/u".into())),
            Some(PathBuf::from("/data/learnat/history"))
        );
        assert_eq!(
            default_history_path(Some("".into()), Some("/home/u".into())),
            Some(PathBuf::from("/home/u/.local/share/learnat/history"))
        );
        assert_eq!(default_history_path(None, None), None);
    }

    #[test]
    fn the_history_file_and_its_directory_are_created() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("deep/learnat/history");
        let mut editor = DefaultEditor::new().expect("editor");
        assert_eq!(open_history(&mut editor, &path), None);
        assert!(path.exists());
        // An existing (empty) file loads.
        assert_eq!(open_history(&mut editor, &path), None);
    }
}
