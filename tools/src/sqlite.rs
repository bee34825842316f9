//! The embedded default engine: read-only SQLite through a small pool of connections.
//!
//! Layers (b) and (c) of the read-only defence live here (layer (a) is [`crate::safety`]):
//!
//! - **Read-only engine.** Files are opened with `SQLITE_OPEN_READ_ONLY | SQLITE_OPEN_NO_MUTEX`
//!   from their canonical absolute path (so a name like `file:x?mode=rwc` is never read as a
//!   URI), `PRAGMA query_only = ON` is set, and an authorizer admits only reads, `SELECT`,
//!   recursive CTEs, functions outside [`safety::denied_function`] and the schema-introspection
//!   PRAGMAs in [`ALLOWED_PRAGMAS`] (also in their table-valued form,
//!   `SELECT * FROM pragma_table_info('t')`). Every write, DDL, `ATTACH` / `DETACH`,
//!   transaction and savepoint, `ANALYZE`, `REINDEX` and every other PRAGMA is denied while the
//!   statement is prepared, so it never runs. Extension loading, triggers-with-side-effects
//!   (`trusted_schema`) and the FTS3 tokenizer hook are switched off with `sqlite3_db_config`.
//! - **Resource limits.** A progress handler checks the statement's deadline every
//!   [`PROGRESS_OPS`] virtual-machine instructions against a coarse clock a background ticker
//!   thread keeps (1 ms resolution, real clock read every 64th check) and interrupts the
//!   statement when the deadline passes,
//!   so cartesian products, runaway recursive CTEs and big sorts end with
//!   [`ToolsError::Timeout`]. `SQLITE_LIMIT_LENGTH` ([`MAX_VALUE_BYTES`]) makes `randomblob`,
//!   `zeroblob`, `printf`, `replace` and `group_concat` bombs fail fast with
//!   [`ToolsError::ResourceLimit`]; further limits cap statement length, expression depth,
//!   compound selects and attached databases (0). The row cap and result-size cap of
//!   [`ExecOptions`] stop reading and mark the result truncated.
//! - **Heap limit.** `sqlite3_hard_heap_limit64` is process-wide, so it is set once, to a
//!   generous [`HARD_HEAP_LIMIT_BYTES`], and only when nothing else in the process set one:
//!   with the length limit and on-disk temporary storage no single query needs more, and a
//!   value this high never gets in the way of the demo writer or of a benchmark's own
//!   connections. A query that hits it fails with an out-of-memory [`ToolsError::ResourceLimit`].
//!   Per statement, the progress handler also stops any statement that grows SQLite's heap by
//!   more than [`MAX_STATEMENT_HEAP_BYTES`] (JSON aggregates, for one, only check the length
//!   limit when they return). The counter is process-wide, so concurrent statements share the
//!   budget; it is generous enough that only a runaway accumulation reaches it.
//!
//! Everything per-connection (flags, pragmas, limits, authorizer, progress handler) is set once
//! when a connection is opened; running a statement costs a pool lookup, a cached prepare and
//! two atomic stores, so the engine adds microseconds, not milliseconds, to a query.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::database::{Database, Dialect, ExecOptions};
use crate::error::{ToolsError, ToolsResult};
use crate::safety;
use crate::value::{QueryResult, Value};

/// PRAGMAs the authorizer lets through: the read-only ones schema introspection needs. They
/// are admitted as table-valued functions (`pragma_table_info('t')`); a `PRAGMA` statement is
/// refused by the gate before it reaches the engine.
pub const ALLOWED_PRAGMAS: [&str; 9] = [
    "table_info",
    "table_xinfo",
    "table_list",
    "foreign_key_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "database_list",
    "collation_list",
];

/// Largest string, blob or row SQLite may build (`SQLITE_LIMIT_LENGTH`).
pub const MAX_VALUE_BYTES: i32 = 16 * 1024 * 1024;

/// Process-wide hard heap limit for SQLite, set once unless something else set one first.
pub const HARD_HEAP_LIMIT_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// Virtual-machine instructions between two progress-handler calls. A call costs two atomic
/// loads (a few nanoseconds), a hundred instructions a microsecond or more of work: well under
/// 1 % overhead. Few enough that statements made of a handful of heavy instructions (building
/// multi-MiB strings) are still checked several times.
pub const PROGRESS_OPS: i32 = 100;

/// Every this many progress-handler calls, the real clock is read instead of the ticker's.
const REAL_CLOCK_EVERY: u32 = 64;

/// How often the ticker thread refreshes its clock and heap gauge while statements run.
const TICK: Duration = Duration::from_millis(1);

/// After this long without a statement the ticker thread parks until the next one.
const TICKER_IDLE: Duration = Duration::from_secs(1);

/// The 16-byte header every SQLite database file starts with.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How many gate verdicts are remembered before the memo is cleared.
const GATE_MEMO_CAPACITY: usize = 4096;

/// Prepared statements kept per connection.
const STATEMENT_CACHE_CAPACITY: usize = 128;

/// No deadline: the progress handler never interrupts.
const NO_DEADLINE: u64 = u64::MAX;

