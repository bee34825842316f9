//! Schema relinking: a deterministic repair of the commonest error of small models, a column the
//! query's tables do not have (a third of the zero-shot answers of Qwen2.5-Coder-0.5B on the
//! Spider subset fail this way).
//!
//! Given the engine's "no such column" or "ambiguous column" error, [`relink`] rewrites the
//! query's AST in one of four ways, or gives up:
//!
//! 1. **Rename.** The column is a misspelling of exactly one column of the query's tables, equal
//!    after lowercasing and dropping `_` and spaces: `pet_type` → `PetType`.
//! 2. **Requalify.** `T2.Name` where T2's table lacks `Name` but exactly one other table of the
//!    query has it: `T1.Name`.
//! 3. **Join.** No table of the query has the column, and exactly one table that has it is
//!    linked by a foreign key to a table of the SELECT that uses the column: it is joined there
//!    on the key, and the column is qualified with it.
//! 4. **Qualify.** An ambiguous bare column (often one of the first three fixes: a joined key
//!    now in two tables) is written with the first table of its SELECT that has it.
//!
//! Each call fixes one error; the caller runs the result and calls again for the next one (see
//! `learnat_agent`'s strategies, which accept a relinked query only when it runs). Names are
//! matched case-insensitively; a table used twice under different aliases is never a target
//! (the choice would be a guess).

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, Join, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart,
    Select, SetExpr, Statement, TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};

use super::parse;
use crate::schema::{Schema, Table};

/// A relinked query and what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relinked {
    /// The rewritten SQL (sqlparser's rendering).
    pub sql: String,
    /// What changed, for people: `T2.Name → T1.Name`, `pet_type → PetType`, `joined
    /// cars_data on cars_data.Id = T1.MakeId for MPG`.
    pub change: String,
}

/// The column an engine error says is missing, as `(qualifier, column)`, unquoted: SQLite's
/// `no such column: T2.name` and PostgreSQL's `column t2.name does not exist` /
/// `column "name" does not exist`.
pub fn missing_column(error: &str) -> Option<(Option<String>, String)> {
    let name = word_after(error, "no such column:").or_else(|| {
        let start = error.find("column ")? + "column ".len();
        let end = error[start..].find(" does not exist")? + start;
        let inside = error[start..end].trim();
        (!inside.is_empty() && !inside.contains(' ')).then(|| inside.to_string())
    })?;
    let (qualifier, column) = match name.rsplit_once('.') {
        Some((qualifier, column)) => (Some(unquote(qualifier)), unquote(column)),
        None => (None, unquote(&name)),
    };
    (!column.is_empty()).then_some((qualifier, column))
}

/// The column an engine error calls ambiguous, unquoted: SQLite's `ambiguous column name: id`
/// and PostgreSQL's `column reference "id" is ambiguous`.
pub fn ambiguous_column(error: &str) -> Option<String> {
    let name = word_after(error, "ambiguous column name:").or_else(|| {
        let start = error.find("column reference ")? + "column reference ".len();
        let end = error[start..].find(" is ambiguous")? + start;
        Some(error[start..end].trim().to_string())
    })?;
    let column = unquote(&name);
    (!column.is_empty() && !column.contains(' ')).then_some(column)
}

/// The word after `marker` in `text` (SQLite goes on with ` in SELECT … at offset N`).
pub fn word_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let word = text[start..].split_whitespace().next()?;
    Some(word.trim_end_matches([',', ';']).to_string())
}

/// `word` without the quotes of a quoted identifier.
pub fn unquote(word: &str) -> String {
    word.trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']')
        .to_string()
}

