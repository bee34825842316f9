//! Canonical normalisation: one parse, one scope-aware resolution pass over the query structure,
//! one canonicalising visitor, then sqlparser's printer.
//!
//! What becomes equal (each rule is an AST rewrite):
//! - keyword case and whitespace (the printer writes keywords in upper case, single spaces);
//! - identifier case: names are lower-cased (in PostgreSQL a quoted name keeps its case, as the
//!   engine does); quotes are dropped where the bare name is a plain identifier that is not a
//!   reserved word, so `"name"`, `` `name` `` and `name` print alike;
//! - table aliases: a table that occurs once in its `FROM` loses its alias and qualified
//!   references use the table name (`SELECT T1.name FROM singer AS T1` → `SELECT name FROM
//!   singer`); a table occurring more than once in one `FROM` (self join), or one in a
//!   subquery that has the name of an enclosing table the subquery refers to (a correlated
//!   `singer.x` would otherwise be captured), gets the alias `<table>_<n>`, and derived tables get
//!   `derived_<n>`, numbered in order of appearance in the statement, so the alias names chosen
//!   by the author do not matter;
//! - qualifiers: in a `SELECT` whose `FROM` binds exactly one table, qualified references to it
//!   lose the qualifier (`SELECT singer.name FROM singer` → `SELECT name FROM singer`); in a join
//!   they keep the canonical table name (without the schema, unknown columns cannot be resolved);
//! - select-list aliases of the outermost query and of subqueries in expressions (whose column
//!   names nothing can refer to) are dropped, and references to them in `ORDER BY`, `GROUP BY`
//!   and `HAVING` are replaced by the aliased expression; an alias that the `WHERE` clause or the
//!   select list itself uses is kept, and so are the aliases of derived tables and CTEs, which
//!   outer queries read. The normal form therefore returns the same rows, but its output column
//!   names may differ;
//! - parentheses that the precedence rules make redundant (`WHERE (a = 1) AND (b = 2)`,
//!   `((x))`, a parenthesised whole clause or function argument);
//! - `AS` is always written; `ASC` (the default) is dropped; `INNER JOIN` → `JOIN`,
//!   `LEFT OUTER JOIN` → `LEFT JOIN`, `RIGHT OUTER JOIN` → `RIGHT JOIN`; `SELECT ALL` → `SELECT`;
//!   `==` → `=` and `!=` → `<>` (the parser already maps these);
//! - SQLite only: a double-quoted name used as the right operand of a comparison, as a `LIKE`
//!   pattern, in an `IN (…)` list or as a `BETWEEN` bound becomes a string literal. SQLite itself
//!   reads such a name as a string when no column has it, and that is how Spider and BIRD write
//!   string constants (`WHERE name = "Bob"`).
//!
//! What stays different: anything that needs the schema (an unqualified column in a join versus a
//! qualified one), reordering of commutative operands, `JOIN … ON` versus a comma join with
//! `WHERE`, and other semantic equivalences.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr,
    Ident, JoinOperator, ObjectName, ObjectNamePart, OrderBy, OrderByExpr, OrderByKind,
    OrderBySort, Query, Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement,
    TableAlias, TableFactor, TableWithJoins, UnaryOperator, Value, ValueWithSpan, Visit, VisitMut,
    Visitor, VisitorMut,
};
use sqlparser::keywords::{
    ALL_KEYWORDS, ALL_KEYWORDS_INDEX, RESERVED_FOR_COLUMN_ALIAS, RESERVED_FOR_IDENTIFIER,
    RESERVED_FOR_TABLE_ALIAS,
};

use super::parse;
use crate::database::Dialect;
use crate::error::ToolsResult;

/// Canonical text of `sql`: equal for equivalent spellings (keyword and identifier case, alias
/// names, whitespace, redundant parentheses where safe, `AS` optional, table aliases resolved to
/// table names). The module documentation lists every rule. Several statements are joined with
/// `"; "`.
///
/// Cost: one parse, two passes over the AST and one print.
///
/// ```
/// use learnat_tools::Dialect;
/// use learnat_tools::sql::normalize;
/// let a = normalize("select T1.name from singer as T1", Dialect::Sqlite).unwrap();
/// let b = normalize("SELECT singer.name FROM singer", Dialect::Sqlite).unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a, "SELECT name FROM singer");
/// ```
pub fn normalize(sql: &str, dialect: Dialect) -> ToolsResult<String> {
    let mut statements = parse(sql, dialect)?;
    normalize_statements(&mut statements, dialect);
    let texts: Vec<String> = statements.iter().map(ToString::to_string).collect();
    Ok(texts.join("; "))
}

