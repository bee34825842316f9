//! Result comparison with the official scorers' semantics: the Spider test-suite execution
//! match (taoyds/test-suite-sql-eval, `evaluation.py --etype exec`) and BIRD's
//! `evaluation.py` (`set(predicted) == set(gold)`).
//!
//! Scorers are pure functions over rows: they never execute SQL. The caller runs the texts
//! [`spider_preprocess`] returns (or the raw texts, for BIRD) and passes the rows here. Values
//! compare as the Python objects `sqlite3` would have returned (see [`python_str`]): `1 == 1.0`,
//! `'1' != 1`, floats exactly, NULL equals NULL, bytes never equal text.
//!
//! ```
//! use learnat_tools::compare::{bird_result_eq, spider_result_eq};
//! use learnat_tools::Value;
//! let gold = vec![vec![Value::Integer(1), Value::Text("a".into())]];
//! let pred = vec![vec![Value::Text("a".into()), Value::Real(1.0)]];
//! // The test-suite scorer tries column permutations; BIRD compares tuples as they are.
//! assert!(spider_result_eq(&gold, &pred, false));
//! assert!(!bird_result_eq(&gold, &pred));
//! ```

mod python;
mod rows;
mod spider_text;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use python::python_str;
pub use spider_text::{SpiderPrepared, spider_preprocess};

use python::{python_eq, python_type_str, write_python_str};
use rows::{RowView, ValueCounts, ValueKey, count_rows, counts_equal, row_sets_equal};

use crate::value::Value;

/// Which official scorer's semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Spider test-suite execution match: pre-processed texts, any permutation of the
    /// predicted columns, bag semantics, row order only when the gold says `order by`.
    SpiderTestSuite,
    /// BIRD execution match: the raw texts, `set(predicted rows) == set(gold rows)`.
    Bird,
}

impl Metric {
    /// The texts this scorer executes for a (prediction, gold) pair. For BIRD they are the
    /// raw texts and `order_matters` is false (BIRD ignores row order).
    pub fn prepare(self, prediction: &str, gold: &str) -> SpiderPrepared {
        match self {
            Metric::SpiderTestSuite => spider_preprocess(prediction, gold),
            Metric::Bird => SpiderPrepared {
                prediction: prediction.to_owned(),
                gold: gold.to_owned(),
                order_matters: false,
            },
        }
    }

    /// Whether the prediction's rows match the gold rows under this scorer; `order_matters`
    /// comes from [`Metric::prepare`] and is ignored by BIRD.
    pub fn result_eq(
        self,
        gold_rows: &[Vec<Value>],
        pred_rows: &[Vec<Value>],
        order_matters: bool,
    ) -> bool {
        match self {
            Metric::SpiderTestSuite => spider_result_eq(gold_rows, pred_rows, order_matters),
            Metric::Bird => bird_result_eq(gold_rows, pred_rows),
        }
    }

    /// The official scorer's per-query timeout: 60 s for the test-suite scorer, 30 s for BIRD.
    pub fn official_timeout(self) -> Duration {
        match self {
            Metric::SpiderTestSuite => Duration::from_secs(60),
            Metric::Bird => Duration::from_secs(30),
        }
    }

    /// Stable lowercase name, as used in reports: `spider_test_suite` or `bird`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::SpiderTestSuite => "spider_test_suite",
            Metric::Bird => "bird",
        }
    }
}

/// The Spider test-suite `result_eq(gold, prediction, order_matters)`, verdict for verdict.
///
/// Both empty: equal. Different row counts, or different column counts (of the first rows):
/// not equal. Then the quick rejection: each row's values sorted by `str(v) + str(type(v))`
/// must agree row by row (ordered) or as sets of rows (unordered), which rejects `(10, 100)`
/// against `(10.0, 100)` although the values are equal. Finally the rows must be equal for
/// some permutation of the predicted columns: as lists when `order_matters`, as multisets
/// otherwise.
///
/// The official code prunes its permutation search with 20 randomly drawn rows; pruning only
/// discards permutations that cannot match, so its verdict is whether any permutation matches,
/// which this function decides exactly (and deterministically) with stronger pruning.
///
/// Results whose rows differ in length (never produced by an engine) compare unequal.
pub fn spider_result_eq(
    gold_rows: &[Vec<Value>],
    pred_rows: &[Vec<Value>],
    order_matters: bool,
) -> bool {
    if gold_rows.is_empty() && pred_rows.is_empty() {
        return true;
    }
    if gold_rows.len() != pred_rows.len() {
        return false;
    }
    let column_count = gold_rows[0].len();
    if pred_rows[0].len() != column_count {
        return false;
    }
    // Engines return rectangular results; the official code would fail an assertion on ragged
    // ones, so they are simply unequal here.
    let rectangular = |rows: &[Vec<Value>]| rows.iter().all(|row| row.len() == column_count);
    if !rectangular(gold_rows) || !rectangular(pred_rows) {
        return false;
    }
    // With one column the sorted rows are the rows, and the final check implies the quick one.
    if column_count > 1
        && !quick_rejection_passes(gold_rows, pred_rows, column_count, order_matters)
    {
        return false;
    }
    if column_count <= 1 {
        return if order_matters {
            gold_rows
                .iter()
                .zip(pred_rows)
                .all(|(gold, pred)| RowView::whole(gold) == RowView::whole(pred))
        } else {
            counts_equal(
                &count_rows(rows_as_views(gold_rows)),
                &count_rows(rows_as_views(pred_rows)),
            )
        };
    }
    if order_matters {
        ordered_permutation_exists(gold_rows, pred_rows, column_count)
    } else {
        unordered_permutation_exists(gold_rows, pred_rows, column_count)
    }
}

