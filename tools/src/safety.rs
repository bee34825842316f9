//! The read-only gate: layer (a) of learnat's read-only defence.
//!
//! Every statement passes [`check_read_only`] before it reaches an engine. The gate parses the
//! text with sqlparser (SQLite or PostgreSQL dialect) and admits exactly one statement of these
//! kinds:
//!
//! - a query: `SELECT`, `WITH … SELECT`, `VALUES`, set operations (`UNION`, `INTERSECT`,
//!   `EXCEPT`) and parenthesised queries;
//! - `EXPLAIN` / `EXPLAIN QUERY PLAN` (and PostgreSQL's `EXPLAIN ANALYZE`) of such a query.
//!
//! Inside an admitted query it refuses, by walking the whole tree with a [`Visitor`]:
//! `SELECT … INTO` (creates a table), `FOR UPDATE` / `FOR SHARE` locking clauses,
//! data-modifying statements nested in `WITH` or subqueries (PostgreSQL's
//! `WITH d AS (DELETE …) SELECT …`), and calls to functions that touch files, the server or
//! session state (see [`denied_function`]), whether called as scalars or as table functions.
//!
//! The gate is the first layer, not the only one: the engines enforce read-only access
//! themselves (SQLite: read-only open, `query_only`, an authorizer; PostgreSQL: a `READ ONLY`
//! transaction that is always rolled back), and resource limits stop runaway queries.
//!
//! **SQLite fallback.** sqlparser does not parse every statement SQLite accepts (odd quoting,
//! some function syntax, …). When the SQLite dialect fails to parse, `check_read_only` returns
//! [`ToolsError::Parse`]; the SQLite engine ([`crate::sqlite`]) then verifies the statement with
//! SQLite's own parser instead: the first keyword (from sqlparser's tokenizer, see
//! [`first_keyword`]) must be `SELECT`, `WITH`, `VALUES` or `EXPLAIN`, nothing but whitespace and
//! comments may follow the first `;` (checked on tokens, [`has_text_after_first_statement`], and
//! again by SQLite when it prepares the text), the statement is prepared on a read-only
//! connection with the authorizer installed, and SQLite must report it as read-only.
//! Over the Spider dev gold, Spider train and parity prediction files (10,327 statements SQLite
//! prepares read-only), none needs this fallback: sqlparser 0.63 parses them all (measured by the
//! `spider_queries_pass_the_gate` test in `tests/adversarial.rs`). PostgreSQL
//! has no fallback: a statement the PostgreSQL dialect cannot parse is not run.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, ObjectName, Query, Select, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use sqlparser::dialect::{PostgreSqlDialect, SQLiteDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::database::Dialect;
use crate::error::{ToolsError, ToolsResult};

/// Statements longer than this are refused before parsing: no legitimate question needs a
/// megabyte of SQL, and parsing one costs time the timeout does not cover.
pub const MAX_SQL_BYTES: usize = 1024 * 1024;

/// sqlparser's nesting limit. Deep enough for any real query (Spider's deepest nest well below
/// it), shallow enough that a nesting bomb fails fast instead of exhausting the stack.
const PARSER_RECURSION_LIMIT: usize = 64;

/// The statement kinds the gate admits.
///
/// Returns `Ok(())` when `sql` is exactly one read-only statement (`SELECT`, `WITH … SELECT`,
/// `VALUES`, set operations, or `EXPLAIN` of one of these) that calls no denied function.
/// A trailing `;` and comments are fine.
///
/// Errors: [`ToolsError::Refused`] with a one-line reason naming the statement kind or function;
/// [`ToolsError::Parse`] when the dialect's parser cannot read the text (for SQLite the engine
/// then falls back to SQLite's own parser, see the module documentation);
/// [`ToolsError::ResourceLimit`] for statements over [`MAX_SQL_BYTES`] or nested deeper than the
/// parser's recursion limit.
///
/// ```
/// use learnat_tools::{Dialect, safety::check_read_only};
/// assert!(check_read_only("SELECT name FROM singer ORDER BY age", Dialect::Sqlite).is_ok());
/// let refused = check_read_only("DELETE FROM singer", Dialect::Sqlite).unwrap_err();
/// assert!(refused.to_string().starts_with("refused: "));
/// ```
pub fn check_read_only(sql: &str, dialect: Dialect) -> ToolsResult<()> {
    checked_statement(sql, dialect).map(drop)
}

