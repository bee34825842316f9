//! Helpers shared by the agent_* integration tests: the demo database and scripted models.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use learnat_agent::ChatModel;
use learnat_agent::agent::{Agent, AgentOptions};
use learnat_agent::clarify::ClarifierOptions;
use learnat_agent::model::scripted::ScriptedModel;
use learnat_agent::strategy::{Strategy, StrategyOptions, build_strategy};
use learnat_tools::Database;
use learnat_tools::database::open_database;
use learnat_tools::demo::{DEMO_SEED, create_demo_database};
use learnat_tools::schema::{IntrospectOptions, Schema, introspect};

/// The demo shop in a temporary directory (kept alive by the returned guard).
pub struct DemoDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub database: Arc<dyn Database>,
    pub schema: Schema,
}

pub async fn demo_db() -> DemoDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shop.sqlite");
    create_demo_database(&path, DEMO_SEED).expect("demo database");
    let database = open_database(path.to_str().expect("utf-8 path"))
        .await
        .expect("open demo database");
    let schema = introspect(database.as_ref(), &IntrospectOptions::default())
        .await
        .expect("introspect");
    DemoDb {
        dir,
        path,
        database,
        schema,
    }
}

/// A scripted model answering `texts` in order, and the same model as `dyn ChatModel`.
pub fn scripted<S: Into<String>>(
    texts: impl IntoIterator<Item = S>,
) -> (Arc<ScriptedModel>, Arc<dyn ChatModel>) {
    let model = Arc::new(ScriptedModel::in_order(texts));
    let dynamic: Arc<dyn ChatModel> = model.clone();
    (model, dynamic)
}

pub fn strategy(name: &str, adjust: impl FnOnce(&mut StrategyOptions)) -> Arc<dyn Strategy> {
    let mut options = StrategyOptions::defaults_for(name);
    adjust(&mut options);
    build_strategy(name, options, None).expect("strategy")
}

/// An agent over the demo database; clarification on or off.
pub fn agent(
    demo: &DemoDb,
    model: Arc<dyn ChatModel>,
    strategy: Arc<dyn Strategy>,
    clarify: bool,
) -> Agent {
    Agent::with_schema(
        model,
        Arc::clone(&demo.database),
        Arc::new(demo.schema.clone()),
        strategy,
        AgentOptions {
            clarifier: ClarifierOptions {
                enabled: clarify,
                ..ClarifierOptions::default()
            },
            ..AgentOptions::default()
        },
    )
}

/// A committed cassette file.
pub fn cassette(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cassettes")
        .join(name)
}

/// The last user message of a request.
pub fn last_user_message(request: &[learnat_agent::ChatMessage]) -> String {
    request
        .iter()
        .rev()
        .find(|m| m.role == learnat_agent::Role::User)
        .map(|m| m.content.clone())
        .unwrap_or_default()
}
