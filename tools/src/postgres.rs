//! PostgreSQL engine (feature `postgres`): tokio-postgres, every statement read-only.
//!
//! Each statement passes the [`crate::safety`] gate (PostgreSQL dialect; there is no parser
//! fallback here), then runs inside `BEGIN READ ONLY` with `SET LOCAL statement_timeout` (and
//! `jit = off`, whose compile phase the timeout cannot interrupt), through
//! a portal that fetches at most the row cap (plus one row, to know whether it truncated), and
//! the transaction is always rolled back, on success and on error. A server-side timeout
//! (SQLSTATE 57014) becomes [`ToolsError::Timeout`]; a write the server refuses in the read-only
//! transaction (25006) becomes [`ToolsError::Refused`]. A client-side deadline one second past
//! the timeout backs the server's up: it cancels the query and drops the connection.
//!
//! Values are decoded from PostgreSQL's binary format: `bool` → integer 0/1, `int2/4/8`, `oid` →
//! integer, `float4/8` → real, `numeric` → real when it has at most 15 significant digits (else
//! its exact decimal text), text types, `json`/`jsonb`, `uuid` → text, `bytea` → blob, dates and
//! times → ISO text (`timestamptz` in UTC with `+00`). For a column of any other type (arrays,
//! intervals, ranges, extension types) the statement is re-run with that column cast to `text`:
//! the admitted statement is rendered back from its syntax tree and wrapped as
//! `SELECT c1, c2::text, … FROM (<statement>) AS learnat_result(c1, c2, …)`, which keeps the
//! statement's own row order; the column names reported are the original ones.
//!
//! Connections come from a small pool (reused; closed ones are dropped and reconnected). TLS is
//! not supported: the URL must allow a plain connection (`sslmode=disable` or `prefer`).

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use crate::database::{Database, Dialect, ExecOptions, redact_password};
use crate::error::{ToolsError, ToolsResult};
use crate::safety;
use crate::value::{QueryResult, Value};

/// How long establishing a connection may take, unless the URL sets `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept for reuse.
const MAX_IDLE_CONNECTIONS: usize = 8;

/// Rows fetched from the portal per round trip.
const FETCH_CHUNK: usize = 256;

/// PostgreSQL's message for SQLSTATE 25P02 (in_failed_sql_transaction).
const STALE_TRANSACTION: &str = "current transaction is aborted";

/// The client-side backstop fires this long after the server's `statement_timeout` should have.
const CLIENT_DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// A PostgreSQL database reached over the network, read-only.
pub struct PostgresDatabase {
    config: Config,
    /// The URL with its password redacted, for messages and [`Database::name`].
    name: String,
    /// `host:port` of the first target, for connection messages.
    target: String,
    idle: Mutex<Vec<Client>>,
}