/// One schema-linking fix of `sql` for `error`, or `None` when the error is not a missing
/// column, the SQL does not parse as one query, or no fix is unambiguous.
///
/// ```
/// use learnat_tools::Dialect;
/// use learnat_tools::schema::{Schema, Table};
/// use learnat_tools::sql::relink;
/// let schema = Schema {
///     dialect: Dialect::Sqlite,
///     tables: vec![
///         Table::untyped("singer", &["Singer_ID", "Name"]),
///         Table::untyped("singer_in_concert", &["Singer_ID", "concert_ID"]),
///     ],
/// };
/// let sql = "SELECT T2.Name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.Singer_ID = T2.Singer_ID";
/// let fixed = relink(&schema, sql, "no such column: T2.Name").unwrap();
/// assert_eq!(fixed.sql, "SELECT T1.Name FROM singer AS T1 JOIN singer_in_concert AS T2 ON T1.Singer_ID = T2.Singer_ID");
/// assert_eq!(fixed.change, "T2.Name → T1.Name");
/// ```
pub fn relink(schema: &Schema, sql: &str, error: &str) -> Option<Relinked> {
    let ambiguous = ambiguous_column(error);
    let (qualifier, column) = match &ambiguous {
        Some(column) => (None, column.clone()),
        None => missing_column(error)?,
    };
    let mut statements = parse(sql, schema.dialect).ok()?;
    if statements.len() != 1 || !matches!(statements[0], Statement::Query(_)) {
        return None;
    }
    let statement = &mut statements[0];
    let scopes = Scopes::of(statement, schema, qualifier.as_deref(), &column);
    let change = match (&ambiguous, &qualifier) {
        (Some(_), _) => qualify_ambiguous(statement, schema, &scopes, &column)?,
        (None, Some(qualifier)) => {
            relink_qualified(statement, schema, &scopes, qualifier, &column)?
        }
        (None, None) => relink_bare(statement, schema, &scopes, &column)?,
    };
    let sql = statement.to_string();
    Some(Relinked { sql, change })
}

/// A column `column` of a schema table, its exact spelling: equal ignoring case, or (when
/// `fuzzy`) equal after dropping everything but letters and digits.
fn column_of<'s>(table: &'s Table, column: &str, fuzzy: bool) -> Option<&'s str> {
    let key = squash(column);
    table
        .columns
        .iter()
        .find(|c| {
            if fuzzy {
                squash(&c.name) == key
            } else {
                c.name.eq_ignore_ascii_case(column)
            }
        })
        .map(|c| c.name.as_str())
}