/// How much SQLite heap one statement may add while it runs before it is stopped with
/// [`ToolsError::ResourceLimit`]. Checked by the progress handler against SQLite's
/// process-wide allocation counter, so it catches accumulations the length limit does not see
/// (the JSON aggregates check their size only when they return).
pub const MAX_STATEMENT_HEAP_BYTES: i64 = 256 * 1024 * 1024;

/// A read-only SQLite database: a path and a pool of read-only connections to it.
///
/// `Send + Sync` and cheap to clone (the pool is shared), so one value can serve many threads
/// or tasks; each statement borrows a connection for its duration.
///
/// ```no_run
/// use learnat_tools::{ExecOptions, sqlite::SqliteDatabase};
/// let db = SqliteDatabase::open("concert_singer.sqlite")?;
/// let result = db.execute_blocking("SELECT count(*) FROM singer", &ExecOptions::default())?;
/// println!("{:?}", result.rows);
/// # Ok::<(), learnat_tools::ToolsError>(())
/// ```
#[derive(Clone)]
pub struct SqliteDatabase {
    shared: Arc<Shared>,
}

struct Shared {
    /// The path as the caller gave it (for messages and [`SqliteDatabase::path`]).
    path: PathBuf,
    /// The canonical absolute path connections are opened from.
    open_path: PathBuf,
    /// The file name, for [`Database::name`].
    name: String,
    /// Idle connections, reused by later statements.
    idle: Mutex<Vec<ReadOnlyConnection>>,
    /// At most this many idle connections are kept.
    max_idle: usize,
    /// Gate verdicts by statement text: the gate is a pure function of the text, and callers
    /// (evaluation runs, self-consistency voting, benchmarks) run the same text many times.
    gate_memo: Mutex<HashMap<Box<str>, GateVerdict>>,
}

/// What the gate decided about a statement the engine may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateVerdict {
    /// sqlparser parsed it as one read-only statement.
    Admitted,
    /// sqlparser could not parse it but it starts with a read-only keyword: SQLite's own parser
    /// must confirm it is a single read-only statement (see [`crate::safety`]).
    NeedsEngineCheck,
}

/// One pooled connection and the state its hooks share with the statement being run.
struct ReadOnlyConnection {
    connection: Connection,
    hooks: Arc<HookState>,
}

/// State shared between a connection's progress handler / authorizer and its current statement.
struct HookState {
    /// Microseconds after the ticker's epoch at which the running statement is interrupted.
    deadline_micros: AtomicU64,
    /// What the authorizer denied last, for a refusal message that says why.
    denied: Mutex<Option<String>>,
    /// SQLite's heap use when the running statement started.
    heap_at_start: AtomicI64,
    /// Set by the progress handler when it stopped the statement for memory, not time.
    stopped_for_memory: AtomicBool,
}

impl HookState {
    fn set_deadline(&self, timeout: Duration) {
        let ticker = ticker();
        let now = ticker.demand();
        self.heap_at_start
            .store(sqlite_heap_used(), Ordering::Relaxed);
        self.stopped_for_memory.store(false, Ordering::Relaxed);
        let timeout = u64::try_from(timeout.as_micros()).unwrap_or(NO_DEADLINE);
        self.deadline_micros
            .store(now.saturating_add(timeout), Ordering::Relaxed);
    }

    fn clear_deadline(&self) {
        self.deadline_micros.store(NO_DEADLINE, Ordering::Relaxed);
    }