/// Like [`check_read_only`], but returns the admitted statement, for engines that need its
/// tree (PostgreSQL re-renders it to cast columns it cannot decode).
pub fn checked_statement(sql: &str, dialect: Dialect) -> ToolsResult<Statement> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(ToolsError::ResourceLimit {
            what: format!(
                "the statement is {} bytes long; at most {} bytes are accepted",
                sql.len(),
                MAX_SQL_BYTES
            ),
        });
    }
    let mut statements = parse(sql, dialect)?;
    if statements.len() > 1 {
        let kinds: Vec<String> = statements.iter().map(statement_kind).collect();
        return Err(ToolsError::Refused {
            reason: format!(
                "only one read-only statement (SELECT, WITH … SELECT, VALUES, EXPLAIN) may run; \
                 got {} statements ({})",
                statements.len(),
                kinds.join("; ")
            ),
        });
    }
    let Some(statement) = statements.pop() else {
        return Err(ToolsError::Refused {
            reason: "no statement given (the text is empty or only comments)".to_string(),
        });
    };
    let mut visitor = ReadOnlyVisitor {
        dialect,
        statement_depth: 0,
    };
    match statement.visit(&mut visitor) {
        ControlFlow::Continue(()) => Ok(statement),
        ControlFlow::Break(reason) => Err(ToolsError::Refused { reason }),
    }
}

fn parse(sql: &str, dialect: Dialect) -> ToolsResult<Vec<Statement>> {
    let result = match dialect {
        Dialect::Sqlite => Parser::new(&SQLiteDialect {})
            .with_recursion_limit(PARSER_RECURSION_LIMIT)
            .try_with_sql(sql)
            .and_then(|mut parser| parser.parse_statements()),
        Dialect::Postgres => Parser::new(&PostgreSqlDialect {})
            .with_recursion_limit(PARSER_RECURSION_LIMIT)
            .try_with_sql(sql)
            .and_then(|mut parser| parser.parse_statements()),
    };
    result.map_err(|error| match error {
        // A nesting bomb, not a syntax SQLite might still accept: stop it here.
        ParserError::RecursionLimitExceeded => ToolsError::ResourceLimit {
            what: format!(
                "the statement nests deeper than {PARSER_RECURSION_LIMIT} levels; simplify it"
            ),
        },
        other => ToolsError::Parse {
            message: other.to_string().replace('\n', " "),
        },
    })
}

/// The first keyword of `sql` in upper case, skipping whitespace and comments, as sqlparser's
/// tokenizer sees it; `None` when the text does not start with a word or does not tokenize.
/// Quoted identifiers (`"SELECT"`) are not keywords and give `None`.
///
/// Used by the SQLite fallback (see the module documentation) and for refusal messages.
pub fn first_keyword(sql: &str, dialect: Dialect) -> Option<String> {
    let tokens = match dialect {
        Dialect::Sqlite => Tokenizer::new(&SQLiteDialect {}, sql).tokenize(),
        Dialect::Postgres => Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize(),
    }
    .ok()?;
    let first = tokens
        .into_iter()
        .find(|token| !matches!(token, Token::Whitespace(_)))?;
    match first {
        Token::Word(word) if word.quote_style.is_none() && word.keyword != Keyword::NoKeyword => {
            Some(word.value.to_ascii_uppercase())
        }
        _ => None,
    }
}

