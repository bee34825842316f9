//! `learnat mcp`: learnat as a Model Context Protocol server over stdio (rmcp), for MCP clients
//! (Claude Desktop, IDE agents, other frameworks).
//!
//! # Tools
//!
//! | tool | arguments | result (`structuredContent`, also as JSON text) |
//! | --- | --- | --- |
//! | `ask` | `question`, `session`?, `database`? | one agent turn: `{"status": "answer", "session", "sql", "result": {columns, rows, row_count, truncated, elapsed_ms}, "steps", ...}` or `{"status": "clarification", "session", "clarification": {question, kind, term, options}}` |
//! | `execute_sql` | `sql`, `max_rows`?, `database`? | `{columns, rows, row_count, truncated, elapsed_ms}` |
//! | `list_tables` | `database`? | `{tables: [{name, rows, columns}]}` |
//! | `describe_table` | `table`, `database`? | `{name, rows, columns, primary_key, foreign_keys, referenced_by, ddl}` |
//!
//! The SQL tools are the tools crate's built-in ones ([`learnat_tools::tool::builtin_tools`]),
//! with their JSON Schemas; every statement passes the read-only layers, so a write is a tool
//! error (`isError: true`, `{"error": {"kind": "refused", ...}}`), never a protocol error or a
//! crash.
//!
//! # Sessions and clarifications
//!
//! One `ask` call is one turn of [`Agent::respond`]. When the agent needs to ask back, the
//! result has `"status": "clarification"`: show the question to the user and call `ask` again
//! with their answer as `question` and the same `session`. Follow-up questions in the same
//! session build on the earlier answers. Without `session`, a new session is started and its
//! id is in the result; a client may also choose its own ids. Sessions live in memory (at most
//! [`McpOptions::max_sessions`], the least recently used ones are forgotten).
//!
//! # Several databases
//!
//! With several `--db`, every tool takes a `database` argument (its name: the file stem, or
//! `NAME` from `--db NAME=PATH`), and its schema lists the names. With one database it may be
//! left out.
//!
//! # Logs
//!
//! stdout is the protocol channel; logs go to stderr (`RUST_LOG`, `-v`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use learnat_tools::database::open_database;
use learnat_tools::render::render_json;
use learnat_tools::tool::{Tool, builtin_tools, find_tool};
use learnat_tools::{Database, ToolsError};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value as Json, json};
use tokio::sync::{Mutex, OnceCell};

use crate::agent::{Agent, AgentOptions, AgentTurn, RespondOptions};
use crate::error::{AgentError, AgentResult};
use crate::frontend::{OpenedModel, open_chat_model};
use crate::model::CancelFlag;
use crate::session::Session;
use crate::strategy::Strategy;

/// The tools the server offers, in `tools/list` order.
pub const MCP_TOOL_NAMES: &[&str] = &["ask", "execute_sql", "list_tables", "describe_table"];

/// The built-in SQL tools exposed as they are.
const SQL_TOOL_NAMES: &[&str] = &["execute_sql", "list_tables", "describe_table"];

/// One `--db` argument: a name for the `database` argument and what to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSpec {
    /// The name tools are called with.
    pub name: String,
    /// The SQLite path (or `postgres://` URL).
    pub target: String,
}