fn squash(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `T2.col` is wrong: rename the column on T2's table, move it to the one table of the query
/// that has it, or join the one table that has it.
fn relink_qualified(
    statement: &mut Statement,
    schema: &Schema,
    scopes: &Scopes,
    qualifier: &str,
    column: &str,
) -> Option<String> {
    let own = scopes.table_of(qualifier).and_then(|t| schema.table(&t));
    // A misspelling of a column of the qualifier's own table.
    if let Some(spelled) = own.and_then(|t| column_of(t, column, true)) {
        if !spelled.eq_ignore_ascii_case(column) {
            let target = vec![Ident::new(qualifier), ident(spelled)];
            rewrite(statement, column, Some(qualifier), None, &target);
            return Some(format!("{qualifier}.{column} → {qualifier}.{spelled}"));
        }
        return None;
    }
    // Another table of the query has it: qualify with that table's alias.
    for fuzzy in [false, true] {
        let holders: Vec<&Table> = scopes
            .tables()
            .iter()
            .filter_map(|t| schema.table(t))
            .filter(|t| column_of(t, column, fuzzy).is_some())
            .collect();
        match holders.as_slice() {
            [] => continue,
            [holder] => {
                let alias = scopes.sole_alias(&holder.name)?;
                let spelled = column_of(holder, column, fuzzy)?;
                let target = vec![alias.clone(), ident(spelled)];
                rewrite(statement, column, Some(qualifier), None, &target);
                return Some(format!("{qualifier}.{column} → {}.{spelled}", alias.value));
            }
            _ => return None,
        }
    }
    // A table the query does not use: join it to the qualifier's table.
    let own = own?;
    join_missing(
        statement,
        schema,
        scopes,
        column,
        Some(qualifier),
        Some(&own.name),
    )
}

/// A bare `col` that several tables of a SELECT have: qualify it, in each SELECT that uses it,
/// with the first of its tables that has it (a join key, the usual case, is equal on both
/// sides).
fn qualify_ambiguous(
    statement: &mut Statement,
    schema: &Schema,
    scopes: &Scopes,
    column: &str,
) -> Option<String> {
    let mut changes = Vec::new();
    for (index, scope) in scopes.selects.iter().enumerate() {
        if !scope.uses {
            continue;
        }
        let holder = scope.tables.iter().find_map(|(table, alias)| {
            let spelled = column_of(schema.table(table)?, column, false)?;
            Some((alias.clone(), spelled.to_string()))
        });
        let Some((alias, spelled)) = holder else {
            continue;
        };
        let target = vec![alias.clone(), ident(&spelled)];
        rewrite(statement, column, None, Some(index), &target);
        let change = format!("{column} → {}.{spelled}", alias.value);
        if !changes.contains(&change) {
            changes.push(change);
        }
    }
    (!changes.is_empty()).then(|| changes.join(", "))
}

/// A bare `col` is wrong: rename it to the one column of the query's tables it misspells, or
/// join the one table that has it.
fn relink_bare(
    statement: &mut Statement,
    schema: &Schema,
    scopes: &Scopes,
    column: &str,
) -> Option<String> {
    let spellings: Vec<&str> = scopes
        .tables()
        .iter()
        .filter_map(|t| schema.table(t))
        .filter_map(|t| column_of(t, column, true))
        .collect();
    if let Some(first) = spellings.first() {
        if spellings.iter().all(|s| s == first) && !first.eq_ignore_ascii_case(column) {
            rewrite(statement, column, None, None, &[ident(first)]);
            return Some(format!("{column} → {first}"));
        }
        return None;
    }
    join_missing(statement, schema, scopes, column, None, None)
}

/// Join a schema table outside the query that has `column` to a table of the SELECT that uses
/// it (`partner_of` narrows the partner to one table), on a foreign key between them. Of the
/// outside tables with the column, only those a foreign key links to that SELECT count, and
/// there must be exactly one.
fn join_missing(
    statement: &mut Statement,
    schema: &Schema,
    scopes: &Scopes,
    column: &str,
    qualifier: Option<&str>,
    partner_of: Option<&str>,
) -> Option<String> {
    let used = scopes.tables();
    let outside: Vec<&Table> = schema
        .tables
        .iter()
        .filter(|t| !used.iter().any(|u| u.eq_ignore_ascii_case(&t.name)))
        .filter(|t| column_of(t, column, false).is_some())
        .collect();
    // The first SELECT using the column with exactly one linked outside table.
    for (index, scope) in scopes.selects.iter().enumerate() {
        if !scope.uses {
            continue;
        }
        // (partner table, its alias, partner column, target, target column)
        let mut links = Vec::new();
        for (table, alias) in &scope.tables {
            if partner_of.is_some_and(|p| !p.eq_ignore_ascii_case(table)) {
                continue;
            }
            let Some(partner) = schema.table(table) else {
                continue;
            };
            for target in &outside {
                if let Some((partner_column, target_column)) = foreign_key(partner, target) {
                    links.push((table, alias, partner_column, *target, target_column));
                }
            }
        }
        let Some(first) = links.first() else {
            continue;
        };
        if links
            .iter()
            .any(|l| !l.3.name.eq_ignore_ascii_case(&first.3.name))
        {
            return None;
        }
        let (table, alias, partner_column, target, target_column) = first.clone();
        let spelled = column_of(target, column, false)?;
        let target_ident = ident(&target.name);
        let on = Expr::BinaryOp {
            left: Box::new(Expr::CompoundIdentifier(vec![
                alias.clone(),
                ident(&partner_column),
            ])),
            op: BinaryOperator::Eq,
            right: Box::new(Expr::CompoundIdentifier(vec![
                target_ident.clone(),
                ident(&target_column),
            ])),
        };
        let join = Join {
            relation: table_factor(&target.name)?,
            global: false,
            join_operator: JoinOperator::Join(JoinConstraint::On(on)),
        };
        if !add_join(statement, index, table, join) {
            return None;
        }
        let replacement = vec![target_ident, ident(spelled)];
        rewrite(statement, column, qualifier, Some(index), &replacement);
        let written = match qualifier {
            Some(q) => format!("{q}.{column}"),
            None => column.to_string(),
        };
        return Some(format!(
            "{written} → {}.{spelled} (joined {} on {}.{partner_column} = {}.{target_column})",
            target.name, target.name, alias.value, target.name
        ));
    }
    None
}

/// `(column of a, column of b)` of a single-column foreign key between tables `a` and `b`, in
/// either direction.
fn foreign_key(a: &Table, b: &Table) -> Option<(String, String)> {
    let single =
        |fk: &crate::schema::ForeignKey| fk.columns.len() == 1 && fk.ref_columns.len() == 1;
    a.foreign_keys
        .iter()
        .find(|fk| single(fk) && fk.ref_table.eq_ignore_ascii_case(&b.name))
        .map(|fk| (fk.columns[0].clone(), fk.ref_columns[0].clone()))
        .or_else(|| {
            b.foreign_keys
                .iter()
                .find(|fk| single(fk) && fk.ref_table.eq_ignore_ascii_case(&a.name))
                .map(|fk| (fk.ref_columns[0].clone(), fk.columns[0].clone()))
        })
}

/// A plain table reference to `name`, built by the parser (the AST node has many fields).
fn table_factor(name: &str) -> Option<TableFactor> {
    let mut statements = sqlparser::parser::Parser::parse_sql(
        &sqlparser::dialect::GenericDialect {},
        "SELECT 1 FROM placeholder",
    )
    .ok()?;
    let Statement::Query(query) = statements.pop()? else {
        return None;
    };
    let SetExpr::Select(select) = *query.body else {
        return None;
    };
    let mut factor = select.from.into_iter().next()?.relation;
    if let TableFactor::Table { name: slot, .. } = &mut factor {
        *slot = ObjectName::from(vec![ident(name)]);
    }
    Some(factor)
}

/// An identifier for a schema name: bare when it is a plain word, double-quoted otherwise.
fn ident(name: &str) -> Ident {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        Ident::new(name)
    } else {
        Ident::with_quote('"', name)
    }
}