/// True when anything but whitespace and comments follows the first `;` of `sql` (as
/// sqlparser's tokenizer reads it), or when the text does not tokenize: a second statement.
/// Used by the SQLite fallback, which must not hand SQLite more than one statement.
pub fn has_text_after_first_statement(sql: &str, dialect: Dialect) -> bool {
    let tokens = match dialect {
        Dialect::Sqlite => Tokenizer::new(&SQLiteDialect {}, sql).tokenize(),
        Dialect::Postgres => Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize(),
    };
    let Ok(tokens) = tokens else {
        return true;
    };
    tokens
        .iter()
        .skip_while(|token| !matches!(token, Token::SemiColon))
        .skip(1)
        .any(|token| !matches!(token, Token::Whitespace(_)))
}

/// Keywords a statement admitted by the SQLite fallback may start with.
pub const READ_ONLY_FIRST_KEYWORDS: [&str; 4] = ["SELECT", "WITH", "VALUES", "EXPLAIN"];

/// The refusal reason for a statement of the given kind, in the gate's standard wording.
pub fn refusal_for_kind(kind: &str) -> String {
    format!(
        "only one read-only statement (SELECT, WITH … SELECT, VALUES, EXPLAIN) may run; got {kind}"
    )
}

/// SQLite functions that read or write files, load code or reconfigure the engine. Most are
/// shell or extension functions absent from the bundled library; they are named anyway so a
/// build that has them still refuses them.
const SQLITE_DENIED_FUNCTIONS: [&str; 10] = [
    "load_extension",
    "writefile",
    "readfile",
    "edit",
    "fts3_tokenizer",
    "zipfile",
    "zipfile_cds",
    "fsdir",
    "lsmode",
    "sqlite_dbpage",
];

/// SQLite function-name prefixes refused as a family (the sqlar archive helpers).
const SQLITE_DENIED_PREFIXES: [&str; 1] = ["sqlar_"];

/// PostgreSQL functions that sleep, touch files or large objects, reach other servers, change
/// settings, signal backends, take locks or advance sequences.
const POSTGRES_DENIED_FUNCTIONS: [&str; 32] = [
    "pg_read_file",
    "pg_read_binary_file",
    "pg_stat_file",
    "pg_file_write",
    "pg_file_rename",
    "pg_file_unlink",
    "pg_logdir_ls",
    "set_config",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_switch_wal",
    "pg_promote",
    "pg_create_restore_point",
    "pg_backup_start",
    "pg_backup_stop",
    "pg_start_backup",
    "pg_stop_backup",
    "pg_notify",
    "pg_logical_emit_message",
    "pg_export_snapshot",
    "pg_import_system_collations",
    "nextval",
    "setval",
    "currval",
    "lastval",
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "query_to_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
];

/// PostgreSQL function-name prefixes refused as families.
const POSTGRES_DENIED_PREFIXES: [&str; 13] = [
    "pg_sleep",
    "pg_ls_",
    "lo_",
    "dblink",
    "pg_advisory",
    "pg_try_advisory",
    "txid_",
    "pg_current_xact_id",
    "pg_stat_reset",
    "pg_replication_",
    "pg_create_logical_replication_slot",
    "pg_create_physical_replication_slot",
    "pg_drop_replication_slot",
];

/// Whether a call to `name` (case-insensitive; the last part of a qualified name) is denied in
/// `dialect`. The SQLite list applies to both dialects (the names mean nothing in PostgreSQL);
/// the PostgreSQL list only to PostgreSQL.
pub fn denied_function(name: &str, dialect: Dialect) -> bool {
    let name = name.to_ascii_lowercase();
    let in_list = |names: &[&str], prefixes: &[&str]| {
        names.contains(&name.as_str()) || prefixes.iter().any(|prefix| name.starts_with(prefix))
    };
    in_list(&SQLITE_DENIED_FUNCTIONS, &SQLITE_DENIED_PREFIXES)
        || (dialect == Dialect::Postgres
            && in_list(&POSTGRES_DENIED_FUNCTIONS, &POSTGRES_DENIED_PREFIXES))
}