impl std::fmt::Debug for PostgresDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDatabase")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PostgresDatabase {
    /// Connect to the server at `url` (`postgres://user:password@host:port/database`) and check
    /// that it answers. Errors ([`ToolsError::Connection`]) say what failed and where, e.g.
    /// "connection refused at 127.0.0.1:5433 — is the server running?".
    pub async fn connect(url: &str) -> ToolsResult<PostgresDatabase> {
        let name = redact_password(url);
        let mut config = Config::from_str(url).map_err(|error| ToolsError::Connection {
            message: format!("'{name}' is not a valid PostgreSQL URL: {error}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let target = describe_target(&config);
        let database = PostgresDatabase {
            config,
            name,
            target,
            idle: Mutex::new(Vec::new()),
        };
        let client = database.open_connection().await?;
        database.idle.lock().await.push(client);
        Ok(database)
    }

    async fn open_connection(&self) -> ToolsResult<Client> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|error| connect_error(&error, &self.target, &self.config))?;
        // The connection object does the I/O; it ends when the client is dropped.
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!("PostgreSQL connection ended: {error}");
            }
        });
        Ok(client)
    }

    async fn checkout(&self) -> ToolsResult<Client> {
        loop {
            let pooled = self.idle.lock().await.pop();
            match pooled {
                Some(client) if client.is_closed() => continue,
                Some(client) => return Ok(client),
                None => return self.open_connection().await,
            }
        }
    }

    async fn checkin(&self, client: Client) {
        if client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().await;
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(client);
        }
    }

    async fn execute_checked(
        &self,
        sql: &str,
        statement: &sqlparser::ast::Statement,
        options: &ExecOptions,
    ) -> ToolsResult<QueryResult> {
        let first = self.execute_once(sql, statement, options, false).await;
        match first {
            // "current transaction is aborted" is the connection's state, never the statement's
            // (each statement runs in its own transaction): run it once more on a new connection.
            Err(ToolsError::Sql { ref message }) if message.contains(STALE_TRANSACTION) => {
                tracing::debug!("PostgreSQL connection was in an aborted transaction; retrying");
                self.execute_once(sql, statement, options, true).await
            }
            other => other,
        }
    }

    async fn execute_once(
        &self,
        sql: &str,
        statement: &sqlparser::ast::Statement,
        options: &ExecOptions,
        fresh: bool,
    ) -> ToolsResult<QueryResult> {
        let mut client = if fresh {
            self.open_connection().await?
        } else {
            self.checkout().await?
        };
        let cancel = client.cancel_token();
        let deadline = options.timeout + CLIENT_DEADLINE_SLACK;
        let outcome = tokio::time::timeout(
            deadline,
            run_read_only(&mut client, sql, statement, options),
        )
        .await;
        match outcome {
            Ok((result, clean)) => {
                // Only a connection whose statement succeeded and whose rollback went through
                // goes back to the pool: one that saw an error might still sit in an aborted
                // transaction, where every later statement would fail. Reconnecting costs a few
                // milliseconds on the rare error.
                if clean && result.is_ok() {
                    self.checkin(client).await;
                }
                result
            }
            Err(_elapsed) => {
                // The server did not honour statement_timeout: cancel the query and do not
                // reuse a connection in an unknown state.
                let _ = cancel.cancel_query(NoTls).await;
                Err(ToolsError::Timeout {
                    after: options.timeout,
                })
            }
        }
    }
}

#[async_trait]
impl Database for PostgresDatabase {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn execute(&self, sql: &str, options: &ExecOptions) -> ToolsResult<QueryResult> {
        let statement = safety::checked_statement(sql, Dialect::Postgres)?;
        self.execute_checked(sql, &statement, options).await
    }
}