fn last_part(name: &ObjectName) -> Option<String> {
    match name.0.last()? {
        ObjectNamePart::Identifier(ident) => Some(ident.value.clone()),
        _ => None,
    }
}

/// The SELECTs of a query in visiting order, with their own tables and whether they use the
/// missing column directly (not through a subquery).
struct Scopes {
    selects: Vec<Scope>,
}

struct Scope {
    /// `(schema table, alias or the table's own name)` of the SELECT's FROM clause.
    tables: Vec<(String, Ident)>,
    /// The missing column appears in this SELECT (not only in its subqueries).
    uses: bool,
}

impl Scopes {
    fn of(statement: &Statement, schema: &Schema, qualifier: Option<&str>, column: &str) -> Scopes {
        let mut collector = ScopeCollector {
            schema,
            qualifier,
            column,
            scopes: Vec::new(),
            stack: Vec::new(),
        };
        let _ = statement.visit(&mut collector);
        Scopes {
            selects: collector.scopes,
        }
    }

    /// Every schema table of the query, once.
    fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = Vec::new();
        for (table, _) in self.selects.iter().flat_map(|s| &s.tables) {
            if !tables.iter().any(|t| t.eq_ignore_ascii_case(table)) {
                tables.push(table.clone());
            }
        }
        tables
    }

    /// The table `qualifier` (an alias or a table name) stands for.
    fn table_of(&self, qualifier: &str) -> Option<String> {
        self.selects
            .iter()
            .flat_map(|s| &s.tables)
            .find(|(_, alias)| alias.value.eq_ignore_ascii_case(qualifier))
            .map(|(table, _)| table.clone())
    }

    /// The one alias `table` goes by in the query, when it has one.
    fn sole_alias(&self, table: &str) -> Option<Ident> {
        let mut aliases = self
            .selects
            .iter()
            .flat_map(|s| &s.tables)
            .filter(|(t, _)| t.eq_ignore_ascii_case(table))
            .map(|(_, alias)| alias);
        let first = aliases.next()?;
        aliases
            .all(|a| a.value.eq_ignore_ascii_case(&first.value))
            .then(|| first.clone())
    }
}

