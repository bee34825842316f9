//! Spider hardness (easy / medium / hard / extra), counted exactly as the official Spider
//! `evaluation.py` (`Evaluator.eval_hardness`) counts it on its `process_sql.get_sql` parse, but
//! on the sqlparser AST.
//!
//! The official parse turns a query into nested "sql" records: the first `SELECT` of a set
//! operation is the top record and the rest hang off it (`intersect` / `union` / `except`), so
//! an `ORDER BY` / `LIMIT` after a set operation belongs to its last branch, not to the top.
//! Conditions are flat lists `[cond, 'and' | 'or', cond, …]` (parentheses and operator
//! precedence play no part), `FROM` holds table units (tables and subqueries) and the `ON`
//! conditions of all joins, joined by `and`. On that record:
//!
//! - component 1 = 1 for each of `WHERE`, `GROUP BY`, `ORDER BY`, `LIMIT` present, + (table
//!   units − 1), + the number of `or` connectors and of `LIKE` conditions (`NOT LIKE` included)
//!   in the `ON`, `WHERE` and `HAVING` conditions;
//! - component 2 = the number of subqueries that are condition values (`IN (SELECT …)`,
//!   `> (SELECT …)`, `BETWEEN` bounds) in `ON`, `WHERE` and `HAVING`, + 1 for a set operation;
//!   subqueries in `FROM` are not counted;
//! - others = 1 for each of: more than one "aggregation", more than one select item, more than
//!   one `WHERE` condition, more than one `GROUP BY` key.
//!
//! The official "aggregation" count has quirks this module reproduces on purpose, because the
//! labels must agree with the published ones: it counts select items whose top-level expression
//! is an aggregate call (`max`, `min`, `count`, `sum`, `avg`), `GROUP BY` keys that are
//! aggregate calls, the aggregate calls that are operands of each `ORDER BY` key; but in `WHERE`
//! it counts the *negated* conditions (`NOT IN`, `NOT LIKE`, `NOT BETWEEN`), because its test
//! reads the first field of a condition record, which is the negation flag, and in `HAVING` it
//! counts the negated conditions plus every `and` / `or` connector, for the same reason (the
//! connector strings are never equal to 0).
//!
//! Then: easy when c1 ≤ 1, others = 0, c2 = 0; medium when (others ≤ 2, c1 ≤ 1, c2 = 0) or
//! (c1 ≤ 2, others < 2, c2 = 0); hard when (others > 2, c1 ≤ 2, c2 = 0) or (2 < c1 ≤ 3,
//! others ≤ 2, c2 = 0) or (c1 ≤ 1, others = 0, c2 ≤ 1); extra otherwise.

use std::fmt;

use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArguments, GroupByExpr, JoinConstraint, JoinOperator,
    LimitClause, ObjectNamePart, OrderBy, OrderByKind, Query, Select, SetExpr, TableFactor,
    TableWithJoins, UnaryOperator,
};

use crate::database::Dialect;
use crate::error::ToolsResult;
use crate::sql::parse_query;

/// Spider's difficulty levels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Hardness {
    /// Few components, no nesting.
    Easy,
    /// A couple of components.
    Medium,
    /// Many components or one nested query / set operation.
    Hard,
    /// Everything else.
    Extra,
}

impl Hardness {
    /// All levels, easiest first (the order reports use).
    pub const ALL: [Hardness; 4] = [
        Hardness::Easy,
        Hardness::Medium,
        Hardness::Hard,
        Hardness::Extra,
    ];

    /// The lower-case name the official scorer prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Hardness::Easy => "easy",
            Hardness::Medium => "medium",
            Hardness::Hard => "hard",
            Hardness::Extra => "extra",
        }
    }
}

impl fmt::Display for Hardness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Hardness {
    type Err = crate::error::ToolsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Hardness::ALL
            .into_iter()
            .find(|level| level.as_str() == text.trim())
            .ok_or_else(|| crate::error::ToolsError::InvalidInput {
                message: format!(
                    "unknown Spider hardness '{text}' (expected easy, medium, hard or extra)"
                ),
            })
    }
}

/// The three counts `eval_hardness` decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HardnessComponents {
    /// `count_component1`: clauses, joins, `or` connectors and `LIKE` conditions.
    pub component1: usize,
    /// `count_component2`: nested condition subqueries and set operations.
    pub component2: usize,
    /// `count_others`: aggregations, select items, `WHERE` conditions, `GROUP BY` keys.
    pub others: usize,
}