/// BIRD's `set(predicted_res) == set(ground_truth_res)`: row order and duplicates ignored,
/// column order significant, values compared as Python objects.
pub fn bird_result_eq(gold_rows: &[Vec<Value>], pred_rows: &[Vec<Value>]) -> bool {
    row_sets_equal(rows_as_views(gold_rows), rows_as_views(pred_rows))
}

fn rows_as_views(rows: &[Vec<Value>]) -> impl Iterator<Item = RowView<'_>> {
    rows.iter().map(|row| RowView::whole(row))
}

/// The official `quick_rej`: rows with their values sorted by `str(v) + str(type(v))`,
/// compared row by row (ordered) or as sets (unordered).
fn quick_rejection_passes(
    gold_rows: &[Vec<Value>],
    pred_rows: &[Vec<Value>],
    column_count: usize,
    order_matters: bool,
) -> bool {
    let gold_orders = SortedRowOrders::new(gold_rows, column_count);
    let pred_orders = SortedRowOrders::new(pred_rows, column_count);
    let gold_sorted = gold_orders.views(gold_rows);
    let pred_sorted = pred_orders.views(pred_rows);
    if order_matters {
        gold_sorted
            .zip(pred_sorted)
            .all(|(gold, pred)| gold == pred)
    } else {
        row_sets_equal(gold_sorted, pred_sorted)
    }
}

/// For every row, the column order of Python's `sorted(row, key=lambda v: str(v) + str(type(v)))`
/// (a stable sort), stored flat, `column_count` entries per row.
struct SortedRowOrders {
    orders: Vec<usize>,
    column_count: usize,
}

impl SortedRowOrders {
    /// `rows` must be rectangular with `column_count` columns.
    fn new(rows: &[Vec<Value>], column_count: usize) -> Self {
        let mut orders = Vec::with_capacity(rows.len() * column_count);
        // One buffer for the sort keys of a row, reused across rows.
        let mut keys = String::new();
        let mut key_bounds: Vec<(usize, usize)> = Vec::with_capacity(column_count);
        for row in rows {
            keys.clear();
            key_bounds.clear();
            for value in row {
                let start = keys.len();
                write_python_str(value, &mut keys);
                keys.push_str(python_type_str(value));
                key_bounds.push((start, keys.len()));
            }
            let start = orders.len();
            orders.extend(0..row.len());
            let key = |column: usize| &keys[key_bounds[column].0..key_bounds[column].1];
            orders[start..].sort_by(|&a, &b| key(a).cmp(key(b)));
        }
        SortedRowOrders {
            orders,
            column_count,
        }
    }

    fn views<'a>(&'a self, rows: &'a [Vec<Value>]) -> impl Iterator<Item = RowView<'a>> {
        rows.iter()
            .zip(self.orders.chunks_exact(self.column_count.max(1)))
            .map(|(row, order)| RowView::reordered(row, order))
    }
}

/// Ordered comparison: the permuted rows must equal the gold rows position by position, which
/// holds exactly when every gold column equals its assigned predicted column element by
/// element. So the question is whether the "column i equals column j" relation has a perfect
/// matching.
fn ordered_permutation_exists(
    gold_rows: &[Vec<Value>],
    pred_rows: &[Vec<Value>],
    column_count: usize,
) -> bool {
    let columns_equal = |gold_column: usize, pred_column: usize| {
        gold_rows.iter().zip(pred_rows).all(|(gold, pred)| {
            match (gold.get(gold_column), pred.get(pred_column)) {
                (Some(g), Some(p)) => python_eq(g, p),
                _ => false,
            }
        })
    };
    let compatible: Vec<Vec<bool>> = (0..column_count)
        .map(|gold_column| {
            (0..column_count)
                .map(|pred_column| columns_equal(gold_column, pred_column))
                .collect()
        })
        .collect();
    perfect_matching_exists(&compatible)
}

