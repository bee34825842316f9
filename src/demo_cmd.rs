//! `learnat demo`: a short tour on the bundled demo database (a small shop, created on first
//! use). With a model (the `--model` flag, `LEARNAT_MODEL`, the config file, or the default
//! `gguf:qwen2.5-coder-0.5b` once `learnat model fetch qwen2.5-coder-0.5b` has put it in
//! place) it runs a scripted multi-turn conversation with the agent: a question that needs
//! joins, answered by decomposition with executed sub-queries; an ambiguous question that makes
//! the agent ask back (the script answers); and a follow-up that builds on the previous answer.
//! The last two use the zero-shot strategy, which the untrained 0.5B model handles better;
//! `--strategy` sets one strategy for all turns. Without a
//! model it shows bundled questions with their SQL and says how to get one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use crate::agent_args::AgentArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use learnat_agent::agent::{Agent, AgentOptions, AgentTurn};
use learnat_agent::frontend::{OpenedModel, chosen_spec, open_chat_model};
use learnat_agent::render::{indent, render_answer, render_clarification};
use learnat_agent::session::Session;
use learnat_tools::demo::{DEMO_SEED, create_demo_database, demo_questions};
use learnat_tools::render::render_table;
use learnat_tools::schema::{IntrospectOptions, introspect};
use learnat_tools::{Database, ExecOptions, database::open_database};

/// Arguments of `learnat demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// The demo database to use (created when missing). Default: ~/.cache/learnat/demo/shop.sqlite
    #[arg(long)]
    db: Option<PathBuf>,
    #[command(flatten)]
    agent: AgentArgs,
    /// Skip the conversation with the model; show the bundled questions only.
    #[arg(long)]
    no_model: bool,
}

/// One user turn of the scripted conversation.
struct ScriptedTurn {
    /// What the user asks.
    question: &'static str,
    /// What it shows, said before the turn.
    about: &'static str,
    /// The user's answers to clarification questions, in order (the first option of the
    /// agent's question when the script runs out).
    clarification_answers: &'static [&'static str],
    /// The strategy of this turn when `--strategy` is not given.
    strategy: &'static str,
}

/// The conversation `learnat demo` holds with the agent.
const CONVERSATION: &[ScriptedTurn] = &[
    ScriptedTurn {
        question: "Which city has the most customers? Give the city, its country and the \
                   number of customers.",
        about: "A question that needs two joins and a grouping, answered by decomposition \
                (--strategy decompose): each sub-question's SQL is executed and its result fed \
                back before the next step.",
        clarification_answers: &["by number of customers"],
        strategy: "decompose",
    },
    ScriptedTurn {
        question: "How many customers do we have in London?",
        about: "An ambiguous question: the database has two cities called London, so the \
                agent asks back instead of guessing.",
        clarification_answers: &["London, England"],
        strategy: "zero-shot",
    },
    ScriptedTurn {
        question: "And how many of them are gold or silver members?",
        about: "A follow-up: it builds on the previous question and its SQL.",
        clarification_answers: &["gold or silver loyalty tier"],
        strategy: "zero-shot",
    },
];

/// Default location of the demo database: `~/.cache/learnat/demo/shop.sqlite`.
fn default_demo_path() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; pass --db PATH")?;
    Ok(Path::new(&home).join(".cache/learnat/demo/shop.sqlite"))
}