impl HardnessComponents {
    /// The level these counts give (the decision rule of `eval_hardness`).
    pub fn hardness(self) -> Hardness {
        let HardnessComponents {
            component1: c1,
            component2: c2,
            others,
        } = self;
        if c1 <= 1 && others == 0 && c2 == 0 {
            Hardness::Easy
        } else if (others <= 2 && c1 <= 1 && c2 == 0) || (c1 <= 2 && others < 2 && c2 == 0) {
            Hardness::Medium
        } else if (others > 2 && c1 <= 2 && c2 == 0)
            || (2 < c1 && c1 <= 3 && others <= 2 && c2 == 0)
            || (c1 <= 1 && others == 0 && c2 <= 1)
        {
            Hardness::Hard
        } else {
            Hardness::Extra
        }
    }
}

/// The Spider hardness of a SQLite query.
///
/// ```
/// use learnat_tools::hardness::{Hardness, spider_hardness};
/// assert_eq!(spider_hardness("SELECT count(*) FROM singer").unwrap(), Hardness::Easy);
/// assert_eq!(
///     spider_hardness("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)")
///         .unwrap(),
///     Hardness::Hard
/// );
/// ```
pub fn spider_hardness(sql: &str) -> ToolsResult<Hardness> {
    Ok(hardness_components(sql)?.hardness())
}

/// The component counts of a SQLite query (for reports that explain a level).
pub fn hardness_components(sql: &str) -> ToolsResult<HardnessComponents> {
    let query = parse_query(sql, Dialect::Sqlite)?;
    Ok(query_components(&query))
}

/// The component counts of a parsed query.
/// A query without a `SELECT` (`VALUES …`) has nothing to count: all zero.
pub fn query_components(query: &Query) -> HardnessComponents {
    let Some(top) = TopRecord::of(query) else {
        return HardnessComponents::default();
    };
    let select = top.select;

    let mut table_units = 0;
    let mut on_conditions = Conditions::default();
    for table in &select.from {
        collect_from(table, &mut table_units, &mut on_conditions);
    }
    let mut where_conditions = Conditions::default();
    if let Some(selection) = &select.selection {
        where_conditions.add_clause(selection);
    }
    let mut having_conditions = Conditions::default();
    if let Some(having) = &select.having {
        having_conditions.add_clause(having);
    }
    let group_keys: &[Expr] = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs,
        GroupByExpr::All(_) => &[],
    };
    let order_keys: Vec<&Expr> = match top.order_by.map(|order_by| &order_by.kind) {
        Some(OrderByKind::Expressions(items)) => items.iter().map(|item| &item.expr).collect(),
        _ => Vec::new(),
    };

    let all_conditions = [&on_conditions, &where_conditions, &having_conditions];

    let mut component1 = [
        !where_conditions.units.is_empty(),
        !group_keys.is_empty(),
        !order_keys.is_empty(),
        top.has_limit,
    ]
    .into_iter()
    .filter(|present| *present)
    .count();
    component1 += table_units.saturating_sub(1);
    component1 += all_conditions
        .iter()
        .map(|c| c.or_connectors)
        .sum::<usize>();
    component1 += all_conditions
        .iter()
        .map(|c| c.units.iter().filter(|unit| unit.is_like).count())
        .sum::<usize>();

    let component2 = all_conditions
        .iter()
        .map(|c| {
            c.units
                .iter()
                .map(|unit| unit.subquery_values)
                .sum::<usize>()
        })
        .sum::<usize>()
        + usize::from(top.has_set_operation);

    let aggregations = select
        .projection
        .iter()
        .filter(|item| match item {
            sqlparser::ast::SelectItem::UnnamedExpr(expr)
            | sqlparser::ast::SelectItem::ExprWithAlias { expr, .. } => is_aggregate_call(expr),
            _ => false,
        })
        .count()
        + where_conditions.negated_units()
        + group_keys
            .iter()
            .filter(|key| is_aggregate_call(key))
            .count()
        + order_keys
            .iter()
            .map(|key| order_key_aggregations(key))
            .sum::<usize>()
        + having_conditions.negated_units()
        + having_conditions.connectors;
    let others = [
        aggregations > 1,
        select.projection.len() > 1,
        where_conditions.units.len() > 1,
        group_keys.len() > 1,
    ]
    .into_iter()
    .filter(|present| *present)
    .count();

    HardnessComponents {
        component1,
        component2,
        others,
    }
}

/// The top "sql" record of the official parse: the first `SELECT`, and the clauses that belong
/// to it.
struct TopRecord<'a> {
    select: &'a Select,
    order_by: Option<&'a OrderBy>,
    has_limit: bool,
    has_set_operation: bool,
}