/// Kuhn's augmenting-path algorithm on a square compatibility matrix.
fn perfect_matching_exists(compatible: &[Vec<bool>]) -> bool {
    fn augment(
        gold: usize,
        compatible: &[Vec<bool>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for pred in 0..compatible.len() {
            if compatible[gold][pred] && !seen[pred] {
                seen[pred] = true;
                if owner[pred].is_none_or(|other| augment(other, compatible, seen, owner)) {
                    owner[pred] = Some(gold);
                    return true;
                }
            }
        }
        false
    }
    let size = compatible.len();
    let mut owner = vec![None; size];
    (0..size).all(|gold| {
        let mut seen = vec![false; size];
        augment(gold, compatible, &mut seen, &mut owner)
    })
}

/// Unordered comparison: some column permutation must make the row multisets equal. A gold
/// column can only take a predicted column with the same multiset of values; among predicted
/// columns that are equal element by element only one order is tried, since swapping them
/// yields the same rows. Each surviving permutation gets the full multiset check.
fn unordered_permutation_exists(
    gold_rows: &[Vec<Value>],
    pred_rows: &[Vec<Value>],
    column_count: usize,
) -> bool {
    let gold_columns: Vec<ValueCounts> = (0..column_count)
        .map(|c| column_value_counts(gold_rows, c))
        .collect();
    let pred_columns: Vec<ValueCounts> = (0..column_count)
        .map(|c| column_value_counts(pred_rows, c))
        .collect();
    let compatible: Vec<Vec<bool>> = gold_columns
        .iter()
        .map(|gold| {
            pred_columns
                .iter()
                .map(|pred| {
                    gold.len() == pred.len() && pred.iter().all(|(v, n)| gold.get(v) == Some(n))
                })
                .collect()
        })
        .collect();
    if !perfect_matching_exists(&compatible) {
        return false;
    }

    // twin_of[j]: the first predicted column equal to column j in every row (j itself if none).
    let columns_identical = |a: usize, b: usize| {
        pred_rows.iter().all(|row| match (row.get(a), row.get(b)) {
            (Some(x), Some(y)) => python_eq(x, y),
            _ => false,
        })
    };
    let twin_of: Vec<usize> = (0..column_count)
        .map(|j| {
            (0..j)
                .find(|&earlier| columns_identical(earlier, j))
                .unwrap_or(j)
        })
        .collect();

    let gold_counts = count_rows(rows_as_views(gold_rows));
    let mut search = PermutationSearch {
        compatible: &compatible,
        twin_of: &twin_of,
        permutation: Vec::with_capacity(column_count),
        used: vec![false; column_count],
    };
    search.find(&mut |permutation| {
        let permuted = count_rows(
            pred_rows
                .iter()
                .map(|row| RowView::reordered(row, permutation)),
        );
        counts_equal(&gold_counts, &permuted)
    })
}

/// The multiset of the values in one column (Python `Counter(row[column] for row in rows)`).
fn column_value_counts(rows: &[Vec<Value>], column: usize) -> ValueCounts<'_> {
    let mut counts = ValueCounts::default();
    for value in rows.iter().filter_map(|row| row.get(column)) {
        *counts.entry(ValueKey(value)).or_insert(0) += 1;
    }
    counts
}

/// Depth-first enumeration of the column permutations allowed by a compatibility matrix.
struct PermutationSearch<'a> {
    compatible: &'a [Vec<bool>],
    twin_of: &'a [usize],
    /// permutation[i]: the predicted column placed at gold column i.
    permutation: Vec<usize>,
    used: Vec<bool>,
}

