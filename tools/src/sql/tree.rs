//! [`SqlTree`]: a labelled ordered tree built from the normalised AST, the common currency of
//! containment, node sets, tree edit distance and LearNAT's similarities.
//!
//! Shape (one node per clause, expression, identifier and literal):
//!
//! ```text
//! query
//! ├─ select | select distinct      children: the select items
//! ├─ from                          children: table:<name> | subquery(query), and one
//! │                                `on` (or `left on`, `right on`, …) per join condition
//! ├─ where                         child: `and` with the conjuncts as children
//! ├─ group_by                      children: the keys
//! ├─ having                        child: `and` with the conjuncts
//! ├─ order_by                      children: asc | desc, each with the key as child
//! └─ limit / offset                child: the value
//! ```
//!
//! A set operation is a `union` / `union all` / `intersect` / `except` node under `query`, with a
//! `query` per branch; `WITH` is a `with` node of `cte:<name>` nodes. Expressions: `and` / `or`
//! are n-ary (flattened); other operators are labelled by their symbol (`=`, `>`, `+`, `like`,
//! `not in`, `between`, `is null`, …) with the operands as children; functions are
//! `function:<name>` (`function:count distinct` with `DISTINCT`); columns are
//! `column:<table>.<name>` — the table, not its alias (`subquery` for a derived table), filled
//! in when the column is qualified or the `SELECT` reads a single table, and left out
//! (`column:<name>`) when the schema would be needed to know it; literals are
//! `value:<literal>`; `*` is `*`. Because the tree is built after [`super::normalize`], case,
//! aliases, quoting and redundant parentheses do not show in it.

use std::fmt;

use sqlparser::ast::{
    Distinct, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, JoinConstraint,
    JoinOperator, LimitClause, ObjectNamePart, OrderByKind, Query, Select, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, SetOperator, SetQuantifier, TableFactor,
    TableWithJoins,
};

use super::normalize::normalize_query;
use super::parse_query;
use crate::database::Dialect;
use crate::error::ToolsResult;

/// One node of a [`SqlTree`]: its label and the ids of its children, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    /// What the node is: `query`, `where`, `=`, `column:singer.name`, `value:30`, ….
    pub label: String,
    /// Children ids (indices into [`SqlTree::nodes`]), left to right.
    pub children: Vec<usize>,
}

/// A labelled ordered tree of one normalised query (see the module documentation for its
/// shape). Nodes live in an arena; [`SqlTree::root`] is the `query` node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTree {
    nodes: Vec<TreeNode>,
    root: usize,
}

impl SqlTree {
    /// Number of nodes.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Id of the root node.
    pub fn root(&self) -> usize {
        self.root
    }

    /// All nodes; a node's id is its index.
    pub fn nodes(&self) -> &[TreeNode] {
        &self.nodes
    }

    /// The label of node `id`.
    ///
    /// Panics when `id` is not a node of this tree (ids come from this tree's own methods).
    pub fn label(&self, id: usize) -> &str {
        &self.nodes[id].label
    }

    /// The children of node `id`, left to right.
    ///
    /// Panics when `id` is not a node of this tree.
    pub fn children(&self, id: usize) -> &[usize] {
        &self.nodes[id].children
    }