/// One statement in a READ ONLY transaction that is always rolled back. The flag says whether
/// the rollback went through, so the connection is back outside any transaction.
async fn run_read_only(
    client: &mut Client,
    sql: &str,
    statement: &sqlparser::ast::Statement,
    options: &ExecOptions,
) -> (ToolsResult<QueryResult>, bool) {
    let start = Instant::now();
    let transaction = match client.build_transaction().read_only(true).start().await {
        Ok(transaction) => transaction,
        Err(error) => return (Err(query_error(&error, options)), false),
    };
    let timeout_ms = options.timeout.as_millis().max(1);
    let result = async {
        // JIT off: LLVM compilation (and, in a fresh backend, loading LLVM) runs before the
        // executor checks for interrupts, so statement_timeout cannot stop it; the planner
        // turns it on for any costly plan, such as the cross joins a model can write.
        transaction
            .batch_execute(&format!(
                "SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL jit = off"
            ))
            .await?;
        let prepared = transaction.prepare(sql).await?;
        let columns: Vec<String> = prepared
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let to_cast: Vec<bool> = prepared
            .columns()
            .iter()
            .map(|c| !decodes_natively(c.type_()))
            .collect();
        let runnable = if to_cast.iter().any(|&cast| cast) {
            transaction
                .prepare(&cast_to_text(statement, &to_cast))
                .await?
        } else {
            prepared
        };
        let fetched = fetch_capped(&transaction, &runnable, options).await?;
        Ok::<_, tokio_postgres::Error>((columns, fetched))
    }
    .await;
    // Always roll back, also after an error (the transaction is then aborted anyway).
    let stale =
        matches!(&result, Err(error) if error.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    let rolled_back = transaction.rollback().await;
    let clean = rolled_back.is_ok() && !stale;
    let outcome = match (result, rolled_back) {
        (Err(error), _) | (Ok(_), Err(error)) => Err(query_error(&error, options)),
        (Ok((columns, (rows, truncated))), Ok(())) => Ok(QueryResult {
            columns,
            rows,
            elapsed: start.elapsed(),
            truncated,
        }),
    };
    (outcome, clean)
}

/// Fetch through a portal, at most `max_rows` rows and `max_result_bytes` bytes.
async fn fetch_capped(
    transaction: &tokio_postgres::Transaction<'_>,
    statement: &Statement,
    options: &ExecOptions,
) -> Result<(Vec<Vec<Value>>, bool), tokio_postgres::Error> {
    let portal = transaction.bind(statement, &[]).await?;
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    loop {
        // One row beyond the cap tells whether anything was dropped.
        let wanted = (options.max_rows.saturating_add(1) - rows.len()).min(FETCH_CHUNK);
        let chunk = transaction
            .query_portal(&portal, i32::try_from(wanted).unwrap_or(i32::MAX))
            .await?;
        let exhausted = chunk.len() < wanted;
        for row in &chunk {
            if rows.len() >= options.max_rows {
                return Ok((rows, true));
            }
            let values = decode_row(row)?;
            let size: usize = values.iter().map(Value::approx_size).sum();
            if bytes + size > options.max_result_bytes {
                return Ok((rows, true));
            }
            bytes += size;
            rows.push(values);
        }
        if exhausted {
            return Ok((rows, false));
        }
    }
}

/// `SELECT c1, c2::text, … FROM (<statement>) AS learnat_result(c1, c2, …)`, casting the columns
/// marked in `cast` to text.
fn cast_to_text(statement: &sqlparser::ast::Statement, cast: &[bool]) -> String {
    let mut projection = String::new();
    let mut aliases = String::new();
    for (index, &to_text) in cast.iter().enumerate() {
        if index > 0 {
            projection.push_str(", ");
            aliases.push_str(", ");
        }
        let _ = write!(aliases, "c{}", index + 1);
        let _ = write!(
            projection,
            "c{}{}",
            index + 1,
            if to_text { "::text" } else { "" }
        );
    }
    // The newline keeps a trailing line comment of the statement from swallowing the `)`.
    format!("SELECT {projection} FROM ({statement}\n) AS learnat_result({aliases})")
}

/// Types [`decode_value`] reads from the binary format.
fn decodes_natively(ty: &Type) -> bool {
    [
        Type::BOOL,
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::OID,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::CHAR,
        Type::UNKNOWN,
        Type::JSON,
        Type::JSONB,
        Type::XML,
        Type::UUID,
        Type::BYTEA,
        Type::DATE,
        Type::TIME,
        Type::TIMESTAMP,
        Type::TIMESTAMPTZ,
    ]
    .contains(ty)
}

/// A column's raw binary value, whatever its type.
struct RawColumn<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for RawColumn<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawColumn(Some(raw)))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawColumn(None))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn decode_row(row: &Row) -> Result<Vec<Value>, tokio_postgres::Error> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let RawColumn(raw) = row.try_get(index)?;
        values.push(match raw {
            None => Value::Null,
            Some(bytes) => decode_value(column.type_(), bytes),
        });
    }
    Ok(values)
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const POSTGRES_EPOCH_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Decode one non-null value of type `ty` from PostgreSQL's binary format. A value that does
/// not have the expected shape becomes its bytes as (lossy) text rather than an error.
fn decode_value(ty: &Type, bytes: &[u8]) -> Value {
    let text = || Value::Text(String::from_utf8_lossy(bytes).into_owned());
    let be = |n: usize| -> Option<[u8; 8]> {
        (bytes.len() == n).then(|| {
            let mut buffer = [0u8; 8];
            buffer[8 - n..].copy_from_slice(bytes);
            buffer
        })
    };
    let int = |n: usize| {
        be(n).map(|b| {
            let unsigned = u64::from_be_bytes(b);
            // Sign-extend from n bytes.
            let shift = 64 - 8 * n as u32;
            ((unsigned << shift) as i64) >> shift
        })
    };
    match *ty {
        Type::BOOL => Value::Integer(i64::from(bytes.first().is_some_and(|&b| b != 0))),
        Type::INT2 => int(2).map_or_else(text, Value::Integer),
        Type::INT4 => int(4).map_or_else(text, Value::Integer),
        Type::INT8 => int(8).map_or_else(text, Value::Integer),
        Type::OID => be(4).map_or_else(text, |b| Value::Integer(u64::from_be_bytes(b) as i64)),
        Type::FLOAT4 => match <[u8; 4]>::try_from(bytes) {
            Ok(b) => Value::Real(f64::from(f32::from_be_bytes(b))),
            Err(_) => text(),
        },
        Type::FLOAT8 => match <[u8; 8]>::try_from(bytes) {
            Ok(b) => Value::Real(f64::from_be_bytes(b)),
            Err(_) => text(),
        },
        Type::NUMERIC => decode_numeric(bytes).map_or_else(text, numeric_value),
        Type::BYTEA => Value::Blob(bytes.to_vec()),
        // jsonb's binary form is a version byte (1) and the JSON text.
        Type::JSONB if bytes.first() == Some(&1) => {
            Value::Text(String::from_utf8_lossy(&bytes[1..]).into_owned())
        }
        Type::UUID => match <[u8; 16]>::try_from(bytes) {
            Ok(b) => Value::Text(format_uuid(&b)),
            Err(_) => text(),
        },
        Type::DATE => int(4).map_or_else(text, |days| Value::Text(format_date(days))),
        Type::TIME => int(8).map_or_else(text, |micros| Value::Text(format_time(micros))),
        Type::TIMESTAMP => int(8).map_or_else(text, |m| Value::Text(format_timestamp(m))),
        Type::TIMESTAMPTZ => int(8).map_or_else(text, |m| {
            let formatted = format_timestamp(m);
            // Infinite values carry no zone.
            if formatted.ends_with("infinity") {
                Value::Text(formatted)
            } else {
                Value::Text(format!("{formatted}+00"))
            }
        }),
        _ => text(),
    }
}