impl DatabaseSpec {
    /// `NAME=TARGET`, or a bare target named after its file stem (`shop.sqlite` → `shop`) or,
    /// for a URL, its last path segment.
    ///
    /// ```
    /// use learnat_agent::mcp::DatabaseSpec;
    /// assert_eq!(DatabaseSpec::parse("data/shop.sqlite").unwrap().name, "shop");
    /// let named = DatabaseSpec::parse("sales=/srv/db/2024.sqlite").unwrap();
    /// assert_eq!((named.name.as_str(), named.target.as_str()), ("sales", "/srv/db/2024.sqlite"));
    /// ```
    pub fn parse(argument: &str) -> AgentResult<DatabaseSpec> {
        let argument = argument.trim();
        let invalid = |message: String| AgentError::InvalidInput { message };
        if let Some((name, target)) = argument.split_once('=')
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            if target.trim().is_empty() {
                return Err(invalid(format!(
                    "--db {argument}: nothing after '='; use --db NAME=PATH"
                )));
            }
            return Ok(DatabaseSpec {
                name: name.to_string(),
                target: target.trim().to_string(),
            });
        }
        let name = if let Some((_, rest)) = argument.split_once("://") {
            // The database of a URL is its path: postgres://user@host:5432/NAME?options.
            rest.split(['?', '#'])
                .next()
                .and_then(|location| location.split_once('/'))
                .map(|(_, path)| path.trim_matches('/').to_string())
                .filter(|path| !path.is_empty() && !path.contains('/'))
        } else {
            Path::new(argument)
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        };
        match name {
            Some(name) if !name.is_empty() => Ok(DatabaseSpec {
                name,
                target: argument.to_string(),
            }),
            _ => Err(invalid(format!(
                "--db {argument}: cannot name this database; use --db NAME=PATH"
            ))),
        }
    }
}

/// How the server answers.
#[derive(Clone)]
pub struct McpOptions {
    /// The `--model` flag (else `LEARNAT_MODEL`, the config file, the default); opened at the
    /// first `ask`, so the SQL tools work without a model.
    pub model_flag: Option<String>,
    /// The strategy `ask` uses.
    pub strategy: Arc<dyn Strategy>,
    /// The agent's options (clarification on/off, result limits).
    pub agent_options: AgentOptions,
    /// Sessions kept in memory.
    pub max_sessions: usize,
}

/// One served database.
struct ServedDatabase {
    spec: DatabaseSpec,
    database: Arc<dyn Database>,
    tools: Vec<Arc<dyn Tool>>,
    /// Built at the first `ask` on this database (introspection needs the model to exist).
    agent: OnceCell<Agent>,
}

/// A conversation held for `ask` calls.
struct SessionSlot {
    database: usize,
    session: Arc<Mutex<Session>>,
    last_used: Instant,
}

/// The MCP server: the databases, the (lazily opened) model and the sessions.
pub struct McpServer {
    databases: Vec<ServedDatabase>,
    options: McpOptions,
    model: OnceCell<OpenedModel>,
    sessions: std::sync::Mutex<HashMap<String, SessionSlot>>,
    next_session: AtomicU64,
}

/// A tool failure as MCP wants it: a result with `isError` that the client (and its model)
/// sees, `{"error": {"kind", "message"}}`.
fn tool_error(kind: &str, message: impl Into<String>) -> CallToolResult {
    CallToolResult::structured_error(json!({"error": {"kind": kind, "message": message.into()}}))
}

fn tools_error(error: &ToolsError) -> CallToolResult {
    tool_error(error.kind(), error.to_string())
}

fn agent_error(error: &AgentError) -> CallToolResult {
    tool_error(error.kind(), error.to_string())
}

impl McpServer {
    /// Open every database (read-only) and check the names are distinct.
    pub async fn open(databases: &[DatabaseSpec], options: McpOptions) -> AgentResult<McpServer> {
        if databases.is_empty() {
            return Err(AgentError::InvalidInput {
                message: "learnat mcp needs at least one --db PATH".into(),
            });
        }
        let mut served: Vec<ServedDatabase> = Vec::with_capacity(databases.len());
        for spec in databases {
            if served.iter().any(|other| other.spec.name == spec.name) {
                return Err(AgentError::InvalidInput {
                    message: format!(
                        "two databases are named '{}'; name them with --db NAME=PATH",
                        spec.name
                    ),
                });
            }
            let database = open_database(&spec.target).await?;
            served.push(ServedDatabase {
                spec: spec.clone(),
                tools: builtin_tools(Arc::clone(&database)),
                database,
                agent: OnceCell::new(),
            });
        }
        Ok(McpServer {
            databases: served,
            options,
            model: OnceCell::new(),
            sessions: std::sync::Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
        })
    }

    /// The database names, in `--db` order.
    pub fn database_names(&self) -> Vec<&str> {
        self.databases
            .iter()
            .map(|db| db.spec.name.as_str())
            .collect()
    }