impl<'a> TopRecord<'a> {
    /// `None` for `VALUES` and other bodies without a `SELECT`.
    fn of(query: &'a Query) -> Option<TopRecord<'a>> {
        match query.body.as_ref() {
            SetExpr::Select(select) => Some(TopRecord {
                select,
                order_by: query.order_by.as_ref(),
                has_limit: has_limit(query.limit_clause.as_ref()),
                has_set_operation: false,
            }),
            SetExpr::Query(inner) => TopRecord::of(inner),
            SetExpr::SetOperation { left, .. } => {
                // ORDER BY / LIMIT after a set operation go to its last branch.
                let mut first = TopRecord::of_set_expr(left)?;
                first.has_set_operation = true;
                Some(first)
            }
            _ => None,
        }
    }

    fn of_set_expr(body: &'a SetExpr) -> Option<TopRecord<'a>> {
        match body {
            SetExpr::Select(select) => Some(TopRecord {
                select,
                order_by: None,
                has_limit: false,
                has_set_operation: false,
            }),
            SetExpr::Query(query) => TopRecord::of(query),
            SetExpr::SetOperation { left, .. } => {
                let mut first = TopRecord::of_set_expr(left)?;
                first.has_set_operation = true;
                Some(first)
            }
            _ => None,
        }
    }
}

fn has_limit(limit_clause: Option<&LimitClause>) -> bool {
    match limit_clause {
        Some(LimitClause::LimitOffset { limit, .. }) => limit.is_some(),
        Some(LimitClause::OffsetCommaLimit { .. }) => true,
        None => false,
    }
}

/// Counts table units (tables and subqueries) and gathers the `ON` conditions of `FROM`.
fn collect_from(table: &TableWithJoins, table_units: &mut usize, on: &mut Conditions) {
    collect_factor(&table.relation, table_units, on);
    for join in &table.joins {
        collect_factor(&join.relation, table_units, on);
        if let Some(JoinConstraint::On(condition)) = join_constraint(&join.join_operator) {
            // The official parser joins the ON lists of successive joins with 'and'.
            on.add_clause(condition);
        }
    }
}

fn collect_factor(factor: &TableFactor, table_units: &mut usize, on: &mut Conditions) {
    match factor {
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => collect_from(table_with_joins, table_units, on),
        _ => *table_units += 1,
    }
}

fn join_constraint(operator: &JoinOperator) -> Option<&JoinConstraint> {
    match operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        _ => None,
    }
}

/// One condition record of the official parse (the fields hardness reads).
struct ConditionUnit {
    negated: bool,
    is_like: bool,
    subquery_values: usize,
}

/// A flat condition list: units and the `and` / `or` connectors between them.
#[derive(Default)]
struct Conditions {
    units: Vec<ConditionUnit>,
    connectors: usize,
    or_connectors: usize,
}

impl Conditions {
    /// Appends one clause's condition tree, flattened in reading order (as the official token
    /// parser sees it), with an `and` connector before it when the list is not empty.
    fn add_clause(&mut self, condition: &Expr) {
        if !self.units.is_empty() {
            self.connectors += 1;
        }
        self.flatten(condition);
    }

    fn flatten(&mut self, condition: &Expr) {
        match condition {
            Expr::BinaryOp {
                left,
                op: op @ (BinaryOperator::And | BinaryOperator::Or),
                right,
            } => {
                self.flatten(left);
                self.connectors += 1;
                if *op == BinaryOperator::Or {
                    self.or_connectors += 1;
                }
                self.flatten(right);
            }
            Expr::Nested(inner) => self.flatten(inner),
            leaf => self.units.push(condition_unit(leaf)),
        }
    }