/// Applies the rewrites of [`normalize`] to parsed statements in place (for callers that keep
/// working on the AST, such as [`super::sql_tree`]).
pub fn normalize_statements(statements: &mut [Statement], dialect: Dialect) {
    for statement in statements {
        if let Statement::Query(query) = statement {
            normalize_query(query, dialect);
        } else {
            let _ = statement.visit(&mut Canonicalizer { dialect });
        }
    }
}

/// Applies the rewrites of [`normalize`] to one query in place.
pub(crate) fn normalize_query(query: &mut Query, dialect: Dialect) {
    let mut naming = AliasNaming::default();
    resolve_query(query, &mut Vec::new(), &mut naming, true);
    let _ = query.visit(&mut Canonicalizer { dialect });
}

// ---------------------------------------------------------------------------------------------
// Pass 1: scopes, table aliases, qualifiers, select-list aliases.
// ---------------------------------------------------------------------------------------------

/// A name a `FROM` clause makes visible, and the name it has in the normal form.
struct Binding {
    /// Lower-cased name as the query refers to it (alias, or table name when unaliased).
    visible: String,
    /// Lower-cased name in the normal form (table name, or a generated alias).
    canonical: String,
}

/// The bindings of one `SELECT`'s `FROM` clause.
#[derive(Default)]
struct Scope {
    bindings: Vec<Binding>,
}

impl Scope {
    fn lookup(&self, visible: &str) -> Option<&Binding> {
        self.bindings
            .iter()
            .find(|binding| binding.visible == visible)
    }

    fn binds_canonical(&self, canonical: &str) -> bool {
        self.bindings
            .iter()
            .any(|binding| binding.canonical == canonical)
    }
}

/// Generated alias names, numbered per base name in order of appearance in the statement, so
/// equivalent spellings get the same names.
#[derive(Default)]
struct AliasNaming {
    used: HashMap<String, usize>,
}

impl AliasNaming {
    fn fresh(&mut self, base: &str) -> String {
        let counter = self.used.entry(base.to_string()).or_insert(0);
        *counter += 1;
        format!("{base}_{counter}")
    }
}

/// Resolves one query. `drop_aliases` says whether nothing outside can read its output column
/// names (outermost query, subquery in an expression).
fn resolve_query(
    query: &mut Query,
    scopes: &mut Vec<Scope>,
    naming: &mut AliasNaming,
    drop_aliases: bool,
) {
    let Query {
        with,
        body,
        order_by,
        limit_clause,
        ..
    } = query;
    if let Some(with) = with {
        for cte in &mut with.cte_tables {
            resolve_query(&mut cte.query, scopes, naming, false);
        }
    }
    match body.as_mut() {
        SetExpr::Select(select) => {
            let scope = bind_from(select, scopes, naming);
            scopes.push(scope);
            if drop_aliases {
                drop_select_aliases(select, order_by.as_mut());
            }
            resolve_select(select, scopes, naming);
            if let Some(order_by) = order_by {
                resolve_order_by(order_by, scopes, naming);
            }
            scopes.pop();
        }
        other => {
            // Set operations: ORDER BY names output columns of the first branch, so its aliases
            // stay when there is one.
            resolve_set_expr(other, scopes, naming, drop_aliases && order_by.is_none());
            if let Some(order_by) = order_by {
                resolve_order_by(order_by, scopes, naming);
            }
        }
    }
    if let Some(limit_clause) = limit_clause {
        let _ = limit_clause.visit(&mut Resolver::new(scopes, naming));
    }
}

fn resolve_set_expr(
    body: &mut SetExpr,
    scopes: &mut Vec<Scope>,
    naming: &mut AliasNaming,
    drop_aliases: bool,
) {
    match body {
        SetExpr::Select(select) => {
            let scope = bind_from(select, scopes, naming);
            scopes.push(scope);
            if drop_aliases {
                drop_select_aliases(select, None);
            }
            resolve_select(select, scopes, naming);
            scopes.pop();
        }
        SetExpr::Query(query) => resolve_query(query, scopes, naming, drop_aliases),
        SetExpr::SetOperation { left, right, .. } => {
            resolve_set_expr(left, scopes, naming, drop_aliases);
            resolve_set_expr(right, scopes, naming, drop_aliases);
        }
        SetExpr::Values(values) => {
            for row in &mut values.rows {
                for expr in row.iter_mut() {
                    resolve_root(expr, scopes, naming);
                }
            }
        }
        _ => {}
    }
}