    /// The progress handler: true (interrupt) when the deadline passed or the statement grew
    /// SQLite's heap by more than [`MAX_STATEMENT_HEAP_BYTES`]. Reads the ticker's clock and
    /// heap gauge (two atomic loads); every [`REAL_CLOCK_EVERY`]th call it reads the real clock
    /// too, so a starved ticker thread delays a timeout by little.
    fn should_interrupt(&self, calls: &mut u32) -> bool {
        let ticker = ticker();
        *calls = calls.wrapping_add(1);
        let now = if (*calls).is_multiple_of(REAL_CLOCK_EVERY) {
            ticker.now()
        } else {
            ticker.now_micros.load(Ordering::Relaxed)
        };
        if now >= self.deadline_micros.load(Ordering::Relaxed) {
            return true;
        }
        let grown =
            ticker.heap_bytes.load(Ordering::Relaxed) - self.heap_at_start.load(Ordering::Relaxed);
        if grown > MAX_STATEMENT_HEAP_BYTES {
            self.stopped_for_memory.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn record_denial(&self, what: String) {
        if let Ok(mut denied) = self.denied.lock() {
            denied.get_or_insert(what);
        }
    }

    fn take_denial(&self) -> Option<String> {
        self.denied.lock().ok().and_then(|mut denied| denied.take())
    }
}

impl SqliteDatabase {
    /// Open the SQLite file at `path` read-only.
    ///
    /// Errors ([`ToolsError::Open`]) say what is wrong: the file is not found, is a directory,
    /// is empty, is not a SQLite database (its 16-byte header is checked), cannot be read
    /// (permission), or SQLite cannot read its schema (corrupt or encrypted).
    pub fn open(path: impl AsRef<Path>) -> ToolsResult<SqliteDatabase> {
        let path = path.as_ref();
        let open_error = |reason: String| ToolsError::Open {
            path: path.to_path_buf(),
            reason,
        };
        check_sqlite_file(path).map_err(open_error)?;
        let open_path =
            std::fs::canonicalize(path).map_err(|error| open_error(describe_io_error(&error)))?;
        set_process_heap_limit();
        let first = open_connection(&open_path).map_err(|error| open_error(error.to_string()))?;
        // Reading the schema now turns a corrupt or encrypted file into an open error instead
        // of a confusing failure on the first question.
        first
            .connection
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                row.get::<_, i64>(0)
            })
            .map_err(|error| {
                open_error(format!("SQLite cannot read it: {}", sqlite_message(&error)))
            })?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let max_idle = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .max(4);
        Ok(SqliteDatabase {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                open_path,
                name,
                idle: Mutex::new(vec![first]),
                max_idle,
                gate_memo: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The path this database was opened from, as given to [`SqliteDatabase::open`].
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// For callers with their own threads (the evaluation runner): gate + pooled read-only
    /// connection. Runs one statement under `options` on the calling thread.
    ///
    /// Errors: [`ToolsError::Refused`] (gate or authorizer), [`ToolsError::Sql`] (SQLite's
    /// message, e.g. "no such table: x"), [`ToolsError::Timeout`], [`ToolsError::ResourceLimit`]
    /// (value, row or memory limits), [`ToolsError::Parse`] (neither sqlparser nor SQLite can
    /// read it).
    pub fn execute_blocking(&self, sql: &str, options: &ExecOptions) -> ToolsResult<QueryResult> {
        let verdict = self.gate(sql)?;
        let mut connection = self.checkout()?;
        let result = connection.run(sql, verdict, options);
        self.checkin(connection);
        result
    }

    /// The gate's verdict on `sql`, memoised by text.
    fn gate(&self, sql: &str) -> ToolsResult<GateVerdict> {
        if let Some(verdict) = self
            .shared
            .gate_memo
            .lock()
            .ok()
            .and_then(|memo| memo.get(sql).copied())
        {
            return Ok(verdict);
        }
        let verdict = match safety::check_read_only(sql, Dialect::Sqlite) {
            Ok(()) => GateVerdict::Admitted,
            Err(ToolsError::Parse { message }) => match safety::first_keyword(sql, Dialect::Sqlite)
            {
                Some(_) if safety::has_text_after_first_statement(sql, Dialect::Sqlite) => {
                    return Err(ToolsError::Refused {
                        reason: "only one read-only statement (SELECT, WITH … SELECT, VALUES, \
                                 EXPLAIN) may run; text follows the first statement"
                            .to_string(),
                    });
                }
                Some(keyword) if safety::READ_ONLY_FIRST_KEYWORDS.contains(&keyword.as_str()) => {
                    GateVerdict::NeedsEngineCheck
                }
                // A statement keyword we cannot parse past is still not a read.
                Some(keyword) => {
                    return Err(ToolsError::Refused {
                        reason: safety::refusal_for_kind(&keyword),
                    });
                }
                None => return Err(ToolsError::Parse { message }),
            },
            Err(other) => return Err(other),
        };
        if let Ok(mut memo) = self.shared.gate_memo.lock() {
            if memo.len() >= GATE_MEMO_CAPACITY {
                memo.clear();
            }
            memo.insert(sql.into(), verdict);
        }
        Ok(verdict)
    }

    fn checkout(&self) -> ToolsResult<ReadOnlyConnection> {
        let pooled = self.shared.idle.lock().ok().and_then(|mut idle| idle.pop());
        match pooled {
            Some(connection) => Ok(connection),
            None => open_connection(&self.shared.open_path).map_err(|error| ToolsError::Open {
                path: self.shared.path.clone(),
                reason: error.to_string(),
            }),
        }
    }

    fn checkin(&self, connection: ReadOnlyConnection) {
        if let Ok(mut idle) = self.shared.idle.lock()
            && idle.len() < self.shared.max_idle
        {
            idle.push(connection);
        }
    }
}

impl std::fmt::Debug for SqliteDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDatabase")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Database for SqliteDatabase {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs [`SqliteDatabase::execute_blocking`] on tokio's blocking pool.
    async fn execute(&self, sql: &str, options: &ExecOptions) -> ToolsResult<QueryResult> {
        let database = self.clone();
        let sql = sql.to_string();
        let options = options.clone();
        tokio::task::spawn_blocking(move || database.execute_blocking(&sql, &options))
            .await
            .map_err(|error| ToolsError::Sql {
                message: format!("the query task failed before finishing: {error}"),
            })?
    }
}

/// Check the file before SQLite sees it, so the common mistakes get their own message.
fn check_sqlite_file(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let metadata = std::fs::metadata(path).map_err(|error| describe_io_error(&error))?;
    if metadata.is_dir() {
        return Err(
            "is a directory, not a SQLite file (pass the path of the database file inside it)"
                .to_string(),
        );
    }
    if metadata.len() == 0 {
        return Err(
            "the file is empty (0 bytes), not a SQLite database (pass a .sqlite / .db file that \
             has tables)"
                .to_string(),
        );
    }
    let mut header = [0u8; 16];
    let mut file = std::fs::File::open(path).map_err(|error| describe_io_error(&error))?;
    let read = file
        .read(&mut header)
        .map_err(|error| describe_io_error(&error))?;
    if read < header.len() || &header != SQLITE_HEADER {
        return Err(
            "not a SQLite database (the file does not start with the SQLite header; pass a \
             .sqlite / .db file)"
                .to_string(),
        );
    }
    Ok(())
}

fn describe_io_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "file not found (pass the path of an existing SQLite file)".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (make the file readable by this user)".to_string()
        }
        _ => error.to_string(),
    }
}