/// Run `learnat demo`.
pub async fn run(args: DemoArgs) -> Result<ExitCode> {
    let path = match &args.db {
        Some(path) => path.clone(),
        None => default_demo_path()?,
    };
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create directory '{}'", dir.display()))?;
        }
        let summary = create_demo_database(&path, DEMO_SEED)?;
        println!(
            "Created the demo database at {}: {summary}\n",
            path.display()
        );
    }
    let path_text = path.to_string_lossy().into_owned();
    let db: Arc<dyn Database> = open_database(&path_text).await?;
    let schema = introspect(db.as_ref(), &IntrospectOptions::default()).await?;
    println!(
        "Schema of {} (compact form):\n{}",
        path.display(),
        schema.to_compact().trim_end()
    );

    let model = if args.no_model {
        None
    } else {
        choose_model(args.agent.model.as_deref()).await
    };
    match model {
        Some(opened) => converse(&db, opened, &path_text, &args.agent).await?,
        None => show_bundled_questions(&db).await?,
    }

    let options = ExecOptions {
        max_rows: 5,
        ..ExecOptions::default()
    };
    let write = "DELETE FROM customers";
    match db.execute(write, &options).await {
        Err(error) => {
            println!("\nA write is refused, and the file is untouched:\n  {write}\n  -> {error}")
        }
        Ok(_) => bail!("the demo database accepted a write: this is a bug, please report it"),
    }
    println!(
        "\nNext: learnat repl --db {}   |   learnat ask --db {} \"...\"   |   learnat sql --db {} \
         \"SELECT ...\"",
        path.display(),
        path.display(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The model to converse with, or `None` (with the reason printed) when there is none.
async fn choose_model(flag: Option<&str>) -> Option<OpenedModel> {
    let spec = match chosen_spec(flag) {
        Ok((spec, origin)) => format!("{spec} (from {origin})"),
        Err(error) => {
            println!("\nNo conversation with a model: {error}");
            return None;
        }
    };
    println!("\nOpening the model {spec}…");
    let started = Instant::now();
    match open_chat_model(flag).await {
        Ok(opened) => {
            println!(
                "Opened {} in {:.1} s.",
                opened.model.name(),
                started.elapsed().as_secs_f64()
            );
            Some(opened)
        }
        Err(error) => {
            println!(
                "\nNo conversation with a model: cannot open {spec}: {error}\n\
                 Get the default model with `learnat model fetch qwen2.5-coder-0.5b` (about \
                 400 MB), or point --model / LEARNAT_MODEL at one (gguf:PATH, \
                 openai:MODEL@URL)."
            );
            None
        }
    }
}

/// The scripted conversation with the agent.
async fn converse(
    db: &Arc<dyn Database>,
    opened: OpenedModel,
    label: &str,
    agent_args: &AgentArgs,
) -> Result<()> {
    // One agent per strategy the conversation uses; they share the session.
    let mut agents: Vec<(String, Agent)> = Vec::new();
    for turn in CONVERSATION {
        let name = agent_args.strategy_or(turn.strategy).to_string();
        if agents.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let agent = Agent::new(
            Arc::clone(&opened.model),
            Arc::clone(db),
            agent_args.build_interactive(&name)?,
            AgentOptions::default(),
        )
        .await?;
        agents.push((name, agent));
    }
    let mut session = Session::new(Some(label.to_string()));
    let used: Vec<&str> = agents.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "\nA conversation with the agent ({}, strategy {}):",
        opened.model.name(),
        if agent_args.strategy.is_some() {
            used.join(", ")
        } else {
            "decompose for turn 1, zero-shot for the others (--strategy sets all)".to_string()
        }
    );
    for (number, turn) in CONVERSATION.iter().enumerate() {
        println!(
            "\n── {}. {}\nyou> {}",
            number + 1,
            turn.about,
            turn.question
        );
        let name = agent_args.strategy_or(turn.strategy);
        let Some((_, agent)) = agents.iter().find(|(n, _)| n == name) else {
            bail!("no agent for strategy {name}");
        };
        let started = Instant::now();
        let mut reply = agent.respond(&mut session, turn.question).await;
        let mut answers = turn.clarification_answers.iter();
        // The agent may ask back (the clarifier asks at most a few times); the script answers.
        while let Ok(AgentTurn::Clarification(request)) = &reply {
            let request = request.clone();
            println!("{}", indent(&render_clarification(&request), "learnat> "));
            let answer = answers
                .next()
                .map(|answer| answer.to_string())
                .or_else(|| request.options.first().cloned())
                .unwrap_or_else(|| "whatever you think is most likely".to_string());
            println!("you> {answer}");
            reply = agent.respond(&mut session, &answer).await;
        }
        match reply {
            Ok(AgentTurn::Answer(answered)) => {
                // The exchange was printed as it happened; the answer alone follows.
                let mut shown = answered.clone();
                shown.clarifications.clear();
                println!("{}", render_answer(&shown));
                println!(
                    "({:.1} s, {} model request{})",
                    started.elapsed().as_secs_f64(),
                    answered.answer.usage.requests,
                    if answered.answer.usage.requests == 1 {
                        ""
                    } else {
                        "s"
                    }
                );
            }
            Ok(AgentTurn::Clarification(_)) => {}
            // A failed turn is part of the tour (a small model does fail); the next one goes on.
            Err(error) => println!("error: {error}"),
        }
    }
    Ok(())
}

/// The tour without a model: three bundled questions with their SQL, run read-only.
async fn show_bundled_questions(db: &Arc<dyn Database>) -> Result<()> {
    let options = ExecOptions {
        max_rows: 5,
        ..ExecOptions::default()
    };
    let questions = demo_questions()?;
    println!(
        "\nThree of the {} bundled demo questions with their SQL, run read-only:",
        questions.len()
    );
    for question in questions.iter().filter(|q| !q.is_ambiguous()).take(3) {
        println!("\nQ: {}\nSQL: {}", question.question(), question.sql());
        let result = db.execute(question.sql(), &options).await?;
        println!("{}", render_table(&result));
    }
    if let Some(ambiguous) = questions.iter().find(|q| q.is_ambiguous()) {
        println!(
            "\nAn ambiguous one (the agent will ask about it before answering):\n  {}",
            ambiguous.question()
        );
    }
    println!(
        "\nWith a model, this demo holds a conversation with the agent: a question that needs \
         joins, a clarification question, a follow-up. Get the default model with\n  \
         learnat model fetch qwen2.5-coder-0.5b\nand run `learnat demo` again."
    );
    Ok(())
}
