//! `learnat bench sql`: what learnat's read-only layers and SQL normalisation cost per query,
//! against raw rusqlite on the same queries, connections and machine, in one run.
//!
//! Both sides execute every Spider dev gold query whose database is present, convert every value
//! to [`Value`], and are timed per query; each query's time is the median of `repeats` runs, and
//! the two sides alternate query by query so drift in machine load hits both alike.
//!
//! The learnat side is measured in parts, because they cost differently for a statement seen for
//! the first time and for one seen again:
//! - the engine path, [`SqliteDatabase::execute_blocking`] (read-only pooled connection,
//!   authorizer, progress-handler timeout, row and size caps, and the gate's verdict, which the
//!   engine memoises by statement text): what a repeated statement costs;
//! - the sqlparser gate alone ([`safety::check_read_only`], never memoised): what a new statement
//!   adds once;
//! - one parse shared by the gate and normalisation ([`safety::checked_statement`] +
//!   [`normalize_statements`]): the cost of gate + normalisation when a caller needs both, as the
//!   agent and the evaluation runner do.
//!
//! The report gives the overhead for repeated statements and for first-seen statements
//! separately, each as a percentage of the median raw query time.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use learnat_tools::sql::{normalize, normalize_statements};
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{Dialect, ExecOptions, Value, safety};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::error::{BenchError, BenchResult};
use crate::machine::Machine;

/// The measured figures; times in microseconds.
#[derive(Debug, Clone, Serialize)]
pub struct SqlOverheadReport {
    pub machine: Machine,
    pub queries: usize,
    pub repeats: usize,
    /// Median over queries of the raw rusqlite time.
    pub raw_median_us: f64,
    /// Median over queries of the engine path (execute_blocking, gate verdict memoised).
    pub engine_median_us: f64,
    /// Median over queries of (engine − raw) for the same query: the overhead of a repeated
    /// statement.
    pub repeated_overhead_median_us: f64,
    /// `repeated_overhead_median_us / raw_median_us`, in percent.
    pub repeated_overhead_percent: f64,
    /// Median over queries of the sqlparser gate alone, uncached.
    pub gate_median_us: f64,
    /// Median over queries of normalisation alone (its own parse).
    pub normalize_median_us: f64,
    /// Median over queries of one parse shared by gate and normalisation.
    pub gate_and_normalize_median_us: f64,
    /// Median over queries of (engine − raw + gate): the overhead of a statement seen for the
    /// first time, without normalisation.
    pub first_seen_overhead_median_us: f64,
    /// `first_seen_overhead_median_us / raw_median_us`, in percent.
    pub first_seen_overhead_percent: f64,
    /// Median over queries of (engine − raw + shared gate-and-normalise parse).
    pub first_seen_with_normalize_median_us: f64,
    /// `first_seen_with_normalize_median_us / raw_median_us`, in percent.
    pub first_seen_with_normalize_percent: f64,
    /// Sum over queries of the per-query medians.
    pub raw_total_ms: f64,
    pub engine_total_ms: f64,
}