    /// Node ids in post-order (children before their parent, left to right).
    pub fn postorder(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.nodes.len());
        // Iterative, so deep expression chains cannot overflow the stack.
        let mut stack = vec![(self.root, 0usize)];
        while let Some((node, next_child)) = stack.pop() {
            match self.nodes[node].children.get(next_child) {
                Some(&child) => {
                    stack.push((node, next_child + 1));
                    stack.push((child, 0));
                }
                None => order.push(node),
            }
        }
        order
    }

    /// Ids of the nodes in the subtree rooted at `id` (itself included), in pre-order.
    pub fn subtree(&self, id: usize) -> Vec<usize> {
        let mut ids = Vec::new();
        let mut stack = vec![id];
        while let Some(node) = stack.pop() {
            ids.push(node);
            stack.extend(self.nodes[node].children.iter().rev());
        }
        ids
    }

    /// A tree from nodes given as (label, children ids); the root is the node no other node
    /// lists as a child. For hand-made trees in tests and callers that build their own.
    ///
    /// Fails with `None` when a child id is out of range, a node has two parents, or there is
    /// not exactly one root.
    pub fn from_nodes(nodes: Vec<TreeNode>) -> Option<SqlTree> {
        let mut has_parent = vec![false; nodes.len()];
        for node in &nodes {
            for &child in &node.children {
                if *has_parent.get(child)? {
                    return None;
                }
                has_parent[child] = true;
            }
        }
        let mut roots = (0..nodes.len()).filter(|&id| !has_parent[id]);
        let root = roots.next()?;
        if roots.next().is_some() {
            return None;
        }
        let tree = SqlTree { nodes, root };
        // Every node must hang under the root (no cycles).
        (tree.subtree(root).len() == tree.nodes.len()).then_some(tree)
    }

    /// A tree from a compact bracket notation, `label(child, child(grandchild))`, for tests and
    /// examples: labels are any text without `(`, `)` or `,` (surrounding spaces are trimmed).
    ///
    /// Fails with `None` on unbalanced brackets or an empty label.
    pub fn from_brackets(text: &str) -> Option<SqlTree> {
        let mut builder = TreeBuilder::default();
        let mut chars = text.chars().peekable();
        let root = parse_bracket_node(&mut chars, &mut builder)?;
        if chars.any(|c| !c.is_whitespace()) {
            return None;
        }
        Some(builder.finish(root))
    }

    fn fmt_node(&self, f: &mut fmt::Formatter<'_>, id: usize, depth: usize) -> fmt::Result {
        writeln!(
            f,
            "{:indent$}{}",
            "",
            self.nodes[id].label,
            indent = depth * 2
        )?;
        for &child in &self.nodes[id].children {
            self.fmt_node(f, child, depth + 1)?;
        }
        Ok(())
    }
}

/// One label per line, children indented by two spaces.
impl fmt::Display for SqlTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_node(f, self.root, 0)
    }
}

fn parse_bracket_node(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    builder: &mut TreeBuilder,
) -> Option<usize> {
    let mut label = String::new();
    while let Some(&c) = chars.peek() {
        if matches!(c, '(' | ')' | ',') {
            break;
        }
        label.push(c);
        chars.next();
    }
    let label = label.trim();
    if label.is_empty() {
        return None;
    }
    let mut children = Vec::new();
    if chars.peek() == Some(&'(') {
        chars.next();
        loop {
            children.push(parse_bracket_node(chars, builder)?);
            match chars.next()? {
                ',' => continue,
                ')' => break,
                _ => return None,
            }
        }
    }
    Some(builder.node(label, children))
}

/// Parses `sql` (exactly one query), normalises it and builds its tree.
///
/// ```
/// use learnat_tools::Dialect;
/// use learnat_tools::sql::sql_tree;
/// let tree = sql_tree("SELECT T1.name FROM singer AS T1 WHERE T1.age > 30", Dialect::Sqlite)?;
/// assert_eq!(tree.size(), 10);
/// assert_eq!(tree.label(tree.root()), "query");
/// # Ok::<(), learnat_tools::ToolsError>(())
/// ```
pub fn sql_tree(sql: &str, dialect: Dialect) -> ToolsResult<SqlTree> {
    let mut query = parse_query(sql, dialect)?;
    normalize_query(&mut query, dialect);
    Ok(sql_tree_from_query(&query))
}

/// Builds the tree of an already parsed query as it is (normalise it first for the
/// spelling-independent tree that [`sql_tree`] gives).
pub fn sql_tree_from_query(query: &Query) -> SqlTree {
    let mut builder = TreeBuilder::default();
    let root = builder.query(query, &mut Vec::new());
    builder.finish(root)
}