impl PermutationSearch<'_> {
    /// True as soon as `accept` accepts a complete permutation.
    fn find(&mut self, accept: &mut dyn FnMut(&[usize]) -> bool) -> bool {
        let gold_column = self.permutation.len();
        if gold_column == self.compatible.len() {
            return accept(&self.permutation);
        }
        for pred_column in 0..self.compatible.len() {
            if self.used[pred_column] || !self.compatible[gold_column][pred_column] {
                continue;
            }
            // Identical predicted columns are interchangeable: use them in index order only.
            let twin = self.twin_of[pred_column];
            let earlier_twin_unused = (twin..pred_column)
                .any(|earlier| self.twin_of[earlier] == twin && !self.used[earlier]);
            if earlier_twin_unused {
                continue;
            }
            self.used[pred_column] = true;
            self.permutation.push(pred_column);
            let found = self.find(accept);
            self.permutation.pop();
            self.used[pred_column] = false;
            if found {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(i: i64) -> Value {
        Value::Integer(i)
    }
    fn real(f: f64) -> Value {
        Value::Real(f)
    }
    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn empty_results() {
        assert!(spider_result_eq(&[], &[], true));
        assert!(spider_result_eq(&[], &[], false));
        assert!(!spider_result_eq(&[vec![int(1)]], &[], false));
        assert!(!spider_result_eq(&[], &[vec![int(1)]], false));
        assert!(bird_result_eq(&[], &[]));
        assert!(!bird_result_eq(&[vec![Value::Null]], &[]));
    }

    #[test]
    fn row_and_column_counts_must_agree() {
        let gold = vec![vec![int(1), int(2)]];
        assert!(!spider_result_eq(&gold, &[vec![int(1)]], false));
        assert!(!spider_result_eq(
            &gold,
            &[vec![int(1), int(2)], vec![int(1), int(2)]],
            false
        ));
        assert!(!bird_result_eq(&gold, &[vec![int(1)]]));
    }

    #[test]
    fn column_permutations_are_tried() {
        let gold = vec![
            vec![int(1), text("a"), real(2.5)],
            vec![int(2), text("b"), real(3.5)],
        ];
        let pred = vec![
            vec![real(2.5), int(1), text("a")],
            vec![real(3.5), int(2), text("b")],
        ];
        assert!(spider_result_eq(&gold, &pred, true));
        assert!(spider_result_eq(&gold, &pred, false));
        assert!(!bird_result_eq(&gold, &pred));
    }

    #[test]
    fn wide_results_with_interchangeable_columns() {
        // Eight identical columns would be 40320 permutations; the twin rule tries one.
        let gold: Vec<Vec<Value>> = (0..50)
            .map(|r| (0..8).map(|_| int(r % 3)).collect())
            .collect();
        assert!(spider_result_eq(&gold, &gold.clone(), false));
        // Columns with equal value multisets but paired differently: no permutation works.
        let gold = vec![
            vec![int(1), int(1), int(2), int(3)],
            vec![int(2), int(2), int(1), int(4)],
        ];
        let pred = vec![
            vec![int(1), int(2), int(1), int(3)],
            vec![int(2), int(1), int(2), int(4)],
        ];
        assert!(spider_result_eq(&gold, &pred, false));
        let pred_wrong = vec![
            vec![int(1), int(2), int(1), int(4)],
            vec![int(2), int(1), int(2), int(3)],
        ];
        assert!(!spider_result_eq(&gold, &pred_wrong, false));
    }

    #[test]
    fn ragged_results_are_unequal_not_a_panic() {
        let gold = vec![vec![int(1), int(2)], vec![int(3), int(4)]];
        let ragged = vec![vec![int(2), int(1)], vec![int(4)]];
        assert!(!spider_result_eq(&gold, &ragged, false));
        assert!(!spider_result_eq(&ragged, &gold, true));
    }

    #[test]
    fn bags_versus_lists() {
        let gold = vec![vec![int(1)], vec![int(2)], vec![int(2)]];
        let reordered = vec![vec![int(2)], vec![int(1)], vec![int(2)]];
        let other_multiplicities = vec![vec![int(1)], vec![int(1)], vec![int(2)]];
        assert!(spider_result_eq(&gold, &reordered, false));
        assert!(!spider_result_eq(&gold, &reordered, true));
        assert!(!spider_result_eq(&gold, &other_multiplicities, false));
        // BIRD: sets, so duplicates and order are ignored.
        assert!(bird_result_eq(&gold, &reordered));
        assert!(bird_result_eq(&gold, &other_multiplicities));
        assert!(bird_result_eq(&gold, &[vec![int(2)], vec![int(1)]]));
    }

    #[test]
    fn bag_check_with_several_columns() {
        let gold = vec![
            vec![int(1), text("x")],
            vec![int(1), text("x")],
            vec![int(2), text("y")],
        ];
        let pred = vec![
            vec![text("y"), int(2)],
            vec![text("x"), int(1)],
            vec![text("x"), int(1)],
        ];
        let pred_other = vec![
            vec![text("y"), int(2)],
            vec![text("y"), int(2)],
            vec![text("x"), int(1)],
        ];
        assert!(spider_result_eq(&gold, &pred, false));
        assert!(!spider_result_eq(&gold, &pred, true));
        assert!(!spider_result_eq(&gold, &pred_other, false));
    }

    #[test]
    fn integers_equal_floats_but_not_strings() {
        assert!(spider_result_eq(&[vec![int(1)]], &[vec![real(1.0)]], true));
        assert!(!spider_result_eq(&[vec![int(1)]], &[vec![text("1")]], true));
        assert!(!spider_result_eq(
            &[vec![real(0.1 + 0.2)]],
            &[vec![real(0.3)]],
            false
        ));
        assert!(bird_result_eq(&[vec![int(1)]], &[vec![real(1.0)]]));
        assert!(!bird_result_eq(
            &[vec![text("a")]],
            &[vec![Value::Blob(b"a".to_vec())]]
        ));
    }

    #[test]
    fn quick_rejection_sorts_by_python_str_and_type() {
        // Python: sorted((10, 100)) by key -> (100, 10); sorted((10.0, 100)) -> (10.0, 100);
        // the tuples differ, so the official scorer says wrong although the values are equal.
        let gold = vec![vec![int(10), int(100)]];
        let pred = vec![vec![real(10.0), int(100)]];
        assert!(!spider_result_eq(&gold, &pred, false));
        assert!(!spider_result_eq(&gold, &pred, true));
        // Where the sort keys keep the same order, 1 and 1.0 still match.
        let gold = vec![vec![int(1), text("b")]];
        let pred = vec![vec![real(1.0), text("b")]];
        assert!(spider_result_eq(&gold, &pred, false));
        // One column: no sorting, so 10 and 10.0 match.
        assert!(spider_result_eq(
            &[vec![int(10)]],
            &[vec![real(10.0)]],
            false
        ));
        // BIRD has no quick rejection.
        assert!(bird_result_eq(
            &[vec![int(10), int(100)]],
            &[vec![real(10.0), int(100)]]
        ));
    }

    #[test]
    fn quick_rejection_is_a_set_test_when_order_does_not_matter() {
        // Same set of sorted rows, different multiplicities: the quick test passes, the bag
        // check then rejects.
        let gold = vec![
            vec![int(1), int(2)],
            vec![int(1), int(2)],
            vec![int(3), int(4)],
        ];
        let pred = vec![
            vec![int(1), int(2)],
            vec![int(3), int(4)],
            vec![int(3), int(4)],
        ];
        assert!(!spider_result_eq(&gold, &pred, false));
    }

    #[test]
    fn nulls_equal_nulls() {
        let gold = vec![vec![Value::Null, int(1)], vec![int(2), Value::Null]];
        let pred = vec![vec![int(1), Value::Null], vec![Value::Null, int(2)]];
        assert!(spider_result_eq(&gold, &pred, true));
        assert!(!spider_result_eq(
            &[vec![Value::Null]],
            &[vec![int(0)]],
            false
        ));
        assert!(!spider_result_eq(
            &[vec![Value::Null]],
            &[vec![text("None")]],
            false
        ));
        assert!(bird_result_eq(&[vec![Value::Null]], &[vec![Value::Null]]));
    }

    #[test]
    fn ordered_rows_under_column_permutation() {
        let gold = vec![vec![int(1), int(2)], vec![int(3), int(4)]];
        let pred_swapped = vec![vec![int(2), int(1)], vec![int(4), int(3)]];
        let pred_rows_swapped = vec![vec![int(3), int(4)], vec![int(1), int(2)]];
        assert!(spider_result_eq(&gold, &pred_swapped, true));
        assert!(!spider_result_eq(&gold, &pred_rows_swapped, true));
        assert!(spider_result_eq(&gold, &pred_rows_swapped, false));
    }

    #[test]
    fn metric_dispatch() {
        let gold = vec![vec![int(1)], vec![int(1)]];
        let pred = vec![vec![int(1)]];
        assert!(!Metric::SpiderTestSuite.result_eq(&gold, &pred, false));
        assert!(Metric::Bird.result_eq(&gold, &pred, false));
        let raw = Metric::Bird.prepare("SELECT DISTINCT a FROM t", "SELECT a FROM t ORDER BY a");
        assert_eq!(raw.prediction, "SELECT DISTINCT a FROM t");
        assert!(!raw.order_matters);
        let spider = Metric::SpiderTestSuite
            .prepare("SELECT DISTINCT a FROM t", "SELECT a FROM t ORDER BY a");
        assert_eq!(spider.prediction, "SELECT  a FROM t");
        assert!(spider.order_matters);
        assert_eq!(Metric::Bird.official_timeout(), Duration::from_secs(30));
        assert_eq!(
            serde_json::to_string(&Metric::SpiderTestSuite)
                .ok()
                .as_deref(),
            Some("\"spider_test_suite\"")
        );
    }
}