/// Builds the scope of `select`'s `FROM` clause, renaming aliases to canonical names. Derived
/// tables are resolved here, against the enclosing scopes only (they cannot see their siblings).
fn bind_from(select: &mut Select, scopes: &mut Vec<Scope>, naming: &mut AliasNaming) -> Scope {
    let mut context = FromContext::default();
    let mut local_names = HashSet::new();
    for table in &select.from {
        survey_tables(table, &mut context.occurrences, &mut local_names);
    }
    let collides = context
        .occurrences
        .keys()
        .any(|key| scopes.iter().any(|outer| outer.binds_canonical(key)));
    if collides {
        context.correlated = correlated_canonical_names(select, &local_names, scopes);
    }
    let mut scope = Scope::default();
    for table in &mut select.from {
        bind_table_with_joins(table, &context, scopes, naming, &mut scope);
    }
    scope
}

/// What binding one `FROM` clause needs to know beyond the factor at hand.
#[derive(Default)]
struct FromContext {
    /// How often each table (lower-cased name) occurs in this `FROM`.
    occurrences: HashMap<String, usize>,
    /// Canonical names of enclosing bindings that this `SELECT` (at any depth) refers to by
    /// qualifier: a local table with such a name must get an alias, or it would capture them.
    correlated: HashSet<String>,
}

/// Counts the tables of a `FROM` item and collects the names it makes visible.
fn survey_tables(
    table: &TableWithJoins,
    occurrences: &mut HashMap<String, usize>,
    visible: &mut HashSet<String>,
) {
    let factors = std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation));
    for factor in factors {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                let key = table_key(name);
                visible.insert(
                    alias
                        .as_ref()
                        .map_or_else(|| key.clone(), |alias| alias.name.value.to_lowercase()),
                );
                *occurrences.entry(key).or_insert(0) += 1;
            }
            TableFactor::Derived {
                alias: Some(alias), ..
            } => {
                visible.insert(alias.name.value.to_lowercase());
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => survey_tables(table_with_joins, occurrences, visible),
            _ => {}
        }
    }
}

/// Canonical names of the enclosing bindings that qualified references inside `select` (nested
/// queries included) may reach: qualifiers `select`'s own `FROM` does not bind, resolved in the
/// enclosing scopes. A superset of the real correlations, which only costs an extra alias.
fn correlated_canonical_names(
    select: &Select,
    local_names: &HashSet<String>,
    scopes: &[Scope],
) -> HashSet<String> {
    let mut qualifiers = QualifierCollector::default();
    let _ = select.visit(&mut qualifiers);
    qualifiers
        .names
        .iter()
        .filter(|name| !local_names.contains(*name))
        .filter_map(|name| lookup(scopes, name).map(|(_, canonical)| canonical))
        .collect()
}

/// Collects the lower-cased qualifiers of `qualifier.column` references.
#[derive(Default)]
struct QualifierCollector {
    names: HashSet<String>,
}

impl Visitor for QualifierCollector {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr
            && let [qualifier, _] = parts.as_slice()
        {
            self.names.insert(qualifier.value.to_lowercase());
        }
        ControlFlow::Continue(())
    }
}

fn bind_table_with_joins(
    table: &mut TableWithJoins,
    context: &FromContext,
    scopes: &mut Vec<Scope>,
    naming: &mut AliasNaming,
    scope: &mut Scope,
) {
    bind_factor(&mut table.relation, context, scopes, naming, scope);
    for join in &mut table.joins {
        bind_factor(&mut join.relation, context, scopes, naming, scope);
    }
}

fn bind_factor(
    factor: &mut TableFactor,
    context: &FromContext,
    scopes: &mut Vec<Scope>,
    naming: &mut AliasNaming,
    scope: &mut Scope,
) {
    match factor {
        TableFactor::Table { name, alias, .. } => {
            let key = table_key(name);
            let visible = alias
                .as_ref()
                .map_or_else(|| key.clone(), |alias| alias.name.value.to_lowercase());
            let once = context.occurrences.get(&key).copied().unwrap_or(0) <= 1;
            let captures_outer_reference = context.correlated.contains(&key);
            let canonical = if once && !captures_outer_reference {
                *alias = None;
                key
            } else {
                let canonical = naming.fresh(&key);
                set_alias(alias, &canonical);
                canonical
            };
            scope.bindings.push(Binding { visible, canonical });
        }
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            resolve_query(subquery, scopes, naming, false);
            if let Some(existing) = alias {
                let visible = existing.name.value.to_lowercase();
                let canonical = naming.fresh("derived");
                set_alias(alias, &canonical);
                scope.bindings.push(Binding { visible, canonical });
            }
        }
        TableFactor::NestedJoin {
            table_with_joins, ..
        } => bind_table_with_joins(table_with_joins, context, scopes, naming, scope),
        _ => {}
    }
}

/// Sets the alias name, keeping a column list if there is one.
fn set_alias(alias: &mut Option<TableAlias>, name: &str) {
    let columns = alias.take().map(|alias| alias.columns).unwrap_or_default();
    *alias = Some(TableAlias {
        explicit: true,
        name: Ident::new(name),
        columns,
        at: None,
    });
}

