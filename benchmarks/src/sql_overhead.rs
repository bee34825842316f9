//! `learnat bench sql`: what learnat's read-only layers and SQL normalisation cost per query,
//! against raw rusqlite on the same queries, connections and machine, in one run.
//!
//! Both sides execute every Spider dev gold query whose database is present, convert every value
//! to [`Value`], and are timed per query; each query's time is the median of `repeats` runs, and
//! the two sides alternate query by query so drift in machine load hits both alike.
//! The learnat side is [`SqliteDatabase::execute_blocking`] (sqlparser gate, read-only
//! connection, authorizer, progress-handler timeout, row and size caps) plus
//! [`normalize`](learnat_tools::sql::normalize) of the statement.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use learnat_tools::sql::normalize;
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
    /// Median over queries of the learnat time (execute_blocking + normalize).
    pub learnat_median_us: f64,
    /// Median over queries of (learnat − raw) for the same query.
    pub overhead_median_us: f64,
    /// `overhead_median_us / raw_median_us`, in percent: the figure with a 5 % target.
    pub overhead_percent_of_median: f64,
    /// Median over queries of the sqlparser gate alone.
    pub gate_median_us: f64,
    /// Median over queries of normalisation alone.
    pub normalize_median_us: f64,
    /// Sum over queries of the per-query medians.
    pub raw_total_ms: f64,
    pub learnat_total_ms: f64,
}

impl fmt::Display for SqlOverheadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "learnat bench sql: {} Spider dev gold queries, median of {} runs each", self.queries, self.repeats)?;
        writeln!(f, "machine: {}", self.machine)?;
        writeln!(f, "{:<42} {:>12}", "", "median µs")?;
        writeln!(f, "{:<42} {:>12.1}", "raw rusqlite (reference)", self.raw_median_us)?;
        writeln!(f, "{:<42} {:>12.1}", "learnat (gate + read-only engine + normalize)", self.learnat_median_us)?;
        writeln!(f, "{:<42} {:>12.1}", "  of which sqlparser gate alone", self.gate_median_us)?;
        writeln!(f, "{:<42} {:>12.1}", "  of which normalize alone", self.normalize_median_us)?;
        writeln!(f, "{:<42} {:>12.1}", "per-query overhead (learnat − raw)", self.overhead_median_us)?;
        writeln!(
            f,
            "overhead: {:.1}% of the median query time (target < 5%); totals {:.1} ms raw vs {:.1} ms learnat ({:.2}×)",
            self.overhead_percent_of_median,
            self.raw_total_ms,
            self.learnat_total_ms,
            self.learnat_total_ms / self.raw_total_ms.max(f64::MIN_POSITIVE)
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
    spider.join("database").join(db_id).join(format!("{db_id}.sqlite"))
}

/// The reference: what a careful rusqlite user does (cached statement, typed values), nothing more.
fn run_raw(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<Vec<Value>>> {
    let mut statement = conn.prepare_cached(sql)?;
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
    if values.len() % 2 == 0 {
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
    let mut ours_medians = Vec::with_capacity(queries.len());
    let mut gate_medians = Vec::with_capacity(queries.len());
    let mut normalize_medians = Vec::with_capacity(queries.len());
    let mut overheads = Vec::with_capacity(queries.len());
    for query in &queries {
        let (raw, ours) = &databases[&query.db_id];
        let (mut raw_t, mut ours_t, mut gate_t, mut norm_t) = (vec![], vec![], vec![], vec![]);
        for _ in 0..repeats {
            let start = Instant::now();
            let _ = std::hint::black_box(run_raw(raw, &query.sql));
            raw_t.push(micros(start.elapsed()));

            let start = Instant::now();
            let _ = std::hint::black_box(ours.execute_blocking(&query.sql, &options));
            let _ = std::hint::black_box(normalize(&query.sql, Dialect::Sqlite));
            ours_t.push(micros(start.elapsed()));

            let start = Instant::now();
            let _ = std::hint::black_box(safety::check_read_only(&query.sql, Dialect::Sqlite));
            gate_t.push(micros(start.elapsed()));

            let start = Instant::now();
            let _ = std::hint::black_box(normalize(&query.sql, Dialect::Sqlite));
            norm_t.push(micros(start.elapsed()));
        }
        let (r, o) = (median(&mut raw_t), median(&mut ours_t));
        raw_medians.push(r);
        ours_medians.push(o);
        overheads.push(o - r);
        gate_medians.push(median(&mut gate_t));
        normalize_medians.push(median(&mut norm_t));
    }
    let raw_total_ms = raw_medians.iter().sum::<f64>() / 1000.0;
    let learnat_total_ms = ours_medians.iter().sum::<f64>() / 1000.0;
    let raw_median_us = median(&mut raw_medians);
    let overhead_median_us = median(&mut overheads);
    Ok(SqlOverheadReport {
        machine: Machine::current(),
        queries: queries.len(),
        repeats,
        raw_median_us,
        learnat_median_us: median(&mut ours_medians),
        overhead_median_us,
        overhead_percent_of_median: 100.0 * overhead_median_us / raw_median_us.max(f64::MIN_POSITIVE),
        gate_median_us: median(&mut gate_medians),
        normalize_median_us: median(&mut normalize_medians),
        raw_total_ms,
        learnat_total_ms,
    })
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
        std::fs::write(dir.path().join("dev_gold.sql"), "SELECT 1\tdb\nSELECT 2 no tab\n").unwrap();
        let error = load_gold(dir.path()).err().unwrap().to_string();
        assert!(error.contains("line 2"), "{error}");
    }
}