    /// Serve MCP on stdin/stdout until the client closes the channel.
    pub async fn serve_stdio(self) -> AgentResult<()> {
        let names = self.database_names().join(", ");
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|error| AgentError::Interface {
                what: "the MCP handshake failed",
                message: error.to_string(),
            })?;
        tracing::info!(databases = %names, "MCP server initialised");
        running
            .waiting()
            .await
            .map_err(|error| AgentError::Interface {
                what: "the MCP server stopped",
                message: error.to_string(),
            })?;
        Ok(())
    }

    /// The `database` property tools take when several databases are served.
    fn database_property(&self) -> Json {
        json!({
            "type": "string",
            "enum": self.database_names(),
            "description": "Which database to use (required when the server has several)."
        })
    }

    /// Add the `database` property to a tool's argument schema (required with several).
    fn with_database_argument(&self, mut schema: Json) -> Json {
        if let Some(object) = schema.as_object_mut() {
            let properties = object.entry("properties").or_insert_with(|| json!({}));
            if let Some(properties) = properties.as_object_mut() {
                properties.insert("database".into(), self.database_property());
            }
            if self.databases.len() > 1 {
                let required = object.entry("required").or_insert_with(|| json!([]));
                if let Some(required) = required.as_array_mut() {
                    required.push(json!("database"));
                }
            }
        }
        schema
    }

    /// The JSON Schema of `ask`'s arguments.
    fn ask_schema(&self) -> Json {
        self.with_database_argument(json!({
            "type": "object",
            "properties": {
                "question": {
                    "type": "string",
                    "description": "A question about the data in plain language; or, when the \
                                    previous ask call of this session returned status \
                                    'clarification', the user's answer to its question."
                },
                "session": {
                    "type": "string",
                    "description": "The conversation to continue (the 'session' of an earlier \
                                    result, or an id of your choice). Follow-ups build on its \
                                    earlier answers. Omit it to start a new conversation."
                }
            },
            "required": ["question"],
            "additionalProperties": false
        }))
    }

    /// The tools of `tools/list`.
    pub fn tool_list(&self) -> Vec<rmcp::model::Tool> {
        let mut tools = Vec::with_capacity(MCP_TOOL_NAMES.len());
        let read_only = ToolAnnotations::new()
            .read_only(true)
            .destructive(false)
            .open_world(false);
        tools.push(
            rmcp::model::Tool::new(
                "ask",
                "Ask the database a question in plain language. Returns the SQL the agent \
                 wrote, its result and the decomposition steps it executed; or, when the \
                 question is ambiguous, status 'clarification' with one question for the user \
                 (answer it by calling ask again with the same session).",
                json_object(self.ask_schema()),
            )
            .with_annotations(read_only.clone()),
        );
        let definitions = self.databases[0].tools.iter().map(|tool| tool.definition());
        for definition in definitions.filter(|d| SQL_TOOL_NAMES.contains(&d.name.as_str())) {
            tools.push(
                rmcp::model::Tool::new(
                    definition.name,
                    definition.description,
                    json_object(self.with_database_argument(definition.parameters)),
                )
                .with_annotations(read_only.clone()),
            );
        }
        tools
    }

    /// Which database a call is about: its `database` argument (removed from `arguments`),
    /// or the only one.
    fn choose_database(&self, arguments: &mut JsonObject) -> Result<usize, CallToolResult> {
        let names = || self.database_names().join(", ");
        match arguments.remove("database") {
            None | Some(Json::Null) if self.databases.len() == 1 => Ok(0),
            None | Some(Json::Null) => Err(tool_error(
                "invalid_input",
                format!(
                    "this server has several databases; pass 'database' (one of: {})",
                    names()
                ),
            )),
            Some(Json::String(name)) => self
                .databases
                .iter()
                .position(|db| db.spec.name == name)
                .ok_or_else(|| {
                    tool_error(
                        "invalid_input",
                        format!("no database '{name}'; the databases are: {}", names()),
                    )
                }),
            Some(other) => Err(tool_error(
                "invalid_input",
                format!(
                    "'database' must be a string (one of: {}), not {other}",
                    names()
                ),
            )),
        }
    }

    /// Run one tool call; every failure of the tool itself is a tool error result.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> Result<CallToolResult, McpError> {
        if !MCP_TOOL_NAMES.contains(&name) {
            return Err(McpError::invalid_params(
                format!(
                    "unknown tool '{name}'; the tools are: {}",
                    MCP_TOOL_NAMES.join(", ")
                ),
                None,
            ));
        }
        let mut arguments = arguments.unwrap_or_default();
        let index = match self.choose_database(&mut arguments) {
            Ok(index) => index,
            Err(result) => return Ok(result),
        };
        let started = Instant::now();
        let result = if name == "ask" {
            self.ask(index, arguments, cancelled).await
        } else {
            let served = &self.databases[index];
            match find_tool(&served.tools, name) {
                Some(tool) => match tool.call(Json::Object(arguments)).await {
                    Ok(value) => CallToolResult::structured(value),
                    Err(error) => tools_error(&error),
                },
                None => tool_error("internal", format!("the tool '{name}' is missing")),
            }
        };
        tracing::info!(
            tool = name,
            database = %self.databases[index].spec.name,
            error = result.is_error.unwrap_or(false),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "tool call"
        );
        Ok(result)
    }

    /// The model, opened at the first `ask` (a failure is reported and retried next time).
    async fn model(&self) -> AgentResult<&OpenedModel> {
        self.model
            .get_or_try_init(|| async {
                let opened = open_chat_model(self.options.model_flag.as_deref()).await?;
                tracing::info!(model = %opened.spec, origin = %opened.origin, "model opened");
                Ok::<_, AgentError>(opened)
            })
            .await
    }

    /// The agent of database `index`, built at its first `ask`.
    async fn agent(&self, index: usize) -> AgentResult<&Agent> {
        let model = Arc::clone(&self.model().await?.model);
        let served = &self.databases[index];
        served
            .agent
            .get_or_try_init(|| async {
                Agent::new(
                    model,
                    Arc::clone(&served.database),
                    Arc::clone(&self.options.strategy),
                    self.options.agent_options.clone(),
                )
                .await
            })
            .await
    }

    /// The session called `id` (created when new), or a new one; errors when `id` belongs to
    /// another database.
    fn session(
        &self,
        id: Option<String>,
        index: usize,
    ) -> Result<(String, Arc<Mutex<Session>>), CallToolResult> {
        let id = id.unwrap_or_else(|| {
            format!(
                "session-{}",
                self.next_session.fetch_add(1, Ordering::Relaxed)
            )
        });
        let mut sessions = match self.sessions.lock() {
            Ok(sessions) => sessions,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(slot) = sessions.get_mut(&id) {
            if slot.database != index {
                return Err(tool_error(
                    "invalid_input",
                    format!(
                        "session '{id}' is about database '{}', not '{}'; start a new session",
                        self.databases[slot.database].spec.name, self.databases[index].spec.name
                    ),
                ));
            }
            slot.last_used = Instant::now();
            return Ok((id, Arc::clone(&slot.session)));
        }
        if sessions.len() >= self.options.max_sessions.max(1)
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        let session = Arc::new(Mutex::new(Session::new(Some(
            self.databases[index].spec.name.clone(),
        ))));
        sessions.insert(
            id.clone(),
            SessionSlot {
                database: index,
                session: Arc::clone(&session),
                last_used: Instant::now(),
            },
        );
        Ok((id, session))
    }

    /// One agent turn.
    async fn ask(
        &self,
        index: usize,
        mut arguments: JsonObject,
        cancelled: impl std::future::Future<Output = ()>,
    ) -> CallToolResult {
        let question = match arguments.remove("question") {
            Some(Json::String(question)) if !question.trim().is_empty() => question,
            _ => {
                return tool_error(
                    "invalid_input",
                    "ask needs a non-empty 'question' (a question, or the answer to the \
                     clarification question of the session)",
                );
            }
        };
        let session_id = match arguments.remove("session") {
            None | Some(Json::Null) => None,
            Some(Json::String(id)) if !id.trim().is_empty() => Some(id),
            Some(other) => {
                return tool_error(
                    "invalid_input",
                    format!("'session' must be a non-empty string, not {other}"),
                );
            }
        };
        if let Some(unknown) = arguments.keys().next() {
            return tool_error(
                "invalid_input",
                format!("ask takes question, session and database; not '{unknown}'"),
            );
        }
        let agent = match self.agent(index).await {
            Ok(agent) => agent,
            Err(error) => return agent_error(&error),
        };
        let (session_id, session) = match self.session(session_id, index) {
            Ok(found) => found,
            Err(result) => return result,
        };
        let mut session = session.lock().await;
        let cancel = CancelFlag::new();
        let options = RespondOptions {
            cancel: cancel.clone(),
            ..RespondOptions::default()
        };
        let database = self.databases[index].spec.name.as_str();
        let outcome = {
            let respond = agent.respond_with(&mut session, &question, &options);
            tokio::pin!(respond, cancelled);
            tokio::select! {
                biased;
                () = &mut cancelled => None,
                turn = &mut respond => Some(turn),
            }
        };
        match outcome {
            None => {
                cancel.cancel();
                agent_error(&AgentError::Cancelled)
            }
            Some(Err(error)) => CallToolResult::structured_error(json!({
                "status": "error",
                "session": session_id,
                "database": database,
                "error": {"kind": error.kind(), "message": error.to_string()},
            })),
            Some(Ok(AgentTurn::Clarification(request))) => CallToolResult::structured(json!({
                "status": "clarification",
                "session": session_id,
                "database": database,
                "clarification": request,
                "next": "Ask the user this question, then call ask again with their answer as \
                         'question' and this 'session'.",
            })),
            Some(Ok(AgentTurn::Answer(answered))) => {
                let value = json!({
                    "status": "answer",
                    "session": session_id,
                    "database": database,
                    "question": answered.question,
                    "sql": answered.answer.sql,
                    "result": answered.result.as_ref().map(render_json),
                    "error": answered.error,
                    "steps": answered.answer.steps,
                    "clarifications": answered.clarifications,
                    "strategy": answered.answer.strategy,
                    "timings": answered.timings,
                });
                if answered.error.is_some() {
                    CallToolResult::structured_error(value)
                } else {
                    CallToolResult::structured(value)
                }
            }
        }
    }
}