impl fmt::Display for SqlOverheadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "learnat bench sql: {} Spider dev gold queries, median of {} runs each",
            self.queries, self.repeats
        )?;
        writeln!(f, "machine: {}", self.machine)?;
        writeln!(f, "{:<52} {:>10}", "", "median µs")?;
        let line = |f: &mut fmt::Formatter<'_>, label: &str, value: f64| {
            writeln!(f, "{label:<52} {value:>10.1}")
        };
        line(f, "raw rusqlite (reference)", self.raw_median_us)?;
        line(
            f,
            "learnat engine path (gate verdict memoised)",
            self.engine_median_us,
        )?;
        line(f, "sqlparser gate alone (uncached)", self.gate_median_us)?;
        line(f, "normalize alone", self.normalize_median_us)?;
        line(
            f,
            "gate + normalize sharing one parse",
            self.gate_and_normalize_median_us,
        )?;
        writeln!(f)?;
        let verdict = |percent: f64| if percent < 5.0 { "meets" } else { "misses" };
        writeln!(
            f,
            "overhead, repeated statement:          {:>7.1} µs = {:>6.1}% of the median query ({} the 5% target)",
            self.repeated_overhead_median_us,
            self.repeated_overhead_percent,
            verdict(self.repeated_overhead_percent)
        )?;
        writeln!(
            f,
            "overhead, first-seen statement:        {:>7.1} µs = {:>6.1}% ({} the 5% target)",
            self.first_seen_overhead_median_us,
            self.first_seen_overhead_percent,
            verdict(self.first_seen_overhead_percent)
        )?;
        writeln!(
            f,
            "overhead, first-seen with normalize:   {:>7.1} µs = {:>6.1}% ({} the 5% target)",
            self.first_seen_with_normalize_median_us,
            self.first_seen_with_normalize_percent,
            verdict(self.first_seen_with_normalize_percent)
        )?;
        write!(
            f,
            "totals: {:.1} ms raw vs {:.1} ms learnat engine path ({:.2}×)",
            self.raw_total_ms,
            self.engine_total_ms,
            self.engine_total_ms / self.raw_total_ms.max(f64::MIN_POSITIVE)
        )
    }
}

/// One gold query of `dev_gold.sql` (`SQL<TAB>db_id` per line).
struct GoldQuery {
    sql: String,
    db_id: String,
}