#[derive(Default)]
struct TreeBuilder {
    nodes: Vec<TreeNode>,
}

/// The tables one `SELECT` reads: (the name its columns use as qualifier, the name the tree
/// labels them with: the table name, or `subquery` for a derived table).
type Bindings = Vec<(String, String)>;

impl TreeBuilder {
    fn finish(self, root: usize) -> SqlTree {
        SqlTree {
            nodes: self.nodes,
            root,
        }
    }

    fn node(&mut self, label: impl Into<String>, children: Vec<usize>) -> usize {
        self.nodes.push(TreeNode {
            label: label.into(),
            children,
        });
        self.nodes.len() - 1
    }

    fn leaf(&mut self, label: impl Into<String>) -> usize {
        self.node(label, Vec::new())
    }

    /// `scopes` holds the bindings of the enclosing `SELECT`s, innermost last.
    fn query(&mut self, query: &Query, scopes: &mut Vec<Bindings>) -> usize {
        let mut clauses = Vec::new();
        if let Some(with) = &query.with {
            let ctes = with
                .cte_tables
                .iter()
                .map(|cte| {
                    let body = self.query(&cte.query, scopes);
                    self.node(format!("cte:{}", cte.alias.name.value), vec![body])
                })
                .collect();
            clauses.push(self.node("with", ctes));
        }
        match query.body.as_ref() {
            SetExpr::Select(select) => {
                scopes.push(bindings(select));
                self.select_clauses(select, scopes, &mut clauses);
                self.order_and_limit(query, scopes, &mut clauses);
                scopes.pop();
            }
            body => {
                clauses.push(self.set_expr(body, scopes));
                self.order_and_limit(query, scopes, &mut clauses);
            }
        }
        self.node("query", clauses)
    }