struct ScopeCollector<'a> {
    schema: &'a Schema,
    qualifier: Option<&'a str>,
    column: &'a str,
    scopes: Vec<Scope>,
    stack: Vec<usize>,
}

impl Visitor for ScopeCollector<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        let mut tables = Vec::new();
        for from in &select.from {
            let factors =
                std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation));
            for factor in factors {
                if let TableFactor::Table { name, alias, .. } = factor {
                    let Some(written) = last_part(name) else {
                        continue;
                    };
                    let Some(table) = self.schema.table(&written) else {
                        continue;
                    };
                    let alias = alias
                        .as_ref()
                        .map(|a| a.name.clone())
                        .unwrap_or_else(|| Ident::new(written));
                    tables.push((table.name.clone(), alias));
                }
            }
        }
        self.stack.push(self.scopes.len());
        self.scopes.push(Scope {
            tables,
            uses: false,
        });
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _select: &Select) -> ControlFlow<()> {
        self.stack.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if matches_missing(expr, self.qualifier, self.column) {
            // An ORDER BY of the outermost query is outside every SELECT: it belongs to the
            // first one.
            let index = self.stack.last().copied().unwrap_or(0);
            if let Some(scope) = self.scopes.get_mut(index) {
                scope.uses = true;
            }
        }
        ControlFlow::Continue(())
    }
}

/// Is `expr` the missing column as the error wrote it?
fn matches_missing(expr: &Expr, qualifier: Option<&str>, column: &str) -> bool {
    match (expr, qualifier) {
        (Expr::Identifier(ident), None) => ident.value.eq_ignore_ascii_case(column),
        (Expr::CompoundIdentifier(parts), Some(qualifier)) => {
            parts.len() >= 2
                && parts[parts.len() - 1].value.eq_ignore_ascii_case(column)
                && parts[parts.len() - 2].value.eq_ignore_ascii_case(qualifier)
        }
        _ => false,
    }
}

/// Replace the missing column (as the error wrote it) with `replacement`, everywhere or only in
/// the SELECT at visiting index `only_in`.
fn rewrite(
    statement: &mut Statement,
    column: &str,
    qualifier: Option<&str>,
    only_in: Option<usize>,
    replacement: &[Ident],
) {
    let mut rewriter = Rewriter {
        column,
        qualifier,
        only_in,
        replacement,
        next: 0,
        stack: Vec::new(),
    };
    let _ = statement.visit(&mut rewriter);
}

struct Rewriter<'a> {
    column: &'a str,
    qualifier: Option<&'a str>,
    only_in: Option<usize>,
    replacement: &'a [Ident],
    next: usize,
    stack: Vec<usize>,
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, _select: &mut Select) -> ControlFlow<()> {
        self.stack.push(self.next);
        self.next += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _select: &mut Select) -> ControlFlow<()> {
        self.stack.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let here = self.stack.last().copied().unwrap_or(0);
        if self.only_in.is_some_and(|only| only != here) {
            return ControlFlow::Continue(());
        }
        if matches_missing(expr, self.qualifier, self.column) {
            *expr = match self.replacement {
                [single] => Expr::Identifier(single.clone()),
                parts => Expr::CompoundIdentifier(parts.to_vec()),
            };
        }
        ControlFlow::Continue(())
    }
}