/// Lower-cased last part of a table name (`main.Singer` → `singer`).
fn table_key(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.to_lowercase(),
        Some(other) => other.to_string().to_lowercase(),
        None => String::new(),
    }
}

/// Resolves every expression of `select` (its scope is the last of `scopes`).
fn resolve_select(select: &mut Select, scopes: &mut Vec<Scope>, naming: &mut AliasNaming) {
    let single_binding = scopes.last().is_some_and(|scope| scope.bindings.len() == 1);
    for item in &mut select.projection {
        match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                resolve_root(expr, scopes, naming)
            }
            SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(name),
                options,
            ) => {
                if let [ObjectNamePart::Identifier(qualifier)] = name.0.as_slice()
                    && let Some((depth, canonical)) = lookup(scopes, &qualifier.value)
                {
                    if depth == 0 && single_binding {
                        *item = SelectItem::Wildcard(options.clone());
                    } else {
                        *name = ObjectName::from(vec![Ident::new(canonical)]);
                    }
                }
            }
            _ => {}
        }
    }
    for table in &mut select.from {
        resolve_join_constraints(table, scopes, naming);
    }
    if let Some(selection) = &mut select.selection {
        resolve_root(selection, scopes, naming);
    }
    if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for expr in exprs {
            resolve_root(expr, scopes, naming);
        }
    }
    if let Some(having) = &mut select.having {
        resolve_root(having, scopes, naming);
    }
}

fn resolve_join_constraints(
    table: &mut TableWithJoins,
    scopes: &mut Vec<Scope>,
    naming: &mut AliasNaming,
) {
    if let TableFactor::NestedJoin {
        table_with_joins, ..
    } = &mut table.relation
    {
        resolve_join_constraints(table_with_joins, scopes, naming);
    }
    for join in &mut table.joins {
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = &mut join.relation
        {
            resolve_join_constraints(table_with_joins, scopes, naming);
        }
        if let Some(sqlparser::ast::JoinConstraint::On(expr)) =
            join_constraint(&mut join.join_operator)
        {
            resolve_root(expr, scopes, naming);
        }
    }
}

/// The constraint of a join operator, when it has one.
fn join_constraint(operator: &mut JoinOperator) -> Option<&mut sqlparser::ast::JoinConstraint> {
    match operator {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c) => Some(c),
        JoinOperator::AsOf { constraint, .. } => Some(constraint),
        _ => None,
    }
}

fn resolve_order_by(order_by: &mut OrderBy, scopes: &mut Vec<Scope>, naming: &mut AliasNaming) {
    if let OrderByKind::Expressions(items) = &mut order_by.kind {
        for item in items {
            resolve_root(&mut item.expr, scopes, naming);
        }
    }
}

/// Resolves one clause-level expression: its own parentheses go, then qualifiers are rewritten
/// and nested queries resolved.
fn resolve_root(expr: &mut Expr, scopes: &mut Vec<Scope>, naming: &mut AliasNaming) {
    strip_outer_parentheses(expr);
    let _ = expr.visit(&mut Resolver::new(scopes, naming));
}

/// Finds `qualifier` in the scopes, innermost first: (how many scopes out, canonical name).
fn lookup(scopes: &[Scope], qualifier: &str) -> Option<(usize, String)> {
    let visible = qualifier.to_lowercase();
    scopes
        .iter()
        .rev()
        .enumerate()
        .find_map(|(depth, scope)| scope.lookup(&visible).map(|b| (depth, b.canonical.clone())))
}

/// Rewrites `alias.column` references of one expression (not of the queries nested in it, which
/// it resolves in their own scopes as it meets them).
struct Resolver<'a> {
    scopes: &'a mut Vec<Scope>,
    naming: &'a mut AliasNaming,
    /// How many nested queries the traversal is inside; 0 = the expression's own level.
    nested_queries: usize,
}

impl<'a> Resolver<'a> {
    fn new(scopes: &'a mut Vec<Scope>, naming: &'a mut AliasNaming) -> Self {
        Resolver {
            scopes,
            naming,
            nested_queries: 0,
        }
    }
}

impl VisitorMut for Resolver<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if self.nested_queries == 0 {
            // A subquery in an expression: nothing reads its column names.
            resolve_query(query, self.scopes, self.naming, true);
        }
        self.nested_queries += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.nested_queries -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.nested_queries > 0 {
            return ControlFlow::Continue(());
        }
        if let Expr::CompoundIdentifier(parts) = expr
            && let [qualifier, column] = parts.as_slice()
            && let Some((depth, canonical)) = lookup(self.scopes, &qualifier.value)
        {
            let single_binding = self
                .scopes
                .last()
                .is_some_and(|scope| scope.bindings.len() == 1);
            *expr = if depth == 0 && single_binding {
                Expr::Identifier(column.clone())
            } else {
                Expr::CompoundIdentifier(vec![Ident::new(canonical), column.clone()])
            };
        }
        ControlFlow::Continue(())
    }
}