/// A coarse clock and SQLite heap gauge that progress handlers read with atomic loads: one
/// background thread refreshes both every [`TICK`] while statements run and parks when none
/// has started for [`TICKER_IDLE`]. Reading `Instant::now()` in the handler itself would cost
/// tens of nanoseconds a call; this costs one load.
struct Ticker {
    epoch: Instant,
    /// Microseconds since `epoch`, as of the last tick.
    now_micros: AtomicU64,
    /// SQLite's process-wide heap use, as of the last tick.
    heap_bytes: AtomicI64,
    /// When a statement last started (microseconds since `epoch`).
    last_demand_micros: AtomicU64,
    /// True while the ticker thread is parked.
    parked: AtomicBool,
    park_lock: Mutex<()>,
    wake: Condvar,
}

impl Ticker {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(NO_DEADLINE)
    }

    /// Note that a statement starts, wake the thread if it is parked; returns the real time.
    fn demand(&self) -> u64 {
        let now = self.now();
        self.last_demand_micros.store(now, Ordering::SeqCst);
        self.now_micros.fetch_max(now, Ordering::Relaxed);
        if self.parked.load(Ordering::SeqCst) {
            let _guard = self.park_lock.lock();
            self.wake.notify_one();
        }
        now
    }

    fn idle(&self, now: u64) -> bool {
        let idle_micros = u64::try_from(TICKER_IDLE.as_micros()).unwrap_or(NO_DEADLINE);
        now.saturating_sub(self.last_demand_micros.load(Ordering::SeqCst)) > idle_micros
    }

    fn run(&self) {
        loop {
            let now = self.now();
            self.now_micros.fetch_max(now, Ordering::Relaxed);
            self.heap_bytes.store(sqlite_heap_used(), Ordering::Relaxed);
            if !self.idle(now) {
                std::thread::sleep(TICK);
                continue;
            }
            let Ok(mut guard) = self.park_lock.lock() else {
                return;
            };
            self.parked.store(true, Ordering::SeqCst);
            // Re-checked under the lock: a statement that started meanwhile keeps it awake.
            while self.idle(self.now()) {
                guard = match self.wake.wait(guard) {
                    Ok(guard) => guard,
                    Err(_) => return,
                };
            }
            self.parked.store(false, Ordering::SeqCst);
        }
    }
}

/// The process's ticker, started on first use. If its thread cannot be spawned, progress
/// handlers still see the real clock every [`REAL_CLOCK_EVERY`] calls.
fn ticker() -> &'static Ticker {
    static TICKER: OnceLock<Ticker> = OnceLock::new();
    static START: Once = Once::new();
    let ticker = TICKER.get_or_init(|| Ticker {
        epoch: Instant::now(),
        now_micros: AtomicU64::new(0),
        heap_bytes: AtomicI64::new(0),
        last_demand_micros: AtomicU64::new(0),
        parked: AtomicBool::new(false),
        park_lock: Mutex::new(()),
        wake: Condvar::new(),
    });
    START.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("learnat-sqlite-ticker".to_string())
            .spawn(move || ticker.run());
        if let Err(error) = spawned {
            tracing::warn!(
                "cannot start the SQLite timeout ticker ({error}); timeouts are coarser"
            );
        }
    });
    ticker
}

/// Bytes SQLite has allocated, process-wide.
fn sqlite_heap_used() -> i64 {
    // SAFETY: sqlite3_memory_used takes no arguments and reads a counter under SQLite's mutex.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

fn set_process_heap_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_hard_heap_limit64 only reads (argument < 0) or sets a process-wide
        // integer under SQLite's own mutex; it has no pointer arguments.
        unsafe {
            if rusqlite::ffi::sqlite3_hard_heap_limit64(-1) == 0 {
                rusqlite::ffi::sqlite3_hard_heap_limit64(HARD_HEAP_LIMIT_BYTES);
            }
        }
    });
}