/// A JSON Schema value as the object rmcp wants (a non-object becomes an empty schema).
fn json_object(value: Json) -> JsonObject {
    match value {
        Json::Object(object) => object,
        _ => JsonObject::new(),
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("learnat", env!("CARGO_PKG_VERSION")))
            .with_instructions(format!(
                "learnat answers questions about SQL databases ({}) and runs read-only SQL. \
                 Use ask for questions in plain language (it may ask back: answer with the same \
                 session), list_tables / describe_table to explore, execute_sql to run SQL.",
                self.database_names().join(", ")
            ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(self.tool_list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // notifications/cancelled for this request cancels the token: stop the generation.
        let token = context.ct.clone();
        self.call(&request.name, request.arguments, async move {
            token.cancelled().await
        })
        .await
        .map(CallToolResponse::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_arguments_are_named() {
        let plain = DatabaseSpec::parse("/data/shop.sqlite").unwrap();
        assert_eq!(plain.name, "shop");
        assert_eq!(plain.target, "/data/shop.sqlite");
        let named = DatabaseSpec::parse("hr=../hr.db").unwrap();
        assert_eq!(
            (named.name.as_str(), named.target.as_str()),
            ("hr", "../hr.db")
        );
        let url = DatabaseSpec::parse("postgres://u:p@host/sales?sslmode=disable").unwrap();
        assert_eq!(url.name, "sales");
        // '=' inside a URL's query is not NAME=.
        assert_eq!(url.target, "postgres://u:p@host/sales?sslmode=disable");
        let message = DatabaseSpec::parse("x=").unwrap_err().to_string();
        assert!(message.contains("NAME=PATH"), "{message}");
        let message = DatabaseSpec::parse("postgres://host")
            .unwrap_err()
            .to_string();
        assert!(message.contains("cannot name"), "{message}");
    }
}