/// Drops the select-list aliases nothing else needs and substitutes the aliased expressions for
/// references in `ORDER BY`, `GROUP BY` and `HAVING`.
fn drop_select_aliases(select: &mut Select, order_by: Option<&mut OrderBy>) {
    if !select
        .projection
        .iter()
        .any(|item| matches!(item, SelectItem::ExprWithAlias { .. }))
    {
        return;
    }
    // Names the WHERE clause and the other select items use: an alias among them stays
    // (SQLite lets both refer to select-list aliases).
    let mut in_where = NameCollector::default();
    if let Some(selection) = &select.selection {
        let _ = selection.visit(&mut in_where);
    }
    let in_items: Vec<NameCollector> = select
        .projection
        .iter()
        .map(|item| {
            let mut names = NameCollector::default();
            let _ = item.visit(&mut names);
            names
        })
        .collect();
    let mut substitutions = HashMap::new();
    for (position, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::ExprWithAlias { expr, alias } = item {
            let name = alias.value.to_lowercase();
            let used_elsewhere = in_where.names.contains(&name)
                || in_items
                    .iter()
                    .enumerate()
                    .any(|(other, names)| other != position && names.names.contains(&name));
            if used_elsewhere {
                continue;
            }
            substitutions.insert(name, expr.clone());
            *item = SelectItem::UnnamedExpr(expr.clone());
        }
    }
    if substitutions.is_empty() {
        return;
    }
    let mut substitute = AliasSubstitution {
        substitutions: &substitutions,
        nested_queries: 0,
    };
    if let Some(order_by) = order_by {
        let _ = order_by.visit(&mut substitute);
    }
    if let GroupByExpr::Expressions(exprs, _) = &mut select.group_by {
        for expr in exprs {
            let _ = expr.visit(&mut substitute);
        }
    }
    if let Some(having) = &mut select.having {
        let _ = having.visit(&mut substitute);
    }
}

/// Collects the lower-cased bare identifiers of an AST fragment, nested queries included.
#[derive(Default)]
struct NameCollector {
    names: HashSet<String>,
}

impl Visitor for NameCollector {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Identifier(ident) = expr {
            self.names.insert(ident.value.to_lowercase());
        }
        ControlFlow::Continue(())
    }
}

/// Replaces bare references to dropped select-list aliases by the aliased expression, at the
/// clause's own level only (nested queries have their own names).
struct AliasSubstitution<'a> {
    substitutions: &'a HashMap<String, Expr>,
    nested_queries: usize,
}

impl VisitorMut for AliasSubstitution<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.nested_queries += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        self.nested_queries -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.nested_queries == 0
            && let Expr::Identifier(ident) = expr
            && let Some(replacement) = self.substitutions.get(&ident.value.to_lowercase())
        {
            *expr = replacement.clone();
        }
        ControlFlow::Continue(())
    }
}

// ---------------------------------------------------------------------------------------------
// Pass 2: local canonical forms (identifiers, literals, parentheses, keyword variants).
// ---------------------------------------------------------------------------------------------

/// The context-free rewrites, applied everywhere in the statement.
struct Canonicalizer {
    dialect: Dialect,
}

impl VisitorMut for Canonicalizer {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // Before the children are visited, so the quoted name has not been lower-cased yet.
        if self.dialect == Dialect::Sqlite {
            double_quoted_operands_to_strings(expr);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        remove_redundant_parentheses(expr);
        ControlFlow::Continue(())
    }