/// Open one connection with every read-only layer and limit installed.
fn open_connection(path: &Path) -> rusqlite::Result<ReadOnlyConnection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut connection = Connection::open_with_flags(path, flags)?;
    connection.pragma_update(None, "query_only", true)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, false)?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    for (limit, value) in [
        (Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES),
        (Limit::SQLITE_LIMIT_SQL_LENGTH, safety::MAX_SQL_BYTES as i32),
        (Limit::SQLITE_LIMIT_COLUMN, 2000),
        (Limit::SQLITE_LIMIT_EXPR_DEPTH, 500),
        (Limit::SQLITE_LIMIT_COMPOUND_SELECT, 500),
        (Limit::SQLITE_LIMIT_VDBE_OP, 1_000_000),
        (Limit::SQLITE_LIMIT_ATTACHED, 0),
        (Limit::SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 10_000),
        (Limit::SQLITE_LIMIT_TRIGGER_DEPTH, 10),
    ] {
        connection.set_limit(limit, value)?;
    }
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);

    let hooks = Arc::new(HookState {
        deadline_micros: AtomicU64::new(NO_DEADLINE),
        denied: Mutex::new(None),
        heap_at_start: AtomicI64::new(0),
        stopped_for_memory: AtomicBool::new(false),
    });
    let progress_hooks = Arc::clone(&hooks);
    let mut calls = 0u32;
    connection.progress_handler(
        PROGRESS_OPS,
        Some(move || progress_hooks.should_interrupt(&mut calls)),
    )?;
    let authorizer_hooks = Arc::clone(&hooks);
    connection.authorizer(Some(move |context: AuthContext<'_>| {
        match denial(&context.action) {
            None => Authorization::Allow,
            Some(what) => {
                authorizer_hooks.record_denial(what);
                Authorization::Deny
            }
        }
    }))?;
    Ok(ReadOnlyConnection { connection, hooks })
}

/// `None` when the authorizer allows `action`, else what was denied, for the refusal message.
fn denial(action: &AuthAction<'_>) -> Option<String> {
    match action {
        AuthAction::Read { .. } | AuthAction::Select | AuthAction::Recursive => None,
        AuthAction::Function { function_name } => {
            if safety::denied_function(function_name, Dialect::Sqlite) {
                Some(format!("a call to {function_name}()"))
            } else {
                None
            }
        }
        AuthAction::Pragma { pragma_name, .. } => {
            let name = pragma_name.to_ascii_lowercase();
            if ALLOWED_PRAGMAS.contains(&name.as_str()) {
                None
            } else {
                Some(format!("PRAGMA {pragma_name}"))
            }
        }
        AuthAction::Insert { table_name } => Some(format!("INSERT into {table_name}")),
        AuthAction::Update { table_name, .. } => Some(format!("UPDATE of {table_name}")),
        AuthAction::Delete { table_name } => Some(format!("DELETE from {table_name}")),
        AuthAction::Attach { .. } => Some("ATTACH".to_string()),
        AuthAction::Detach { .. } => Some("DETACH".to_string()),
        AuthAction::Transaction { .. } => Some("transaction control".to_string()),
        AuthAction::Savepoint { .. } => Some("a savepoint".to_string()),
        AuthAction::Analyze { .. } => Some("ANALYZE".to_string()),
        AuthAction::Reindex { .. } => Some("REINDEX".to_string()),
        AuthAction::AlterTable { .. } => Some("ALTER TABLE".to_string()),
        AuthAction::CreateIndex { .. }
        | AuthAction::CreateTable { .. }
        | AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. }
        | AuthAction::CreateTrigger { .. }
        | AuthAction::CreateView { .. }
        | AuthAction::CreateVtable { .. } => Some("CREATE (schema change)".to_string()),
        AuthAction::DropIndex { .. }
        | AuthAction::DropTable { .. }
        | AuthAction::DropTempIndex { .. }
        | AuthAction::DropTempTable { .. }
        | AuthAction::DropTempTrigger { .. }
        | AuthAction::DropTempView { .. }
        | AuthAction::DropTrigger { .. }
        | AuthAction::DropView { .. }
        | AuthAction::DropVtable { .. } => Some("DROP (schema change)".to_string()),
        // Anything SQLite adds later is denied until it is known to be a read.
        _ => Some("an operation outside the read allowlist".to_string()),
    }
}

impl ReadOnlyConnection {
    fn run(
        &mut self,
        sql: &str,
        verdict: GateVerdict,
        options: &ExecOptions,
    ) -> ToolsResult<QueryResult> {
        let start = Instant::now();
        self.hooks.take_denial();
        self.hooks.set_deadline(options.timeout);
        let result = self.run_until_done(sql, verdict, options, start);
        self.hooks.clear_deadline();
        result.map_err(|error| match error {
            RunError::Tools(error) => error,
            RunError::Sqlite(error) => self.map_sqlite_error(error, options),
        })
    }