    fn negated_units(&self) -> usize {
        self.units.iter().filter(|unit| unit.negated).count()
    }
}

fn condition_unit(condition: &Expr) -> ConditionUnit {
    let plain = |subquery_values| ConditionUnit {
        negated: false,
        is_like: false,
        subquery_values,
    };
    match condition {
        Expr::Like {
            negated, pattern, ..
        }
        | Expr::ILike {
            negated, pattern, ..
        } => ConditionUnit {
            negated: *negated,
            is_like: true,
            subquery_values: usize::from(is_subquery(pattern)),
        },
        Expr::InList { negated, .. } => ConditionUnit {
            negated: *negated,
            ..plain(0)
        },
        Expr::InSubquery { negated, .. } => ConditionUnit {
            negated: *negated,
            ..plain(1)
        },
        Expr::Between {
            negated, low, high, ..
        } => ConditionUnit {
            negated: *negated,
            ..plain(usize::from(is_subquery(low)) + usize::from(is_subquery(high)))
        },
        Expr::BinaryOp { right, .. } => plain(usize::from(is_subquery(right))),
        Expr::Exists { negated, .. } => ConditionUnit {
            negated: *negated,
            ..plain(1)
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => ConditionUnit {
            negated: true,
            ..condition_unit(expr)
        },
        _ => plain(0),
    }
}

fn is_subquery(expr: &Expr) -> bool {
    match expr {
        Expr::Subquery(_) => true,
        Expr::Nested(inner) => is_subquery(inner),
        _ => false,
    }
}

/// `max`, `min`, `count`, `sum` or `avg` applied directly (the official `AGG_OPS`).
fn is_aggregate_call(expr: &Expr) -> bool {
    match expr {
        Expr::Nested(inner) => is_aggregate_call(inner),
        Expr::Function(function) => {
            let is_call = !matches!(function.args, FunctionArguments::None);
            let name = match function.name.0.last() {
                Some(ObjectNamePart::Identifier(ident)) => ident.value.to_ascii_lowercase(),
                _ => return false,
            };
            is_call && matches!(name.as_str(), "max" | "min" | "count" | "sum" | "avg")
        }
        _ => false,
    }
}

/// An `ORDER BY` key is a value unit: one or two column units joined by `+ - * /`, each of
/// which may be an aggregate call.
fn order_key_aggregations(key: &Expr) -> usize {
    match key {
        Expr::Nested(inner) => order_key_aggregations(inner),
        Expr::BinaryOp {
            left,
            op:
                BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide,
            right,
        } => usize::from(is_aggregate_call(left)) + usize::from(is_aggregate_call(right)),
        other => usize::from(is_aggregate_call(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(sql: &str) -> (usize, usize, usize) {
        let c = hardness_components(sql).unwrap();
        (c.component1, c.component2, c.others)
    }

    #[test]
    fn simple_counts() {
        assert_eq!(components("SELECT count(*) FROM singer"), (0, 0, 0));
        // WHERE + ORDER BY + LIMIT; two select items.
        assert_eq!(
            components("SELECT name, age FROM singer WHERE age > 3 ORDER BY age LIMIT 1"),
            (3, 0, 1)
        );
        // Two joins, one OR, one LIKE; two WHERE conditions.
        assert_eq!(
            components(
                "SELECT a.x FROM a JOIN b ON a.k = b.k JOIN c ON b.j = c.j \
                 WHERE a.y LIKE '%z%' OR a.w = 1"
            ),
            (5, 0, 1)
        );
    }

    #[test]
    fn nesting_and_set_operations_count_as_component2() {
        assert_eq!(
            components(
                "SELECT name FROM t WHERE id IN (SELECT id FROM u) INTERSECT SELECT name FROM v"
            ),
            (1, 2, 0)
        );
        // Subqueries in FROM are table units, not nesting.
        assert_eq!(
            components("SELECT count(*) FROM (SELECT a FROM t)"),
            (0, 0, 0)
        );
        // ORDER BY / LIMIT after a set operation belong to its last branch.
        assert_eq!(
            components("SELECT a FROM t UNION SELECT a FROM u ORDER BY a LIMIT 3"),
            (0, 1, 0)
        );
    }

    #[test]
    fn official_aggregation_quirks() {
        // NOT IN counts as an "aggregation" in WHERE; together with count(*) that is two.
        assert_eq!(
            components("SELECT count(*) FROM t WHERE id NOT IN (SELECT id FROM u)"),
            (1, 1, 1)
        );
        // In HAVING the connector counts, the aggregate does not.
        assert_eq!(
            components("SELECT k FROM t GROUP BY k HAVING count(*) > 1 AND sum(x) > 2"),
            (1, 0, 0)
        );
        assert_eq!(
            components("SELECT count(*) FROM t GROUP BY k HAVING count(*) > 1 AND sum(x) > 2"),
            (1, 0, 1)
        );
        // ORDER BY aggregates count.
        assert_eq!(
            components("SELECT max(a) FROM t GROUP BY k ORDER BY count(*) DESC"),
            (2, 0, 1)
        );
    }

    #[test]
    fn levels_follow_the_decision_rule() {
        let level = |sql| spider_hardness(sql).unwrap();
        assert_eq!(level("SELECT count(*) FROM singer"), Hardness::Easy);
        assert_eq!(
            level("SELECT name, country, age FROM singer ORDER BY age DESC"),
            Hardness::Medium
        );
        // One nested query with nothing else is hard; with two components it is extra.
        assert_eq!(
            level("SELECT name FROM t WHERE a = 1 INTERSECT SELECT name FROM t WHERE b = 2"),
            Hardness::Hard
        );
        assert_eq!(
            level("SELECT name FROM t WHERE a LIKE 'x%' INTERSECT SELECT name FROM t WHERE b = 2"),
            Hardness::Extra
        );
        assert_eq!(
            level("SELECT name FROM t EXCEPT SELECT name FROM u"),
            Hardness::Hard
        );
    }

    #[test]
    fn hardness_names_round_trip() {
        for level in Hardness::ALL {
            assert_eq!(level.to_string().parse::<Hardness>().unwrap(), level);
            assert_eq!(
                serde_json::to_string(&level).unwrap(),
                format!("\"{level}\"")
            );
        }
        assert!("difficult".parse::<Hardness>().is_err());
    }
}