/// Walks an admitted statement and breaks with the refusal reason at the first forbidden node.
struct ReadOnlyVisitor {
    dialect: Dialect,
    /// How many statements enclose the node being visited (0 outside the top-level one).
    statement_depth: usize,
}

impl ReadOnlyVisitor {
    fn check_function_name(&self, name: &ObjectName) -> ControlFlow<String> {
        let last = name.0.last().and_then(|part| part.as_ident());
        match last {
            Some(ident) if denied_function(&ident.value, self.dialect) => {
                ControlFlow::Break(format!(
                    "function {}() is not allowed in read-only queries (it reaches files, the \
                     server or session state)",
                    ident.value
                ))
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

impl Visitor for ReadOnlyVisitor {
    type Break = String;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<String> {
        self.statement_depth += 1;
        let nested = self.statement_depth > 1;
        match statement {
            Statement::Query(_) => ControlFlow::Continue(()),
            Statement::Explain {
                statement: inner, ..
            } if !nested && matches!(**inner, Statement::Query(_)) => ControlFlow::Continue(()),
            Statement::Explain {
                statement: inner, ..
            } if !nested => ControlFlow::Break(format!(
                "EXPLAIN is admitted only for a query; got EXPLAIN {}",
                statement_kind(inner)
            )),
            other if nested => ControlFlow::Break(nested_write_refusal(other)),
            other => ControlFlow::Break(refusal_for_kind(&statement_kind(other))),
        }
    }

    fn post_visit_statement(&mut self, _statement: &Statement) -> ControlFlow<String> {
        self.statement_depth = self.statement_depth.saturating_sub(1);
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<String> {
        if let Some(lock) = query.locks.first() {
            return ControlFlow::Break(format!(
                "locking clause {lock} takes row locks; only plain read-only queries may run"
            ));
        }
        if let SetExpr::Insert(nested)
        | SetExpr::Update(nested)
        | SetExpr::Delete(nested)
        | SetExpr::Merge(nested) = query.body.as_ref()
        {
            return ControlFlow::Break(nested_write_refusal(nested));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<String> {
        if select.into.is_some() {
            return ControlFlow::Break(
                "SELECT … INTO creates a table; only read-only queries may run".to_string(),
            );
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, table_factor: &TableFactor) -> ControlFlow<String> {
        match table_factor {
            // A table name with arguments is a table-valued function call.
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => self.check_function_name(name),
            _ => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::Function(function) => self.check_function_name(&function.name),
            _ => ControlFlow::Continue(()),
        }
    }
}

fn nested_write_refusal(statement: &Statement) -> String {
    format!(
        "{} inside a WITH clause or subquery modifies data; only read-only queries may run",
        statement_kind(statement)
    )
}

/// A short name for the kind of a statement, for refusal messages ("DELETE", "DROP TABLE").
pub fn statement_kind(statement: &Statement) -> String {
    let fixed = match statement {
        Statement::Query(_) => "SELECT",
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::CreateTrigger(_) => "CREATE TRIGGER",
        Statement::CreateVirtualTable { .. } => "CREATE VIRTUAL TABLE",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Drop { object_type, .. } => return format!("DROP {object_type}"),
        Statement::DropTrigger(_) => "DROP TRIGGER",
        Statement::AttachDatabase { .. } => "ATTACH",
        Statement::Pragma { .. } => "PRAGMA",
        Statement::Vacuum(_) => "VACUUM",
        Statement::Analyze(_) => "ANALYZE",
        Statement::StartTransaction { .. } => "BEGIN (transaction control)",
        Statement::Commit { .. } => "COMMIT (transaction control)",
        Statement::Rollback { .. } => "ROLLBACK (transaction control)",
        Statement::Savepoint { .. } => "SAVEPOINT (transaction control)",
        Statement::ReleaseSavepoint { .. } => "RELEASE (transaction control)",
        Statement::Copy { .. } => "COPY",
        Statement::Call(_) => "CALL",
        Statement::Set(_) => "SET",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::Grant(_) => "GRANT",
        Statement::Revoke(_) => "REVOKE",
        Statement::Lock(_) | Statement::LockTables { .. } => "LOCK",
        Statement::Explain { .. } => "EXPLAIN",
        _ => {
            // Every other kind renders starting with its own keyword(s); the first word is
            // enough to name it in a one-line message.
            let rendered = statement.to_string();
            return rendered
                .split_whitespace()
                .next()
                .unwrap_or("an unknown statement")
                .to_ascii_uppercase();
        }
    };
    fixed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(sql: &str, dialect: Dialect) -> bool {
        check_read_only(sql, dialect).is_ok()
    }

    fn refusal(sql: &str, dialect: Dialect) -> String {
        match check_read_only(sql, dialect) {
            Err(error @ ToolsError::Refused { .. }) => error.to_string(),
            other => panic!("{sql}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn queries_are_admitted_in_both_dialects() {
        for sql in [
            "SELECT 1",
            "select name from singer where age > 20 order by name limit 3;",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 5) SELECT x FROM n",
            "VALUES (1, 'a'), (2, 'b')",
            "SELECT 1 UNION SELECT 2 EXCEPT SELECT 3",
            "(SELECT 1)",
            "/* leading comment */ SELECT 1 -- trailing comment",
            "SELECT count(*) FROM a JOIN b ON a.id = b.id GROUP BY a.x HAVING count(*) > 1",
            "SELECT * FROM t WHERE x IN (SELECT y FROM u)",
            "EXPLAIN SELECT 1",
        ] {
            assert!(admitted(sql, Dialect::Sqlite), "sqlite: {sql}");
            assert!(admitted(sql, Dialect::Postgres), "postgres: {sql}");
        }
        assert!(admitted(
            "EXPLAIN QUERY PLAN SELECT * FROM t",
            Dialect::Sqlite
        ));
        assert!(admitted(
            "SELECT * FROM pragma_table_info('t')",
            Dialect::Sqlite
        ));
        assert!(admitted("EXPLAIN ANALYZE SELECT 1", Dialect::Postgres));
    }

    #[test]
    fn writes_and_ddl_are_refused_naming_the_kind() {
        for (sql, kind) in [
            ("DELETE FROM singer", "got DELETE"),
            ("INSERT INTO t VALUES (1)", "got INSERT"),
            ("REPLACE INTO t VALUES (1)", "got INSERT"),
            ("UPDATE t SET x = 1", "got UPDATE"),
            ("DROP TABLE t", "got DROP TABLE"),
            ("CREATE TABLE t (x)", "got CREATE TABLE"),
            ("CREATE VIEW v AS SELECT 1", "got CREATE VIEW"),
            ("ALTER TABLE t ADD COLUMN y", "got ALTER TABLE"),
            ("ATTACH DATABASE 'x.db' AS x", "got ATTACH"),
            ("PRAGMA writable_schema = 1", "got PRAGMA"),
            ("BEGIN", "got BEGIN"),
            ("COMMIT", "got COMMIT"),
        ] {
            let message = refusal(sql, Dialect::Sqlite);
            assert!(
                message.starts_with("refused: only one read-only statement"),
                "{message}"
            );
            assert!(message.contains(kind), "{sql}: {message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        }
    }

    #[test]
    fn several_statements_are_refused_even_when_all_read() {
        let message = refusal("SELECT 1; DROP TABLE t", Dialect::Sqlite);
        assert!(
            message.contains("got 2 statements (SELECT; DROP TABLE)"),
            "{message}"
        );
        assert!(refusal("SELECT 1; SELECT 2", Dialect::Sqlite).contains("2 statements"));
        // A trailing semicolon is not a second statement; a `;` inside a string or comment is
        // not a separator.
        assert!(admitted("SELECT 1;", Dialect::Sqlite));
        assert!(admitted("SELECT ';DROP TABLE t' /* ; */", Dialect::Sqlite));
    }

    #[test]
    fn empty_text_is_refused() {
        assert!(refusal("", Dialect::Sqlite).contains("no statement"));
        assert!(refusal("  -- only a comment\n", Dialect::Sqlite).contains("no statement"));
    }

    #[test]
    fn postgres_specific_writes_inside_queries_are_refused() {
        let cases = [
            (
                "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
                "DELETE inside a WITH",
            ),
            ("SELECT * INTO new_table FROM t", "SELECT … INTO"),
            ("SELECT * FROM t FOR UPDATE", "locking clause"),
            ("SELECT * FROM t FOR SHARE", "locking clause"),
            ("SELECT pg_sleep(10)", "pg_sleep"),
            (
                "SELECT pg_catalog.pg_read_file('/etc/passwd')",
                "pg_read_file",
            ),
            (
                "SELECT set_config('statement_timeout', '0', false)",
                "set_config",
            ),
            ("SELECT lo_import('/etc/passwd')", "lo_import"),
            ("SELECT nextval('s')", "nextval"),
            (
                "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(x int)",
                "dblink",
            ),
            ("SELECT pg_advisory_lock(1)", "pg_advisory_lock"),
            ("COPY t TO '/tmp/x'", "got COPY"),
            ("CALL p()", "got CALL"),
            ("SET statement_timeout = 0", "got SET"),
            ("TRUNCATE t", "got TRUNCATE"),
            ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN DELETE"),
        ];
        for (sql, expected) in cases {
            let message = refusal(sql, Dialect::Postgres);
            assert!(message.contains(expected), "{sql}: {message}");
        }
    }

    #[test]
    fn denied_functions_are_refused_anywhere_in_the_tree() {
        for sql in [
            "SELECT load_extension('/tmp/evil.so')",
            "SELECT LOAD_EXTENSION('x')",
            "SELECT * FROM t WHERE x = (SELECT writefile('/tmp/x', 'data'))",
            "SELECT readfile('/etc/passwd')",
            "WITH a AS (SELECT edit('x')) SELECT * FROM a",
            "SELECT * FROM fsdir('/')",
            "SELECT sqlar_uncompress(x, 1) FROM t",
        ] {
            assert!(
                refusal(sql, Dialect::Sqlite).contains("is not allowed"),
                "{sql}"
            );
        }
        // Ordinary functions and a column that happens to be called `edit` are fine.
        assert!(admitted(
            "SELECT max(edit), lower(name) FROM t",
            Dialect::Sqlite
        ));
        assert!(admitted("SELECT pg_sleep FROM t", Dialect::Postgres));
        assert!(!denied_function("count", Dialect::Postgres));
        assert!(denied_function("pg_sleep_for", Dialect::Postgres));
        assert!(!denied_function("pg_sleep_for", Dialect::Sqlite));
    }

    #[test]
    fn unparseable_text_is_a_parse_error_and_oversized_text_a_resource_limit() {
        assert!(matches!(
            check_read_only("SELEC * FORM x", Dialect::Sqlite),
            Err(ToolsError::Parse { .. })
        ));
        let huge = format!("SELECT '{}'", "x".repeat(MAX_SQL_BYTES));
        assert!(matches!(
            check_read_only(&huge, Dialect::Sqlite),
            Err(ToolsError::ResourceLimit { .. })
        ));
        let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(
            check_read_only(&deep, Dialect::Sqlite),
            Err(ToolsError::ResourceLimit { .. })
        ));
    }

    #[test]
    fn first_keyword_skips_comments_and_ignores_quoted_words() {
        assert_eq!(
            first_keyword("  /* c */ -- d\n select 1", Dialect::Sqlite).as_deref(),
            Some("SELECT")
        );
        assert_eq!(first_keyword("\"SELECT\" x", Dialect::Sqlite), None);
        assert_eq!(first_keyword("(SELECT 1)", Dialect::Sqlite), None);
        assert_eq!(
            first_keyword("vacuum", Dialect::Sqlite).as_deref(),
            Some("VACUUM")
        );
    }
}