/// Append `join` to the FROM item of the SELECT at visiting index `index` that holds `table`.
fn add_join(statement: &mut Statement, index: usize, table: &str, join: Join) -> bool {
    struct Joiner<'a> {
        index: usize,
        table: &'a str,
        join: Option<Join>,
        next: usize,
    }
    impl VisitorMut for Joiner<'_> {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            let here = self.next;
            self.next += 1;
            if here != self.index {
                return ControlFlow::Continue(());
            }
            let holds = |factor: &TableFactor| match factor {
                TableFactor::Table { name, .. } => {
                    last_part(name).is_some_and(|n| n.eq_ignore_ascii_case(self.table))
                }
                _ => false,
            };
            let from = select
                .from
                .iter_mut()
                .find(|f| holds(&f.relation) || f.joins.iter().any(|j| holds(&j.relation)));
            if let Some(from) = from {
                from.joins.extend(self.join.take());
            }
            ControlFlow::Break(())
        }
    }
    let mut joiner = Joiner {
        index,
        table,
        join: Some(join),
        next: 0,
    };
    let _ = statement.visit(&mut joiner);
    joiner.join.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::Dialect;
    use crate::schema::ForeignKey;

    fn table(name: &str, columns: &[&str], fks: &[(&str, &str, &str)]) -> Table {
        Table {
            foreign_keys: fks
                .iter()
                .map(|(column, ref_table, ref_column)| ForeignKey {
                    columns: vec![column.to_string()],
                    ref_table: ref_table.to_string(),
                    ref_columns: vec![ref_column.to_string()],
                })
                .collect(),
            ..Table::untyped(name, columns)
        }
    }

    fn cars() -> Schema {
        Schema {
            dialect: Dialect::Sqlite,
            tables: vec![
                table("car_makers", &["Id", "Maker", "FullName", "Country"], &[]),
                table("car_names", &["MakeId", "Model", "Make"], &[]),
                table(
                    "cars_data",
                    &["Id", "MPG", "Horsepower", "Year"],
                    &[("Id", "car_names", "MakeId")],
                ),
                table("Pets", &["PetID", "PetType", "pet_age"], &[]),
            ],
        }
    }

    fn fix(sql: &str, error: &str) -> Option<Relinked> {
        relink(&cars(), sql, error)
    }

    #[test]
    fn the_missing_column_is_read_from_sqlite_and_postgres_errors() {
        assert_eq!(
            missing_column("no such column: T2.Name in SELECT T2.Name FROM t at offset 7"),
            Some((Some("T2".into()), "Name".into()))
        );
        assert_eq!(
            missing_column("column t2.name does not exist"),
            Some((Some("t2".into()), "name".into()))
        );
        assert_eq!(
            missing_column("column \"petage\" does not exist"),
            Some((None, "petage".into()))
        );
        assert_eq!(missing_column("no such table: song"), None);
    }

    #[test]
    fn a_misspelt_column_is_renamed() {
        let fixed = fix(
            "SELECT count(pet_type) FROM Pets WHERE pettype = 'dog'",
            "no such column: pet_type",
        )
        .unwrap();
        assert_eq!(
            fixed.sql,
            "SELECT count(PetType) FROM Pets WHERE pettype = 'dog'"
        );
        assert_eq!(fixed.change, "pet_type → PetType");
    }

    #[test]
    fn a_column_on_the_wrong_alias_is_requalified() {
        let fixed = fix(
            "SELECT T1.FullName FROM car_names AS T1 JOIN car_makers AS T2 ON T1.MakeId = T2.Id",
            "no such column: T1.FullName",
        )
        .unwrap();
        assert_eq!(
            fixed.sql,
            "SELECT T2.FullName FROM car_names AS T1 JOIN car_makers AS T2 ON T1.MakeId = T2.Id"
        );
    }

    #[test]
    fn a_column_of_an_unjoined_table_joins_it_on_the_foreign_key() {
        let fixed = fix(
            "SELECT avg(MPG) FROM car_names WHERE Model = 'amc'",
            "no such column: MPG",
        )
        .unwrap();
        assert_eq!(
            fixed.sql,
            "SELECT avg(cars_data.MPG) FROM car_names JOIN cars_data ON car_names.MakeId = cars_data.Id WHERE Model = 'amc'"
        );
        assert!(
            fixed.change.contains("joined cars_data"),
            "{}",
            fixed.change
        );
    }

    #[test]
    fn of_two_tables_with_the_column_the_one_linked_by_a_key_is_joined() {
        let schema = Schema {
            dialect: Dialect::Sqlite,
            tables: vec![
                table("countries", &["country_id", "name"], &[]),
                table(
                    "cities",
                    &["city_id", "name", "country_id"],
                    &[("country_id", "countries", "country_id")],
                ),
                table(
                    "customers",
                    &["customer_id", "city_id"],
                    &[("city_id", "cities", "city_id")],
                ),
            ],
        };
        let sql = "SELECT city_id, country_id, count(*) FROM customers GROUP BY city_id";
        let joined = relink(&schema, sql, "no such column: country_id").unwrap();
        assert_eq!(
            joined.sql,
            "SELECT city_id, cities.country_id, count(*) FROM customers JOIN cities ON customers.city_id = cities.city_id GROUP BY city_id"
        );
        // The joined key is now in two tables.
        let qualified = relink(&schema, &joined.sql, "ambiguous column name: city_id").unwrap();
        assert_eq!(
            qualified.sql,
            "SELECT customers.city_id, cities.country_id, count(*) FROM customers JOIN cities ON customers.city_id = cities.city_id GROUP BY customers.city_id"
        );
    }

    #[test]
    fn the_join_goes_into_the_select_that_uses_the_column() {
        let fixed = fix(
            "SELECT Maker FROM car_makers WHERE Id IN (SELECT MakeId FROM car_names WHERE Horsepower > 100)",
            "no such column: Horsepower",
        )
        .unwrap();
        assert_eq!(
            fixed.sql,
            "SELECT Maker FROM car_makers WHERE Id IN (SELECT MakeId FROM car_names JOIN cars_data ON car_names.MakeId = cars_data.Id WHERE cars_data.Horsepower > 100)"
        );
    }

    #[test]
    fn an_ambiguous_column_takes_the_first_table_that_has_it() {
        assert_eq!(
            ambiguous_column("ambiguous column name: MakeId in SELECT"),
            Some("MakeId".into())
        );
        assert_eq!(
            ambiguous_column("column reference \"makeid\" is ambiguous"),
            Some("makeid".into())
        );
        let sql = "SELECT MakeId, avg(cars_data.MPG) FROM car_names JOIN cars_data ON car_names.MakeId = cars_data.Id GROUP BY MakeId";
        // MakeId is car_names' only; make Id ambiguous instead.
        let fixed = fix(
            "SELECT Id FROM car_makers AS m JOIN cars_data AS d ON m.Id = d.Id",
            "ambiguous column name: Id",
        )
        .unwrap();
        assert_eq!(
            fixed.sql,
            "SELECT m.Id FROM car_makers AS m JOIN cars_data AS d ON m.Id = d.Id"
        );
        assert_eq!(fixed.change, "Id → m.Id");
        assert_eq!(fix(sql, "ambiguous column name: Nothing"), None);
    }

    #[test]
    fn no_guess_when_the_fix_is_ambiguous_or_the_error_is_another() {
        // Year is in cars_data only, but no foreign key links car_makers to it.
        assert_eq!(
            fix(
                "SELECT Maker FROM car_makers WHERE Year > 1980",
                "no such column: Year"
            ),
            None
        );
        // Nobody has it.
        assert_eq!(
            fix("SELECT colour FROM Pets", "no such column: colour"),
            None
        );
        // Not a missing column.
        assert_eq!(fix("SELECT * FROM song", "no such table: song"), None);
        // Does not parse.
        assert_eq!(fix("SELECT FROM WHERE", "no such column: x"), None);
        // A table under two aliases is not a target.
        assert_eq!(
            fix(
                "SELECT T3.FullName FROM car_makers AS T1 JOIN car_makers AS T2 ON T1.Id = T2.Id JOIN car_names AS T3 ON T3.MakeId = T1.Id",
                "no such column: T3.FullName"
            ),
            None
        );
    }
}