/// A numeric as sign, decimal digits before and after the point, or a special value.
#[derive(Debug, PartialEq)]
enum Numeric {
    Finite(String),
    NaN,
    Infinity,
    NegativeInfinity,
}

/// Decode PostgreSQL's binary numeric: ndigits, weight, sign, dscale (i16/i16/u16/u16), then
/// ndigits base-10000 digits; the first digit is worth 10000^weight.
fn decode_numeric(bytes: &[u8]) -> Option<Numeric> {
    let word = |i: usize| -> Option<u16> {
        Some(u16::from_be_bytes([
            *bytes.get(2 * i)?,
            *bytes.get(2 * i + 1)?,
        ]))
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = usize::from(word(3)?);
    match sign {
        0xC000 => return Some(Numeric::NaN),
        0xD000 => return Some(Numeric::Infinity),
        0xF000 => return Some(Numeric::NegativeInfinity),
        0x0000 | 0x4000 => {}
        _ => return None,
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
    let digit = |position: i64| -> u16 {
        usize::try_from(position)
            .ok()
            .and_then(|p| digits.get(p).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for position in 0..=weight {
            if position == 0 {
                let _ = write!(out, "{}", digit(position));
            } else {
                let _ = write!(out, "{:04}", digit(position));
            }
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::new();
        let groups = dscale.div_ceil(4) as i64;
        for k in 0..groups {
            let _ = write!(fraction, "{:04}", digit(weight + 1 + k));
        }
        fraction.truncate(dscale);
        out.push_str(&fraction);
    }
    Some(Numeric::Finite(out))
}

/// A numeric as a real when f64 holds it exactly enough (at most 15 significant digits), else
/// as its exact decimal text.
fn numeric_value(numeric: Numeric) -> Value {
    match numeric {
        Numeric::NaN => Value::Real(f64::NAN),
        Numeric::Infinity => Value::Real(f64::INFINITY),
        Numeric::NegativeInfinity => Value::Real(f64::NEG_INFINITY),
        Numeric::Finite(decimal) => {
            let significant = decimal
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>();
            let significant = significant.trim_start_matches('0');
            let significant = if decimal.contains('.') {
                significant.trim_end_matches('0')
            } else {
                significant
            };
            match decimal.parse::<f64>() {
                Ok(real) if significant.len() <= 15 => Value::Real(real),
                _ => Value::Text(decimal),
            }
        }
    }
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn format_date(days_since_2000: i64) -> String {
    match days_since_2000 {
        d if d == i64::from(i32::MAX) => "infinity".to_string(),
        d if d == i64::from(i32::MIN) => "-infinity".to_string(),
        d => {
            let (year, month, day) = civil_from_days(d + POSTGRES_EPOCH_DAYS);
            format!("{year:04}-{month:02}-{day:02}")
        }
    }
}

/// `HH:MM:SS` with the fraction of a second PostgreSQL shows (trailing zeros dropped).
fn format_time(micros_since_midnight: i64) -> String {
    let seconds = micros_since_midnight.div_euclid(1_000_000);
    let fraction = micros_since_midnight.rem_euclid(1_000_000);
    let mut out = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    );
    if fraction > 0 {
        let digits = format!("{fraction:06}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out
}

fn format_timestamp(micros_since_2000: i64) -> String {
    match micros_since_2000 {
        i64::MAX => "infinity".to_string(),
        i64::MIN => "-infinity".to_string(),
        m => {
            let days = m.div_euclid(MICROS_PER_DAY);
            let (year, month, day) = civil_from_days(days + POSTGRES_EPOCH_DAYS);
            let time = format_time(m.rem_euclid(MICROS_PER_DAY));
            format!("{year:04}-{month:02}-{day:02} {time}")
        }
    }
}

fn describe_target(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

fn connect_error(error: &tokio_postgres::Error, target: &str, config: &Config) -> ToolsError {
    let io_kind = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    let message = match (io_kind, error.as_db_error()) {
        (Some(std::io::ErrorKind::ConnectionRefused), _) => {
            format!("connection refused at {target} — is the server running?")
        }
        (Some(std::io::ErrorKind::TimedOut), _) => format!(
            "no answer from {target} within {} s — is the host reachable?",
            config
                .get_connect_timeout()
                .unwrap_or(&CONNECT_TIMEOUT)
                .as_secs()
        ),
        (_, Some(db)) => format!("{} (at {target})", db.message()),
        _ => format!("{} (at {target})", one_line(error)),
    };
    ToolsError::Connection { message }
}

/// Map an error of a running statement to the crate's kinds.
fn query_error(error: &tokio_postgres::Error, options: &ExecOptions) -> ToolsError {
    match error.code() {
        Some(code) if *code == SqlState::QUERY_CANCELED => ToolsError::Timeout {
            after: options.timeout,
        },
        Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => ToolsError::Refused {
            reason: format!(
                "the server refused a write in the read-only transaction: {}",
                one_line(error)
            ),
        },
        Some(code) if *code == SqlState::PROGRAM_LIMIT_EXCEEDED => ToolsError::ResourceLimit {
            what: one_line(error),
        },
        Some(code) if *code == SqlState::OUT_OF_MEMORY => ToolsError::ResourceLimit {
            what: format!("the server ran out of memory: {}", one_line(error)),
        },
        Some(_) => ToolsError::Sql {
            message: one_line(error),
        },
        None if error.is_closed() => ToolsError::Connection {
            message: format!("the server closed the connection: {}", one_line(error)),
        },
        None => ToolsError::Connection {
            message: one_line(error),
        },
    }
}

/// The most specific message of an error (the server's own for database errors), on one line.
fn one_line(error: &tokio_postgres::Error) -> String {
    let message = match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => match std::error::Error::source(error) {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    };
    message.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for word in [ndigits, weight as u16, sign, dscale] {
            bytes.extend(word.to_be_bytes());
        }
        for digit in digits {
            bytes.extend(digit.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn numerics_decode_exactly() {
        // 1234.50: digits [1234, 5000], weight 0, dscale 2.
        let bytes = numeric_bytes(2, 0, 0, 2, &[1234, 5000]);
        assert_eq!(
            decode_numeric(&bytes),
            Some(Numeric::Finite("1234.50".into()))
        );
        assert_eq!(
            numeric_value(decode_numeric(&bytes).unwrap()),
            Value::Real(1234.5)
        );
        // -0.01: digits [100], weight -1, dscale 2.
        let bytes = numeric_bytes(1, -1, 0x4000, 2, &[100]);
        assert_eq!(
            decode_numeric(&bytes),
            Some(Numeric::Finite("-0.01".into()))
        );
        // 10000 (weight 1, one digit 1) and 0 (no digits).
        let bytes = numeric_bytes(1, 1, 0, 0, &[1]);
        assert_eq!(
            decode_numeric(&bytes),
            Some(Numeric::Finite("10000".into()))
        );
        assert_eq!(
            decode_numeric(&numeric_bytes(0, 0, 0, 0, &[])),
            Some(Numeric::Finite("0".into()))
        );
        // 30 significant digits stay exact text.
        let huge = Numeric::Finite("123456789012345678901234567890.5".into());
        assert_eq!(
            numeric_value(huge),
            Value::Text("123456789012345678901234567890.5".into())
        );
        assert_eq!(
            decode_numeric(&numeric_bytes(0, 0, 0xC000, 0, &[])),
            Some(Numeric::NaN)
        );
        assert_eq!(decode_numeric(&[0, 1]), None, "truncated input");
    }

    #[test]
    fn dates_and_times_are_iso() {
        assert_eq!(format_date(0), "2000-01-01");
        assert_eq!(format_date(8825), "2024-02-29");
        assert_eq!(format_date(-1), "1999-12-31");
        assert_eq!(format_date(i64::from(i32::MAX)), "infinity");
        assert_eq!(format_time(30_600_000_000), "08:30:00");
        assert_eq!(format_time(1_250_000), "00:00:01.25");
        let moment = 8825 * MICROS_PER_DAY + 49_530_250_000;
        assert_eq!(format_timestamp(moment), "2024-02-29 13:45:30.25");
        assert_eq!(format_timestamp(-1), "1999-12-31 23:59:59.999999");
    }

    #[test]
    fn binary_values_decode_by_type() {
        assert_eq!(decode_value(&Type::BOOL, &[1]), Value::Integer(1));
        assert_eq!(decode_value(&Type::INT2, &[0xff, 0xff]), Value::Integer(-1));
        assert_eq!(
            decode_value(&Type::INT4, &[0, 0, 1, 0]),
            Value::Integer(256)
        );
        assert_eq!(
            decode_value(&Type::INT8, &(-5i64).to_be_bytes()),
            Value::Integer(-5)
        );
        assert_eq!(
            decode_value(&Type::FLOAT4, &1.5f32.to_be_bytes()),
            Value::Real(1.5)
        );
        assert_eq!(
            decode_value(&Type::TEXT, "héllo".as_bytes()),
            Value::Text("héllo".into())
        );
        assert_eq!(
            decode_value(&Type::JSONB, b"\x01{\"a\": 1}"),
            Value::Text("{\"a\": 1}".into())
        );
        assert_eq!(
            decode_value(&Type::BYTEA, &[0, 255]),
            Value::Blob(vec![0, 255])
        );
        let uuid = [
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
            0x40, 0x00,
        ];
        assert_eq!(
            decode_value(&Type::UUID, &uuid),
            Value::Text("123e4567-e89b-12d3-a456-426614174000".into())
        );
        // A malformed value degrades to text instead of failing the query.
        assert_eq!(decode_value(&Type::INT4, b"xy"), Value::Text("xy".into()));
    }

    #[test]
    fn undecodable_columns_are_cast_in_a_wrapper_that_keeps_the_statement() {
        let statement = safety::checked_statement(
            "SELECT id, span FROM t ORDER BY id -- last",
            Dialect::Postgres,
        )
        .unwrap();
        let wrapped = cast_to_text(&statement, &[false, true]);
        assert_eq!(
            wrapped,
            "SELECT c1, c2::text FROM (SELECT id, span FROM t ORDER BY id\n) AS learnat_result(c1, c2)"
        );
        assert!(safety::check_read_only(&wrapped, Dialect::Postgres).is_ok());
    }
}