    fn set_expr(&mut self, body: &SetExpr, scopes: &mut Vec<Bindings>) -> usize {
        match body {
            SetExpr::Select(select) => {
                scopes.push(bindings(select));
                let mut clauses = Vec::new();
                self.select_clauses(select, scopes, &mut clauses);
                scopes.pop();
                self.node("query", clauses)
            }
            SetExpr::Query(query) => self.query(query, scopes),
            SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let left = self.set_expr(left, scopes);
                let right = self.set_expr(right, scopes);
                let op = match op {
                    SetOperator::Union => "union",
                    SetOperator::Intersect => "intersect",
                    SetOperator::Except | SetOperator::Minus => "except",
                };
                let label = match set_quantifier {
                    SetQuantifier::All => format!("{op} all"),
                    _ => op.to_string(),
                };
                self.node(label, vec![left, right])
            }
            SetExpr::Values(values) => {
                let rows = values
                    .rows
                    .iter()
                    .map(|row| {
                        let items = row.iter().map(|e| self.expr(e, scopes)).collect();
                        self.node("row", items)
                    })
                    .collect();
                self.node("values", rows)
            }
            other => self.leaf(other.to_string()),
        }
    }

    fn select_clauses(
        &mut self,
        select: &Select,
        scopes: &mut Vec<Bindings>,
        clauses: &mut Vec<usize>,
    ) {
        let items = select
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                    self.expr(expr, scopes)
                }
                SelectItem::ExprWithAliases { expr, .. } => self.expr(expr, scopes),
                SelectItem::Wildcard(_) => self.leaf("*"),
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    _,
                ) => self.leaf(format!("{name}.*")),
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(expr), _) => {
                    let inner = self.expr(expr, scopes);
                    self.node(".*", vec![inner])
                }
            })
            .collect();
        let select_label = match &select.distinct {
            Some(Distinct::Distinct | Distinct::On(_)) => "select distinct",
            _ => "select",
        };
        clauses.push(self.node(select_label, items));

        if !select.from.is_empty() {
            let mut children = Vec::new();
            for table in &select.from {
                self.table_with_joins(table, scopes, &mut children);
            }
            clauses.push(self.node("from", children));
        }
        if let Some(selection) = &select.selection {
            let conjuncts = self.conjunction(selection, scopes);
            clauses.push(self.node("where", vec![conjuncts]));
        }
        if let GroupByExpr::Expressions(keys, _) = &select.group_by
            && !keys.is_empty()
        {
            let keys = keys.iter().map(|key| self.expr(key, scopes)).collect();
            clauses.push(self.node("group_by", keys));
        }
        if let Some(having) = &select.having {
            let conjuncts = self.conjunction(having, scopes);
            clauses.push(self.node("having", vec![conjuncts]));
        }
    }

    fn order_and_limit(
        &mut self,
        query: &Query,
        scopes: &mut Vec<Bindings>,
        clauses: &mut Vec<usize>,
    ) {
        if let Some(order_by) = &query.order_by
            && let OrderByKind::Expressions(items) = &order_by.kind
        {
            let keys = items
                .iter()
                .map(|item| {
                    let key = self.expr(&item.expr, scopes);
                    let direction = match item.options.sort {
                        Some(sqlparser::ast::OrderBySort::Desc) => "desc",
                        _ => "asc",
                    };
                    self.node(direction, vec![key])
                })
                .collect();
            clauses.push(self.node("order_by", keys));
        }
        match &query.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => {
                if let Some(limit) = limit {
                    let value = self.expr(limit, scopes);
                    clauses.push(self.node("limit", vec![value]));
                }
                if let Some(offset) = offset {
                    let value = self.expr(&offset.value, scopes);
                    clauses.push(self.node("offset", vec![value]));
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                let value = self.expr(limit, scopes);
                clauses.push(self.node("limit", vec![value]));
                let value = self.expr(offset, scopes);
                clauses.push(self.node("offset", vec![value]));
            }
            None => {}
        }
    }

    fn table_with_joins(
        &mut self,
        table: &TableWithJoins,
        scopes: &mut Vec<Bindings>,
        out: &mut Vec<usize>,
    ) {
        self.table_factor(&table.relation, "", scopes, out);
        for join in &table.joins {
            let (kind, constraint) = join_kind(&join.join_operator);
            self.table_factor(&join.relation, kind, scopes, out);
            if let Some(JoinConstraint::On(condition)) = constraint {
                let conjuncts = self.conjunction(condition, scopes);
                let label = if kind.is_empty() {
                    "on".to_string()
                } else {
                    format!("{kind} on")
                };
                out.push(self.node(label, vec![conjuncts]));
            }
        }
    }

    fn table_factor(
        &mut self,
        factor: &TableFactor,
        join_kind: &str,
        scopes: &mut Vec<Bindings>,
        out: &mut Vec<usize>,
    ) {
        let prefix = if join_kind.is_empty() {
            String::new()
        } else {
            format!("{join_kind} ")
        };
        match factor {
            TableFactor::Table { name, .. } => {
                out.push(self.leaf(format!("{prefix}table:{}", table_name(name))));
            }
            TableFactor::Derived { subquery, .. } => {
                // A derived table cannot see the FROM it sits in.
                let inner_scope = scopes.pop();
                let body = self.query(subquery, scopes);
                scopes.extend(inner_scope);
                out.push(self.node(format!("{prefix}subquery"), vec![body]));
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins, scopes, out),
            other => out.push(self.leaf(format!("{prefix}{other}"))),
        }
    }

    /// A condition as an `and` node of its conjuncts (one child when it is not a conjunction),
    /// so a step with fewer conjuncts embeds in one with more.
    fn conjunction(&mut self, condition: &Expr, scopes: &mut Vec<Bindings>) -> usize {
        match self.expr(condition, scopes) {
            id if self.nodes[id].label == "and" => id,
            id => self.node("and", vec![id]),
        }
    }

    fn flatten_into(
        &mut self,
        expr: &Expr,
        op: &sqlparser::ast::BinaryOperator,
        scopes: &mut Vec<Bindings>,
        out: &mut Vec<usize>,
    ) {
        match expr {
            Expr::BinaryOp {
                left,
                op: inner,
                right,
            } if inner == op => {
                self.flatten_into(left, op, scopes, out);
                self.flatten_into(right, op, scopes, out);
            }
            Expr::Nested(inner) => self.flatten_into(inner, op, scopes, out),
            other => out.push(self.expr(other, scopes)),
        }
    }

    /// Columns are labelled with the table they read, not the alias, so that steps and gold
    /// agree even where normalisation numbered their aliases differently.
    fn column(&mut self, parts: &[sqlparser::ast::Ident], scopes: &[Bindings]) -> usize {
        let label = match parts {
            [column] => match scopes.last().map(Vec::as_slice) {
                Some([(_, only_table)]) => format!("column:{only_table}.{}", column.value),
                _ => format!("column:{}", column.value),
            },
            [qualifier, column] => {
                let table = scopes
                    .iter()
                    .rev()
                    .find_map(|scope| {
                        scope
                            .iter()
                            .find(|(visible, _)| *visible == qualifier.value)
                            .map(|(_, table)| table.as_str())
                    })
                    .unwrap_or(qualifier.value.as_str());
                format!("column:{table}.{}", column.value)
            }
            parts => {
                let names: Vec<&str> = parts.iter().map(|part| part.value.as_str()).collect();
                format!("column:{}", names.join("."))
            }
        };
        self.leaf(label)
    }

    fn expr(&mut self, expr: &Expr, scopes: &mut Vec<Bindings>) -> usize {
        use sqlparser::ast::BinaryOperator;
        match expr {
            Expr::Identifier(ident) => self.column(std::slice::from_ref(ident), scopes),
            Expr::CompoundIdentifier(parts) => self.column(parts, scopes),
            Expr::Value(value) => self.leaf(format!("value:{}", value.value)),
            Expr::Nested(inner) => self.expr(inner, scopes),
            Expr::BinaryOp { op, .. } if matches!(op, BinaryOperator::And | BinaryOperator::Or) => {
                let mut children = Vec::new();
                self.flatten_into(expr, op, scopes, &mut children);
                let label = if *op == BinaryOperator::And {
                    "and"
                } else {
                    "or"
                };
                self.node(label, children)
            }
            Expr::BinaryOp { left, op, right } => {
                let left = self.expr(left, scopes);
                let right = self.expr(right, scopes);
                self.node(op.to_string().to_lowercase(), vec![left, right])
            }
            Expr::UnaryOp { op, expr } => {
                let operand = self.expr(expr, scopes);
                self.node(op.to_string().to_lowercase(), vec![operand])
            }
            Expr::IsNull(inner) => {
                let operand = self.expr(inner, scopes);
                self.node("is null", vec![operand])
            }
            Expr::IsNotNull(inner) => {
                let operand = self.expr(inner, scopes);
                self.node("is not null", vec![operand])
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let mut children = vec![self.expr(expr, scopes)];
                children.extend(list.iter().map(|item| self.expr(item, scopes)));
                self.node(negatable("in", *negated), children)
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let operand = self.expr(expr, scopes);
                let body = self.query(subquery, scopes);
                self.node(negatable("in", *negated), vec![operand, body])
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let children = vec![
                    self.expr(expr, scopes),
                    self.expr(low, scopes),
                    self.expr(high, scopes),
                ];
                self.node(negatable("between", *negated), children)
            }
            Expr::Like {
                negated,
                expr,
                pattern,
                ..
            } => {
                let children = vec![self.expr(expr, scopes), self.expr(pattern, scopes)];
                self.node(negatable("like", *negated), children)
            }
            Expr::ILike {
                negated,
                expr,
                pattern,
                ..
            } => {
                let children = vec![self.expr(expr, scopes), self.expr(pattern, scopes)];
                self.node(negatable("ilike", *negated), children)
            }
            Expr::Subquery(query) => self.query(query, scopes),
            Expr::Exists { subquery, negated } => {
                let body = self.query(subquery, scopes);
                self.node(negatable("exists", *negated), vec![body])
            }
            Expr::Function(function) => {
                let name = function
                    .name
                    .0
                    .iter()
                    .map(|part| match part {
                        ObjectNamePart::Identifier(ident) => ident.value.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(".");
                let mut children = Vec::new();
                let mut distinct = false;
                match &function.args {
                    FunctionArguments::List(list) => {
                        distinct = matches!(
                            list.duplicate_treatment,
                            Some(sqlparser::ast::DuplicateTreatment::Distinct)
                        );
                        for arg in &list.args {
                            let arg = match arg {
                                FunctionArg::Unnamed(arg)
                                | FunctionArg::Named { arg, .. }
                                | FunctionArg::ExprNamed { arg, .. } => arg,
                            };
                            children.push(match arg {
                                FunctionArgExpr::Expr(expr) => self.expr(expr, scopes),
                                FunctionArgExpr::Wildcard
                                | FunctionArgExpr::WildcardWithOptions(_) => self.leaf("*"),
                                FunctionArgExpr::QualifiedWildcard(name) => {
                                    self.leaf(format!("{name}.*"))
                                }
                            });
                        }
                    }
                    FunctionArguments::Subquery(query) => children.push(self.query(query, scopes)),
                    FunctionArguments::None => {}
                }
                let label = if distinct {
                    format!("function:{name} distinct")
                } else {
                    format!("function:{name}")
                };
                self.node(label, children)
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let mut children = Vec::new();
                if let Some(operand) = operand {
                    children.push(self.expr(operand, scopes));
                }
                for when in conditions {
                    let condition = self.expr(&when.condition, scopes);
                    let result = self.expr(&when.result, scopes);
                    children.push(self.node("when", vec![condition, result]));
                }
                if let Some(else_result) = else_result {
                    let result = self.expr(else_result, scopes);
                    children.push(self.node("else", vec![result]));
                }
                self.node("case", children)
            }
            Expr::Cast {
                expr, data_type, ..
            } => {
                let operand = self.expr(expr, scopes);
                self.node(format!("cast:{data_type}").to_lowercase(), vec![operand])
            }
            Expr::Tuple(items) => {
                let children = items.iter().map(|item| self.expr(item, scopes)).collect();
                self.node("tuple", children)
            }
            Expr::Wildcard(_) => self.leaf("*"),
            // Rare forms: one leaf holding the printed expression.
            other => self.leaf(other.to_string()),
        }
    }
}

fn negatable(label: &str, negated: bool) -> String {
    if negated {
        format!("not {label}")
    } else {
        label.to_string()
    }
}

fn table_name(name: &sqlparser::ast::ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(ident)) => ident.value.clone(),
        _ => name.to_string(),
    }
}