    fn run_until_done(
        &self,
        sql: &str,
        verdict: GateVerdict,
        options: &ExecOptions,
        start: Instant,
    ) -> Result<QueryResult, RunError> {
        let mut statement = self.connection.prepare_cached(sql)?;
        if verdict == GateVerdict::NeedsEngineCheck && !statement.readonly() {
            let kind = safety::first_keyword(sql, Dialect::Sqlite)
                .unwrap_or_else(|| "a statement that writes".to_string());
            return Err(RunError::Tools(ToolsError::Refused {
                reason: safety::refusal_for_kind(&format!("{kind} (it writes)")),
            }));
        }
        let column_count = statement.column_count();
        let columns = (0..column_count)
            .map(|index| statement.column_name(index).map(str::to_string))
            .collect::<rusqlite::Result<Vec<String>>>()?;
        let mut rows = Vec::new();
        let mut result_bytes = 0usize;
        let mut truncated = false;
        let mut cursor = statement.raw_query();
        while let Some(row) = cursor.next()? {
            if rows.len() >= options.max_rows {
                truncated = true;
                break;
            }
            let mut values = Vec::with_capacity(column_count);
            let mut row_bytes = 0usize;
            for index in 0..column_count {
                let value = match row.get_ref(index)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(i) => Value::Integer(i),
                    ValueRef::Real(r) => Value::Real(r),
                    ValueRef::Text(bytes) => {
                        Value::Text(String::from_utf8_lossy(bytes).into_owned())
                    }
                    ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
                };
                row_bytes += value.approx_size();
                values.push(value);
            }
            if result_bytes + row_bytes > options.max_result_bytes {
                truncated = true;
                break;
            }
            result_bytes += row_bytes;
            rows.push(values);
        }
        Ok(QueryResult {
            columns,
            rows,
            elapsed: start.elapsed(),
            truncated,
        })
    }

    fn map_sqlite_error(&self, error: rusqlite::Error, options: &ExecOptions) -> ToolsError {
        if let Some(what) = self.hooks.take_denial() {
            return ToolsError::Refused {
                reason: format!("the read-only engine denied {what}; only reads may run"),
            };
        }
        let message = sqlite_message(&error);
        match &error {
            rusqlite::Error::MultipleStatement => ToolsError::Refused {
                reason: "only one read-only statement (SELECT, WITH … SELECT, VALUES, EXPLAIN) \
                         may run; SQLite found more than one"
                    .to_string(),
            },
            rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
                ErrorCode::OperationInterrupted
                    if self.hooks.stopped_for_memory.load(Ordering::Relaxed) =>
                {
                    ToolsError::ResourceLimit {
                        what: format!(
                            "the query used more than {} MiB of memory",
                            MAX_STATEMENT_HEAP_BYTES / (1024 * 1024)
                        ),
                    }
                }
                ErrorCode::OperationInterrupted => ToolsError::Timeout {
                    after: options.timeout,
                },
                ErrorCode::AuthorizationForStatementDenied | ErrorCode::ReadOnly => {
                    ToolsError::Refused {
                        reason: format!("the read-only engine refused it: {message}"),
                    }
                }
                ErrorCode::TooBig => ToolsError::ResourceLimit {
                    what: format!(
                        "{message} (a string, blob or row may be at most {} MiB)",
                        MAX_VALUE_BYTES / (1024 * 1024)
                    ),
                },
                ErrorCode::OutOfMemory => ToolsError::ResourceLimit {
                    what: format!(
                        "SQLite ran out of memory ({message}); the query needs more than the \
                         engine allows"
                    ),
                },
                _ => ToolsError::Sql { message },
            },
            _ => ToolsError::Sql { message },
        }
    }
}