    fn post_visit_ident(&mut self, ident: &mut Ident) -> ControlFlow<()> {
        canonical_ident(ident, self.dialect);
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if matches!(select.distinct, Some(Distinct::All)) {
            select.distinct = None;
        }
        for table in &mut select.from {
            canonical_joins(table);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let alias = match factor {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => alias,
            _ => return ControlFlow::Continue(()),
        };
        if let Some(alias) = alias {
            alias.explicit = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_order_by_expr(&mut self, item: &mut OrderByExpr) -> ControlFlow<()> {
        if matches!(item.options.sort, Some(OrderBySort::Asc)) {
            item.options.sort = None;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        if let Value::DoubleQuotedString(text) = &value.value {
            value.value = Value::SingleQuotedString(text.clone());
        }
        ControlFlow::Continue(())
    }
}

fn canonical_joins(table: &mut TableWithJoins) {
    if let TableFactor::NestedJoin {
        table_with_joins, ..
    } = &mut table.relation
    {
        canonical_joins(table_with_joins);
    }
    for join in &mut table.joins {
        if let TableFactor::NestedJoin {
            table_with_joins, ..
        } = &mut join.relation
        {
            canonical_joins(table_with_joins);
        }
        let operator = std::mem::replace(&mut join.join_operator, JoinOperator::CrossApply);
        join.join_operator = match operator {
            JoinOperator::Inner(constraint) => JoinOperator::Join(constraint),
            JoinOperator::LeftOuter(constraint) => JoinOperator::Left(constraint),
            JoinOperator::RightOuter(constraint) => JoinOperator::Right(constraint),
            other => other,
        };
    }
}

/// Lower-cases (unless PostgreSQL keeps the case of a quoted name) and drops quotes the name
/// does not need.
fn canonical_ident(ident: &mut Ident, dialect: Dialect) {
    let quoted = ident.quote_style.is_some();
    if !(quoted && dialect == Dialect::Postgres) {
        ident.value = ident.value.to_lowercase();
    }
    // A bare name the parser accepted stays bare; a quoted one loses its quotes unless it is a
    // reserved word or not a plain identifier.
    let bare = is_plain_identifier(&ident.value) && !(quoted && is_reserved_word(&ident.value));
    ident.quote_style = if bare { None } else { Some('"') };
}

fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_reserved_word(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ALL_KEYWORDS
        .binary_search(&upper.as_str())
        .ok()
        .and_then(|index| ALL_KEYWORDS_INDEX.get(index))
        .is_some_and(|keyword| {
            RESERVED_FOR_COLUMN_ALIAS.contains(keyword)
                || RESERVED_FOR_TABLE_ALIAS.contains(keyword)
                || RESERVED_FOR_IDENTIFIER.contains(keyword)
        })
}

/// SQLite reads `"x"` as a string when no column is named x; in the value positions below that
/// is how benchmark SQL uses it.
fn double_quoted_operands_to_strings(expr: &mut Expr) {
    match expr {
        Expr::BinaryOp { op, right, .. } if is_comparison(op) => double_quoted_to_string(right),
        Expr::Like { pattern, .. } | Expr::ILike { pattern, .. } => {
            double_quoted_to_string(pattern)
        }
        Expr::InList { list, .. } => list.iter_mut().for_each(double_quoted_to_string),
        Expr::Between { low, high, .. } => {
            double_quoted_to_string(low);
            double_quoted_to_string(high);
        }
        _ => {}
    }
}

fn double_quoted_to_string(expr: &mut Expr) {
    if let Expr::Identifier(ident) = expr
        && ident.quote_style == Some('"')
    {
        *expr = Expr::value(Value::SingleQuotedString(ident.value.clone()));
    }
}

pub(crate) fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq
            | BinaryOperator::NotEq
            | BinaryOperator::Lt
            | BinaryOperator::LtEq
            | BinaryOperator::Gt
            | BinaryOperator::GtEq
    )
}

/// Removes the parentheses around a clause-level expression (`WHERE (a = 1)`).
fn strip_outer_parentheses(expr: &mut Expr) {
    while let Expr::Nested(inner) = expr {
        let inner = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
        *expr = inner;
    }
}

/// Binding strength as sqlparser parses it (higher binds tighter); `None` for forms whose
/// parentheses this module never removes around or inside.
fn precedence(expr: &Expr) -> Option<u8> {
    Some(match expr {
        Expr::BinaryOp { op, .. } => match op {
            BinaryOperator::Or => 5,
            BinaryOperator::And => 10,
            op if is_comparison(op) => 20,
            BinaryOperator::Plus | BinaryOperator::Minus => 30,
            BinaryOperator::Multiply | BinaryOperator::Divide | BinaryOperator::Modulo => 40,
            _ => return None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => 15,
        Expr::IsNull(_) | Expr::IsNotNull(_) => 17,
        Expr::Like { .. } | Expr::ILike { .. } => 19,
        Expr::InList { .. } | Expr::InSubquery { .. } | Expr::Between { .. } => 20,
        expr if is_atom(expr) => u8::MAX,
        _ => return None,
    })
}

/// Expressions that print as one unit, so parentheses around them never matter.
fn is_atom(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_)
            | Expr::Function(_)
            | Expr::Nested(_)
            | Expr::Subquery(_)
            | Expr::Cast { .. }
            | Expr::Case { .. }
            | Expr::Exists { .. }
            | Expr::TypedString(_)
    )
}

fn is_left_associative(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Or
            | BinaryOperator::And
            | BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo
    )
}