fn load_gold(spider: &Path) -> BenchResult<Vec<GoldQuery>> {
    let path = spider.join("dev_gold.sql");
    let text = std::fs::read_to_string(&path).map_err(|source| BenchError::Read {
        path: path.clone(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| match line.rsplit_once('\t') {
            Some((sql, db_id)) => Ok(GoldQuery {
                sql: sql.trim().to_string(),
                db_id: db_id.trim().to_string(),
            }),
            None => Err(BenchError::Format {
                path: path.clone(),
                line: i + 1,
                message: "expected `SQL<TAB>db_id`".to_string(),
            }),
        })
        .collect()
}

fn database_path(spider: &Path, db_id: &str) -> PathBuf {
    spider
        .join("database")
        .join(db_id)
        .join(format!("{db_id}.sqlite"))
}

/// The reference: what a careful rusqlite user does (cached statement, typed values), nothing more.
fn run_raw(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<Vec<Value>>> {
    let mut statement = conn.prepare_cached(sql)?;
    read_rows(&mut statement)
}

/// Every row of `statement` as typed values, the plain rusqlite way (the references of the
/// benchmarks).
pub(crate) fn read_rows(
    statement: &mut rusqlite::Statement<'_>,
) -> rusqlite::Result<Vec<Vec<Value>>> {
    let width = statement.column_count();
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Integer(v),
                ValueRef::Real(v) => Value::Real(v),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(values);
    }
    Ok(out)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Run the benchmark over `spider/dev_gold.sql` and `spider/database/`.
pub fn run(spider: &Path, repeats: usize) -> BenchResult<SqlOverheadReport> {
    let repeats = repeats.max(1);
    let gold = load_gold(spider)?;
    let mut databases: BTreeMap<String, (Connection, SqliteDatabase)> = BTreeMap::new();
    let options = ExecOptions::default();
    let mut queries = Vec::new();
    for query in &gold {
        let path = database_path(spider, &query.db_id);
        if !path.exists() {
            continue;
        }
        if !databases.contains_key(&query.db_id) {
            let raw = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let ours = SqliteDatabase::open(&path)?;
            databases.insert(query.db_id.clone(), (raw, ours));
        }
        let (raw, ours) = &databases[&query.db_id];
        // Warm both sides (page cache, statement caches) and keep only queries both can run.
        if run_raw(raw, &query.sql).is_ok() && ours.execute_blocking(&query.sql, &options).is_ok() {
            queries.push(query);
        }
    }
    if queries.is_empty() {
        return Err(BenchError::NoData(format!(
            "no runnable Spider dev gold query under '{}'",
            spider.display()
        )));
    }

    let mut raw_medians = Vec::with_capacity(queries.len());
    let mut engine_medians = Vec::with_capacity(queries.len());
    let mut gate_medians = Vec::with_capacity(queries.len());
    let mut normalize_medians = Vec::with_capacity(queries.len());
    let mut shared_medians = Vec::with_capacity(queries.len());
    let mut repeated_overheads = Vec::with_capacity(queries.len());
    let mut first_seen_overheads = Vec::with_capacity(queries.len());
    let mut first_seen_normalize_overheads = Vec::with_capacity(queries.len());
    for query in &queries {
        let (raw, ours) = &databases[&query.db_id];
        let mut times: [Vec<f64>; 5] = Default::default();
        for _ in 0..repeats {
            let start = Instant::now();
            let _ = std::hint::black_box(run_raw(raw, &query.sql));
            times[0].push(micros(start.elapsed()));

            let start = Instant::now();
            let _ = std::hint::black_box(ours.execute_blocking(&query.sql, &options));
            times[1].push(micros(start.elapsed()));

            let start = Instant::now();
            let _ = std::hint::black_box(safety::check_read_only(&query.sql, Dialect::Sqlite));
            times[2].push(micros(start.elapsed()));

            let start = Instant::now();
            let _ = std::hint::black_box(normalize(&query.sql, Dialect::Sqlite));
            times[3].push(micros(start.elapsed()));

            let start = Instant::now();
            let _ = std::hint::black_box(gate_and_normalize(&query.sql));
            times[4].push(micros(start.elapsed()));
        }
        let [raw_t, engine_t, gate_t, normalize_t, shared_t] = &mut times;
        let (r, e) = (median(raw_t), median(engine_t));
        let (gate, shared) = (median(gate_t), median(shared_t));
        raw_medians.push(r);
        engine_medians.push(e);
        gate_medians.push(gate);
        normalize_medians.push(median(normalize_t));
        shared_medians.push(shared);
        repeated_overheads.push(e - r);
        first_seen_overheads.push(e - r + gate);
        first_seen_normalize_overheads.push(e - r + shared);
    }
    let raw_total_ms = raw_medians.iter().sum::<f64>() / 1000.0;
    let engine_total_ms = engine_medians.iter().sum::<f64>() / 1000.0;
    let raw_median_us = median(&mut raw_medians);
    let percent = |us: f64| 100.0 * us / raw_median_us.max(f64::MIN_POSITIVE);
    let repeated = median(&mut repeated_overheads);
    let first_seen = median(&mut first_seen_overheads);
    let first_seen_normalize = median(&mut first_seen_normalize_overheads);
    Ok(SqlOverheadReport {
        machine: Machine::current(),
        queries: queries.len(),
        repeats,
        raw_median_us,
        engine_median_us: median(&mut engine_medians),
        repeated_overhead_median_us: repeated,
        repeated_overhead_percent: percent(repeated),
        gate_median_us: median(&mut gate_medians),
        normalize_median_us: median(&mut normalize_medians),
        gate_and_normalize_median_us: median(&mut shared_medians),
        first_seen_overhead_median_us: first_seen,
        first_seen_overhead_percent: percent(first_seen),
        first_seen_with_normalize_median_us: first_seen_normalize,
        first_seen_with_normalize_percent: percent(first_seen_normalize),
        raw_total_ms,
        engine_total_ms,
    })
}

/// The gate and normalisation on one parse, as a caller that needs both does it.
fn gate_and_normalize(sql: &str) -> Option<String> {
    let statement = safety::checked_statement(sql, Dialect::Sqlite).ok()?;
    let mut statements = [statement];
    normalize_statements(&mut statements, Dialect::Sqlite);
    Some(statements[0].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_lengths() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn gold_lines_need_a_tab() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dev_gold.sql"),
            "SELECT 1\tdb\nSELECT 2 no tab\n",
        )
        .unwrap();
        let error = load_gold(dir.path()).err().unwrap().to_string();
        assert!(error.contains("line 2"), "{error}");
    }
}