/// Either an error already in the crate's terms or a SQLite error still to be classified.
enum RunError {
    Tools(ToolsError),
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for RunError {
    fn from(error: rusqlite::Error) -> Self {
        RunError::Sqlite(error)
    }
}

/// SQLite's own message for an error ("no such table: x"), on one line.
fn sqlite_message(error: &rusqlite::Error) -> String {
    let message = match error {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        rusqlite::Error::SqliteFailure(failure, None) => failure.to_string(),
        other => other.to_string(),
    };
    message.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with `n` rows in table `t(id, name, score)`, created by a writable connection
    /// the engine never shares.
    fn fixture(rows: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("fixture.sqlite");
        let connection = Connection::open(&path).expect("create fixture");
        connection
            .execute_batch(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);
                 CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id));
                 CREATE INDEX t_name ON t (name);",
            )
            .expect("schema");
        connection
            .execute(
                "INSERT INTO t (id, name, score, data)
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 SELECT i, 'name ' || i, i * 0.5, x'00ff' FROM n",
                [rows as i64],
            )
            .expect("rows");
        connection
            .execute("INSERT INTO u (id, t_id) SELECT id, id FROM t", [])
            .expect("rows of u");
        drop(connection);
        (dir, path)
    }

    fn options(timeout_ms: u64, max_rows: usize) -> ExecOptions {
        ExecOptions {
            timeout: Duration::from_millis(timeout_ms),
            max_rows,
            ..ExecOptions::default()
        }
    }

    #[test]
    fn values_are_typed_and_columns_named_in_order() {
        let (_dir, path) = fixture(3);
        let db = SqliteDatabase::open(&path).unwrap();
        let result = db
            .execute_blocking(
                "SELECT 1 AS i, 2.5 AS r, 'héllo' AS s, x'0102' AS b, NULL AS n, \
                 CAST(x'41ff42' AS TEXT) AS bad_utf8",
                &ExecOptions::default(),
            )
            .unwrap();
        assert_eq!(result.columns, ["i", "r", "s", "b", "n", "bad_utf8"]);
        assert_eq!(
            result.rows,
            vec![vec![
                Value::Integer(1),
                Value::Real(2.5),
                Value::Text("héllo".to_string()),
                Value::Blob(vec![1, 2]),
                Value::Null,
                Value::Text("A\u{fffd}B".to_string()),
            ]]
        );
        assert!(!result.truncated);
        let rows = db
            .execute_blocking(
                "SELECT name, score FROM t ORDER BY id",
                &ExecOptions::default(),
            )
            .unwrap();
        assert_eq!(rows.rows.len(), 3);
        assert_eq!(
            rows.rows[2],
            vec![Value::Text("name 3".into()), Value::Real(1.5)]
        );
    }

    #[test]
    fn the_row_cap_truncates_only_when_rows_were_dropped() {
        let (_dir, path) = fixture(10);
        let db = SqliteDatabase::open(&path).unwrap();
        let capped = db
            .execute_blocking("SELECT id FROM t", &options(1000, 4))
            .unwrap();
        assert_eq!(capped.rows.len(), 4);
        assert!(capped.truncated);
        let exact = db
            .execute_blocking("SELECT id FROM t", &options(1000, 10))
            .unwrap();
        assert_eq!(exact.rows.len(), 10);
        assert!(!exact.truncated);
    }

    #[test]
    fn the_result_size_cap_truncates() {
        let (_dir, path) = fixture(100);
        let db = SqliteDatabase::open(&path).unwrap();
        let small = ExecOptions {
            max_result_bytes: 1000,
            ..ExecOptions::default()
        };
        let result = db
            .execute_blocking("SELECT printf('%100s', id) FROM t", &small)
            .unwrap();
        assert!(result.truncated);
        assert_eq!(result.rows.len(), 10, "ten 100-byte rows fit in 1000 bytes");
    }

    #[test]
    fn runaway_queries_stop_at_the_timeout() {
        let (_dir, path) = fixture(2000);
        let db = SqliteDatabase::open(&path).unwrap();
        for sql in [
            "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
            "SELECT count(*) FROM t a, t b, t c",
            "SELECT a.name || b.name AS k FROM t a, t b, t c ORDER BY k DESC LIMIT 1",
        ] {
            let start = Instant::now();
            let error = db.execute_blocking(sql, &options(200, 10)).unwrap_err();
            let elapsed = start.elapsed();
            assert!(
                matches!(error, ToolsError::Timeout { .. }),
                "{sql}: {error}"
            );
            assert!(
                elapsed < Duration::from_millis(300),
                "{sql}: took {elapsed:?}"
            );
        }
        // The connection is usable again after an interrupt.
        let result = db
            .execute_blocking("SELECT count(*) FROM t", &options(200, 10))
            .unwrap();
        assert_eq!(result.rows, vec![vec![Value::Integer(2000)]]);
    }

    #[test]
    fn memory_bombs_hit_the_length_limit() {
        let (_dir, path) = fixture(10);
        let db = SqliteDatabase::open(&path).unwrap();
        for sql in [
            "SELECT randomblob(2000000000)",
            "SELECT zeroblob(10000000000)",
            "SELECT length(printf('%.*c', 100000000, 'x'))",
            "WITH RECURSIVE r(s) AS (SELECT 'xx' UNION ALL SELECT s || s FROM r) SELECT length(s) FROM r",
        ] {
            let start = Instant::now();
            let error = db.execute_blocking(sql, &options(2000, 100)).unwrap_err();
            assert!(
                matches!(error, ToolsError::ResourceLimit { .. }),
                "{sql}: {error}"
            );
            assert!(start.elapsed() < Duration::from_secs(1), "{sql}");
        }
    }

    #[test]
    fn accumulations_the_length_limit_misses_stop_at_the_heap_budget() {
        let (_dir, path) = fixture(3000);
        let db = SqliteDatabase::open(&path).unwrap();
        // 3000 values of 200 KB: 600 MB if nothing stopped it.
        let sql = "SELECT length(json_group_array(hex(zeroblob(100000)))) FROM t";
        let error = db.execute_blocking(sql, &options(10_000, 10)).unwrap_err();
        assert!(matches!(error, ToolsError::ResourceLimit { .. }), "{error}");
        assert!(error.to_string().contains("MiB of memory"), "{error}");
        let fine = db.execute_blocking("SELECT json_group_array(id) FROM t", &options(1000, 1));
        assert!(fine.is_ok(), "{fine:?}");
    }

    #[test]
    fn the_engine_denies_what_the_gate_might_miss() {
        let (_dir, path) = fixture(3);
        let before = std::fs::read(&path).unwrap();
        let db = SqliteDatabase::open(&path).unwrap();
        let mut connection = db.checkout().unwrap();
        // Bypass the gate: the engine alone must refuse these.
        for sql in [
            "DELETE FROM t",
            "INSERT INTO t (id) VALUES (99)",
            "CREATE TABLE x (y)",
            "DROP TABLE u",
            "ATTACH DATABASE ':memory:' AS m",
            "PRAGMA writable_schema = 1",
            "PRAGMA query_only = 0",
            "BEGIN",
            "SAVEPOINT s",
            "ANALYZE",
            "REINDEX",
            "VACUUM",
            "SELECT load_extension('x')",
        ] {
            let outcome =
                connection.run(sql, GateVerdict::NeedsEngineCheck, &ExecOptions::default());
            assert!(
                matches!(&outcome, Err(error) if error.is_refusal()),
                "{sql}: {outcome:?}"
            );
        }
        db.checkin(connection);
        assert_eq!(before, std::fs::read(&path).unwrap());
    }

    #[test]
    fn schema_introspection_forms_are_allowed() {
        let (_dir, path) = fixture(3);
        let db = SqliteDatabase::open(&path).unwrap();
        for sql in [
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name",
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info('t')",
            "SELECT * FROM pragma_foreign_key_list('u')",
            "SELECT * FROM pragma_index_list('t')",
            "SELECT * FROM pragma_table_xinfo('t')",
        ] {
            let result = db.execute_blocking(sql, &ExecOptions::default());
            assert!(result.is_ok(), "{sql}: {result:?}");
        }
        let columns = db
            .execute_blocking(
                "SELECT name FROM pragma_table_info('t')",
                &ExecOptions::default(),
            )
            .unwrap();
        assert_eq!(columns.rows.len(), 4);
        let refused = db
            .execute_blocking("SELECT * FROM pragma_journal_mode", &ExecOptions::default())
            .unwrap_err();
        assert!(refused.is_refusal(), "{refused}");
    }

    #[test]
    fn sql_errors_carry_sqlite_messages() {
        let (_dir, path) = fixture(3);
        let db = SqliteDatabase::open(&path).unwrap();
        let error = db
            .execute_blocking("SELECT * FROM no_such_table", &ExecOptions::default())
            .unwrap_err();
        assert!(matches!(error, ToolsError::Sql { .. }), "{error}");
        assert!(
            error.to_string().contains("no such table: no_such_table"),
            "{error}"
        );
    }

    #[test]
    fn sqlite_syntax_sqlparser_rejects_still_runs_via_the_fallback() {
        let (_dir, path) = fixture(3);
        let db = SqliteDatabase::open(&path).unwrap();
        // `NOT INDEXED` is valid SQLite that sqlparser does not parse.
        assert!(matches!(
            safety::check_read_only("SELECT id FROM t NOT INDEXED", Dialect::Sqlite),
            Err(ToolsError::Parse { .. })
        ));
        let result = db.execute_blocking("SELECT id FROM t NOT INDEXED", &ExecOptions::default());
        assert_eq!(result.unwrap().rows.len(), 3);
        // A fallback statement is still one statement.
        let error = db
            .execute_blocking(
                "SELECT id FROM t NOT INDEXED; DELETE FROM t",
                &ExecOptions::default(),
            )
            .unwrap_err();
        assert!(error.is_refusal(), "{error}");
    }

    #[test]
    fn open_errors_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.sqlite");
        let empty = dir.path().join("empty.sqlite");
        std::fs::write(&empty, b"").unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"just some text, definitely not a database\n").unwrap();
        let short = dir.path().join("short.sqlite");
        std::fs::write(&short, b"SQLite").unwrap();
        for (path, expected) in [
            (missing, "file not found"),
            (dir.path().to_path_buf(), "is a directory"),
            (empty, "empty"),
            (text, "not a SQLite database"),
            (short, "not a SQLite database"),
        ] {
            let error = SqliteDatabase::open(&path).unwrap_err();
            let message = error.to_string();
            assert!(matches!(error, ToolsError::Open { .. }), "{message}");
            assert!(message.contains(expected), "{}: {message}", path.display());
            assert_eq!(message.lines().count(), 1);
        }
        // A valid header over garbage is caught when the schema is read.
        let corrupt = dir.path().join("corrupt.sqlite");
        let mut bytes = SQLITE_HEADER.to_vec();
        bytes.extend(std::iter::repeat_n(0xAB, 4096));
        std::fs::write(&corrupt, bytes).unwrap();
        let error = SqliteDatabase::open(&corrupt).unwrap_err();
        assert!(matches!(error, ToolsError::Open { .. }), "{error}");
    }

    #[test]
    fn connections_are_pooled_and_reused() {
        let (_dir, path) = fixture(3);
        let db = SqliteDatabase::open(&path).unwrap();
        for _ in 0..20 {
            db.execute_blocking("SELECT count(*) FROM t", &ExecOptions::default())
                .unwrap();
        }
        assert_eq!(
            db.shared.idle.lock().unwrap().len(),
            1,
            "one connection serves a sequence"
        );
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        db.execute_blocking("SELECT count(*) FROM t", &ExecOptions::default())
                            .unwrap();
                    }
                });
            }
        });
        let idle = db.shared.idle.lock().unwrap().len();
        assert!((1..=4).contains(&idle), "{idle} idle connections");
    }

    #[tokio::test]
    async fn the_async_api_runs_on_the_blocking_pool() {
        let (_dir, path) = fixture(5);
        let db: Arc<dyn Database> = Arc::new(SqliteDatabase::open(&path).unwrap());
        assert_eq!(db.dialect(), Dialect::Sqlite);
        assert_eq!(db.name(), "fixture.sqlite");
        let result = db
            .execute("SELECT count(*) FROM t", &ExecOptions::default())
            .await
            .unwrap();
        assert_eq!(result.rows, vec![vec![Value::Integer(5)]]);
    }
}