/// Unwraps `child` when it is parenthesised and the parentheses are implied by precedence:
/// `needed` is the strength the bare child must exceed (or reach, with `reach_is_enough`).
fn unwrap_if_implied(child: &mut Expr, needed: u8, reach_is_enough: bool) {
    if let Expr::Nested(inner) = child
        && let Some(strength) = precedence(inner)
        && (strength > needed || (reach_is_enough && strength == needed))
    {
        strip_outer_parentheses(child);
    }
}

/// Children are canonical already (post-order), so only this node's direct children are
/// inspected.
fn remove_redundant_parentheses(expr: &mut Expr) {
    if let Expr::Nested(inner) = expr
        && is_atom(inner)
    {
        strip_outer_parentheses(expr);
        return;
    }
    let strength = precedence(expr);
    match expr {
        Expr::BinaryOp { left, op, right } => {
            if let Some(strength) = strength {
                unwrap_if_implied(left, strength, is_left_associative(op));
                unwrap_if_implied(right, strength, false);
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: operand,
        } => unwrap_if_implied(operand, 15, false),
        Expr::Function(function) => {
            if let FunctionArguments::List(list) = &mut function.args {
                for arg in &mut list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)) = arg {
                        strip_outer_parentheses(arg);
                    }
                }
            }
        }
        Expr::InList { list, .. } => list.iter_mut().for_each(strip_outer_parentheses),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(sql: &str) -> String {
        normalize(sql, Dialect::Sqlite).unwrap()
    }

    fn assert_same(a: &str, b: &str) {
        assert_eq!(norm(a), norm(b), "\n{a}\n{b}");
    }

    fn assert_different(a: &str, b: &str) {
        assert_ne!(norm(a), norm(b), "\n{a}\n{b}");
    }

    #[test]
    fn brief_example_alias_resolved_to_table_name() {
        assert_same(
            "select T1.name from singer as T1",
            "SELECT singer.name FROM singer",
        );
        assert_eq!(
            norm("select T1.name from singer as T1"),
            "SELECT name FROM singer"
        );
    }

    #[test]
    fn case_whitespace_and_as_do_not_matter() {
        assert_same(
            "select  Name ,Country\n from   SINGER where Age>20",
            "SELECT name, country FROM singer WHERE age > 20",
        );
        assert_same(
            "SELECT t1.name FROM singer t1 JOIN concert t2 ON t1.id = t2.sid",
            "select A.name from singer as A inner join concert as B on A.id = B.sid",
        );
        assert_eq!(
            norm("SELECT t1.name FROM singer t1 JOIN concert t2 ON t1.id = t2.sid"),
            "SELECT singer.name FROM singer JOIN concert ON singer.id = concert.sid"
        );
    }

    #[test]
    fn quotes_on_identifiers_do_not_matter() {
        assert_same("SELECT \"Name\" FROM `singer`", "SELECT name FROM singer");
        assert_same("SELECT [name] FROM singer", "SELECT name FROM singer");
        // A name that needs its quotes keeps them.
        assert_eq!(
            norm("SELECT \"Home Town\" FROM t"),
            "SELECT \"home town\" FROM t"
        );
    }

    #[test]
    fn double_quoted_strings_in_value_positions_are_literals() {
        assert_same(
            "SELECT * FROM singer WHERE name = \"Bob\"",
            "SELECT * FROM singer WHERE name = 'Bob'",
        );
        assert_same(
            "SELECT * FROM t WHERE a LIKE \"%x%\" OR b IN (\"p\", \"q\")",
            "SELECT * FROM t WHERE a LIKE '%x%' OR b IN ('p', 'q')",
        );
        // Literal case is kept: SQLite `=` on text is case-sensitive.
        assert_different(
            "SELECT * FROM singer WHERE name = 'Bob'",
            "SELECT * FROM singer WHERE name = 'bob'",
        );
    }

    #[test]
    fn redundant_parentheses_go_needed_ones_stay() {
        assert_same(
            "SELECT * FROM t WHERE (a = 1) AND ((b = 2))",
            "SELECT * FROM t WHERE a = 1 AND b = 2",
        );
        assert_same(
            "SELECT * FROM t WHERE (a = 1 OR b = 2)",
            "SELECT * FROM t WHERE a = 1 OR b = 2",
        );
        assert_same("SELECT count((x)) FROM t", "SELECT count(x) FROM t");
        assert_same("SELECT (a + b) * c FROM t", "SELECT (a + b) * c FROM t");
        assert_different("SELECT (a + b) * c FROM t", "SELECT a + b * c FROM t");
        assert_different(
            "SELECT * FROM t WHERE a = 1 AND (b = 2 OR c = 3)",
            "SELECT * FROM t WHERE a = 1 AND b = 2 OR c = 3",
        );
        assert_same("SELECT (a * b) + c FROM t", "SELECT a * b + c FROM t");
        assert_different("SELECT a - (b - c) FROM t", "SELECT a - b - c FROM t");
        assert_same("SELECT (a - b) - c FROM t", "SELECT a - b - c FROM t");
    }

    #[test]
    fn select_list_aliases_are_dropped_and_substituted() {
        assert_same(
            "SELECT count(*) AS cnt, city FROM t GROUP BY city ORDER BY cnt DESC",
            "SELECT COUNT(*), city FROM t GROUP BY city ORDER BY count(*) DESC",
        );
        assert_same("SELECT name AS n FROM singer", "SELECT name FROM singer");
    }

    #[test]
    fn aliases_other_queries_read_are_kept_but_renamed() {
        let a = "SELECT T.c FROM (SELECT count(*) AS c FROM singer) AS T";
        let b = "select x.c from (select count(*) as c from singer) x";
        assert_same(a, b);
        assert_eq!(
            norm(a),
            "SELECT c FROM (SELECT count(*) AS c FROM singer) AS derived_1"
        );
    }

    #[test]
    fn self_joins_get_positional_aliases() {
        let a = "SELECT a.name FROM person AS a JOIN person AS b ON a.boss = b.id WHERE b.age > 3";
        let b = "SELECT p.name FROM person p JOIN person q ON p.boss = q.id WHERE q.age > 3";
        assert_same(a, b);
        assert_eq!(
            norm(a),
            "SELECT person_1.name FROM person AS person_1 JOIN person AS person_2 \
             ON person_1.boss = person_2.id WHERE person_2.age > 3"
        );
        // Swapping which alias plays which role is a different query.
        assert_different(
            a,
            "SELECT b.name FROM person AS a JOIN person AS b ON a.boss = b.id WHERE b.age > 3",
        );
    }

    #[test]
    fn correlated_subquery_on_the_same_table_stays_correct() {
        let sql = "SELECT T1.name FROM singer AS T1 WHERE T1.age > \
                   (SELECT avg(T2.age) FROM singer AS T2 WHERE T2.country = T1.country)";
        assert_eq!(
            norm(sql),
            // Inside, bare names read the inner table and `singer.` the outer one.
            "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer AS singer_1 \
             WHERE country = singer.country)"
        );
    }

    #[test]
    fn uncorrelated_subquery_on_the_same_table_needs_no_alias() {
        let sql = "SELECT T1.name FROM singer AS T1 WHERE T1.age > (SELECT avg(T2.age) FROM singer AS T2)";
        assert_eq!(
            norm(sql),
            "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)"
        );
    }

    #[test]
    fn keyword_variants_are_unified() {
        assert_same(
            "SELECT a FROM t LEFT OUTER JOIN u ON t.k = u.k ORDER BY a ASC",
            "SELECT a FROM t LEFT JOIN u ON t.k = u.k ORDER BY a",
        );
        assert_same(
            "SELECT * FROM t WHERE a != 1",
            "SELECT * FROM t WHERE a <> 1",
        );
        assert_same("SELECT ALL a FROM t", "SELECT a FROM t");
    }

    #[test]
    fn different_queries_stay_different() {
        assert_different("SELECT name FROM singer", "SELECT name FROM concert");
        assert_different(
            "SELECT name FROM singer",
            "SELECT DISTINCT name FROM singer",
        );
        assert_different(
            "SELECT name FROM singer ORDER BY age",
            "SELECT name FROM singer ORDER BY age DESC",
        );
        assert_different("SELECT * FROM t LIMIT 1", "SELECT * FROM t LIMIT 2");
    }

    #[test]
    fn normal_form_is_a_fixed_point() {
        for sql in [
            "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid WHERE T2.year = 2014",
            "SELECT a.name FROM person AS a JOIN person AS b ON a.boss = b.id",
            "SELECT count(*) AS c FROM t GROUP BY k HAVING c > 1",
            "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)",
            "SELECT x FROM (SELECT a AS x FROM t) AS sub UNION SELECT b FROM u",
        ] {
            let once = norm(sql);
            assert_eq!(norm(&once), once, "{sql}");
        }
    }

    #[test]
    fn postgres_keeps_the_case_of_quoted_names() {
        let pg = |sql| normalize(sql, Dialect::Postgres).unwrap();
        assert_eq!(pg("SELECT \"Name\" FROM T"), "SELECT \"Name\" FROM t");
        assert_eq!(pg("SELECT \"name\" FROM t"), "SELECT name FROM t");
    }

    #[test]
    fn reserved_words_keep_their_quotes() {
        assert_eq!(norm("SELECT \"order\" FROM t"), "SELECT \"order\" FROM t");
    }
}