/// The names columns of `select` use as qualifiers: the alias when there is one, else the table.
fn bindings(select: &Select) -> Bindings {
    let mut names = Vec::new();
    for table in &select.from {
        collect_bindings(table, &mut names);
    }
    names
}

fn collect_bindings(table: &TableWithJoins, names: &mut Bindings) {
    let factors = std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation));
    for factor in factors {
        match factor {
            TableFactor::Table { name, alias, .. } => {
                let table = table_name(name);
                let visible = alias
                    .as_ref()
                    .map_or_else(|| table.clone(), |alias| alias.name.value.clone());
                names.push((visible, table));
            }
            TableFactor::Derived { alias, .. } => {
                let visible = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_default();
                names.push((visible, "subquery".to_string()));
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => collect_bindings(table_with_joins, names),
            _ => names.push((String::new(), String::new())),
        }
    }
}

/// The tree's name for a join kind (empty for an inner join) and its constraint.
fn join_kind(operator: &JoinOperator) -> (&'static str, Option<&JoinConstraint>) {
    match operator {
        JoinOperator::Join(c) | JoinOperator::Inner(c) => ("", Some(c)),
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => ("left", Some(c)),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("right", Some(c)),
        JoinOperator::FullOuter(c) => ("full", Some(c)),
        JoinOperator::CrossJoin(c) => ("cross", Some(c)),
        JoinOperator::StraightJoin(c) => ("straight", Some(c)),
        JoinOperator::Semi(c) | JoinOperator::LeftSemi(c) | JoinOperator::RightSemi(c) => {
            ("semi", Some(c))
        }
        JoinOperator::Anti(c) | JoinOperator::LeftAnti(c) | JoinOperator::RightAnti(c) => {
            ("anti", Some(c))
        }
        JoinOperator::AsOf { constraint, .. } => ("asof", Some(constraint)),
        _ => ("apply", None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(sql: &str) -> SqlTree {
        sql_tree(sql, Dialect::Sqlite).unwrap()
    }

    #[test]
    fn tree_of_a_simple_query() {
        let t = tree("SELECT T1.name FROM singer AS T1 WHERE T1.age > 30 ORDER BY T1.age DESC");
        assert_eq!(
            t.to_string(),
            "query\n  select\n    column:singer.name\n  from\n    table:singer\n  where\n    and\n      \
             >\n        column:singer.age\n        value:30\n  order_by\n    desc\n      column:singer.age\n"
        );
        assert_eq!(t.size(), 13);
        assert_eq!(t.postorder().len(), 13);
        assert_eq!(*t.postorder().last().unwrap(), t.root());
    }

    #[test]
    fn spelling_does_not_change_the_tree() {
        assert_eq!(
            tree("select T1.name from singer as T1 where T1.age>30 and (T1.country = \"France\")"),
            tree("SELECT name FROM singer WHERE age > 30 AND country = 'France'")
        );
    }

    #[test]
    fn joins_subqueries_and_set_operations() {
        let t = tree(
            "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid \
             WHERE T2.year IN (SELECT max(year) FROM concert) UNION SELECT name FROM band",
        );
        let labels: Vec<&str> = t.nodes().iter().map(|n| n.label.as_str()).collect();
        for expected in [
            "union",
            "table:singer",
            "table:concert",
            "on",
            "column:singer.id",
            "column:concert.sid",
            "in",
            "function:max",
            "column:concert.year",
            "column:band.name",
        ] {
            assert!(labels.contains(&expected), "{expected} missing in\n{t}");
        }
        // Every node but the root has exactly one parent.
        let child_count: usize = t.nodes().iter().map(|n| n.children.len()).sum();
        assert_eq!(child_count, t.size() - 1);
    }

    #[test]
    fn bracket_notation_builds_trees() {
        let t = SqlTree::from_brackets("a(b, c(d))").unwrap();
        assert_eq!(t.size(), 4);
        assert_eq!(t.label(t.root()), "a");
        assert_eq!(t.to_string(), "a\n  b\n  c\n    d\n");
        assert!(SqlTree::from_brackets("a(b").is_none());
        assert!(SqlTree::from_brackets("a(,b)").is_none());
        assert!(SqlTree::from_brackets("a) b").is_none());
    }

    #[test]
    fn from_nodes_rejects_malformed_trees() {
        let node = |label: &str, children: Vec<usize>| TreeNode {
            label: label.to_string(),
            children,
        };
        assert!(SqlTree::from_nodes(vec![node("a", vec![1]), node("b", vec![])]).is_some());
        // Two roots.
        assert!(SqlTree::from_nodes(vec![node("a", vec![]), node("b", vec![])]).is_none());
        // Child out of range.
        assert!(SqlTree::from_nodes(vec![node("a", vec![5])]).is_none());
        // A cycle with no root.
        assert!(SqlTree::from_nodes(vec![node("a", vec![1]), node("b", vec![0])]).is_none());
    }
}
