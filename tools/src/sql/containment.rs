//! Node sets and subtree containment: is a decomposition step's AST part of the gold AST, and
//! which nodes does it add beyond earlier steps.

use std::collections::BTreeMap;

use super::tree::SqlTree;

/// A multiset of canonical subtree signatures, one per node of a tree: the signature of a node
/// is its label followed by its children's signatures in brackets, with the children of
/// order-free nodes (`and`, `or`, `from`, `group_by`) sorted, so `WHERE a AND b` and
/// `WHERE b AND a` give the same set. Two trees have the same node set exactly when they are
/// equal up to that reordering; a node shared by two trees means a whole subtree is shared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSet {
    counts: BTreeMap<String, usize>,
    total: usize,
}

impl NodeSet {
    /// Number of nodes, counting repeats.
    pub fn len(&self) -> usize {
        self.total
    }

    /// True when the set has no nodes.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many times `signature` occurs.
    pub fn count(&self, signature: &str) -> usize {
        self.counts.get(signature).copied().unwrap_or(0)
    }

    /// The distinct signatures with their counts, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.counts
            .iter()
            .map(|(signature, &count)| (signature.as_str(), count))
    }

    /// Size of the multiset intersection (`Σ min(count_a, count_b)`).
    pub fn intersection_size(&self, other: &NodeSet) -> usize {
        self.counts
            .iter()
            .map(|(signature, &count)| count.min(other.count(signature)))
            .sum()
    }

    fn insert(&mut self, signature: String, count: usize) {
        if count > 0 {
            *self.counts.entry(signature).or_insert(0) += count;
            self.total += count;
        }
    }
}

/// Labels whose children's order carries no meaning.
fn is_order_free(label: &str) -> bool {
    matches!(label, "and" | "or" | "from" | "group_by")
}

/// The node set of `tree` (see [`NodeSet`]): one signature per node.
pub fn node_set(tree: &SqlTree) -> NodeSet {
    let mut signatures: Vec<String> = vec![String::new(); tree.size()];
    for node in tree.postorder() {
        let label = tree.label(node);
        let children = tree.children(node);
        signatures[node] = if children.is_empty() {
            label.to_string()
        } else {
            let mut parts: Vec<&str> = children.iter().map(|&c| signatures[c].as_str()).collect();
            if is_order_free(label) {
                parts.sort_unstable();
            }
            format!("{label}({})", parts.join(","))
        };
    }
    let mut set = NodeSet::default();
    for signature in signatures {
        set.insert(signature, 1);
    }
    set
}

/// Whether the decomposition step `step` is contained in `gold`: its `query` root embeds at
/// some `query` node of `gold` (the whole gold query or any subquery of it), where a step node
/// embeds at a gold node when
///
/// - the labels agree (a `column:<name>` without table also agrees with `column:<t>.<name>`, and
///   a step's `select` with the gold's `select distinct`);
/// - for `query`, `from`, `and`, `group_by` and `order_by` nodes: each step child embeds at a
///   different gold child, in any order — the step may lack clauses, tables, join conditions,
///   conjuncts, grouping and ordering keys the gold has, but has none it lacks;
/// - for `select`: each step item embeds at some node anywhere in the gold query being matched
///   — an intermediate step may select a column or aggregate the gold uses in another clause,
///   but not one the gold never touches; a bare `*` (look at the rows) always fits;
/// - for every other node (expressions, `or`, `limit`, literals): the same number of children,
///   embedding pairwise in order — expressions must match exactly.
///
/// Trees are built from normalised SQL, so aliases, case and quoting do not matter.
///
/// ```
/// use learnat_tools::Dialect;
/// use learnat_tools::sql::{ast_contains, sql_tree};
/// let tree = |sql| sql_tree(sql, Dialect::Sqlite).unwrap();
/// let gold = tree("SELECT name FROM singer WHERE age > 30 ORDER BY name");
/// assert!(ast_contains(&tree("select T.name from singer T where T.age > 30"), &gold));
/// assert!(!ast_contains(&tree("SELECT country FROM singer WHERE age > 30"), &gold));
/// ```
pub fn ast_contains(step: &SqlTree, gold: &SqlTree) -> bool {
    let matcher = Matcher { step, gold };
    gold.subtree(gold.root()).into_iter().any(|candidate| {
        gold.label(candidate) == "query" && matcher.embeds(step.root(), candidate, candidate)
    })
}

/// The nodes of `step` that are present in `gold` and not covered by any earlier step:
/// `(N(step) ∩ N(gold)) − ⋃ N(earlier)` on the multisets of [`node_set`] (a signature counts as
/// covered as many times as the earlier step that has it most often). Empty for a step that
/// repeats, or only re-derives part of, what earlier steps already did.
pub fn new_nodes(step: &SqlTree, gold: &SqlTree, earlier_steps: &[SqlTree]) -> NodeSet {
    let step_set = node_set(step);
    let gold_set = node_set(gold);
    let earlier: Vec<NodeSet> = earlier_steps.iter().map(node_set).collect();
    let mut fresh = NodeSet::default();
    for (signature, count) in step_set.iter() {
        let shared = count.min(gold_set.count(signature));
        let covered = earlier
            .iter()
            .map(|set| set.count(signature))
            .max()
            .unwrap_or(0);
        fresh.insert(signature.to_string(), shared.saturating_sub(covered));
    }
    fresh
}

struct Matcher<'a> {
    step: &'a SqlTree,
    gold: &'a SqlTree,
}

impl Matcher<'_> {
    /// Does the step subtree at `s` embed at gold node `g`? `gold_query` is the gold `query`
    /// node whose clauses are being matched (for the `select` rule).
    fn embeds(&self, s: usize, g: usize, gold_query: usize) -> bool {
        let step_label = self.step.label(s);
        let gold_label = self.gold.label(g);
        if !labels_agree(step_label, gold_label) {
            return false;
        }
        let gold_query = if gold_label == "query" { g } else { gold_query };
        let step_children = self.step.children(s);
        let gold_children = self.gold.children(g);
        match step_label {
            "query" | "from" | "and" | "group_by" | "order_by" => {
                self.embeds_as_subset(step_children, gold_children, gold_query)
            }
            "select" | "select distinct" => {
                let gold_nodes = self.gold.subtree(gold_query);
                step_children.iter().all(|&item| {
                    self.step.label(item) == "*"
                        || gold_nodes
                            .iter()
                            .any(|&candidate| self.embeds(item, candidate, gold_query))
                })
            }
            _ => {
                step_children.len() == gold_children.len()
                    && step_children
                        .iter()
                        .zip(gold_children)
                        .all(|(&sc, &gc)| self.embeds(sc, gc, gold_query))
            }
        }
    }

    /// Each step child embeds at a distinct gold child (bipartite matching, Kuhn's algorithm).
    fn embeds_as_subset(
        &self,
        step_children: &[usize],
        gold_children: &[usize],
        gold_query: usize,
    ) -> bool {
        if step_children.len() > gold_children.len() {
            return false;
        }
        let fits: Vec<Vec<usize>> = step_children
            .iter()
            .map(|&sc| {
                (0..gold_children.len())
                    .filter(|&k| self.embeds(sc, gold_children[k], gold_query))
                    .collect()
            })
            .collect();
        let mut owner: Vec<Option<usize>> = vec![None; gold_children.len()];
        (0..step_children.len()).all(|s| {
            let mut seen = vec![false; gold_children.len()];
            augment(s, &fits, &mut owner, &mut seen)
        })
    }
}

/// Kuhn's augmenting path from step child `s`.
fn augment(s: usize, fits: &[Vec<usize>], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for &g in &fits[s] {
        if seen[g] {
            continue;
        }
        seen[g] = true;
        if owner[g].is_none_or(|other| augment(other, fits, owner, seen)) {
            owner[g] = Some(s);
            return true;
        }
    }
    false
}

fn labels_agree(step: &str, gold: &str) -> bool {
    if step == gold || (step == "select" && gold == "select distinct") {
        return true;
    }
    // `column:name` (table unknown) agrees with `column:table.name`.
    match (step.strip_prefix("column:"), gold.strip_prefix("column:")) {
        (Some(s), Some(g)) => {
            let unqualified = |name: &str| name.rsplit('.').next().unwrap_or(name).to_string();
            (!s.contains('.') || !g.contains('.')) && unqualified(s) == unqualified(g)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::Dialect;
    use crate::sql::sql_tree;

    fn tree(sql: &str) -> SqlTree {
        sql_tree(sql, Dialect::Sqlite).unwrap()
    }

    fn contains(step: &str, gold: &str) -> bool {
        ast_contains(&tree(step), &tree(gold))
    }

    const GOLD: &str =
        "SELECT name FROM singer WHERE age > 30 AND country = 'France' ORDER BY name";

    #[test]
    fn steps_that_are_part_of_the_gold_are_contained() {
        assert!(contains(GOLD, GOLD));
        assert!(contains("SELECT name FROM singer WHERE age > 30", GOLD));
        assert!(contains(
            "SELECT name FROM singer WHERE country = \"France\"",
            GOLD
        ));
        assert!(contains("SELECT T1.name FROM singer AS T1", GOLD));
        // A column the gold uses elsewhere may be selected by an intermediate step.
        assert!(contains("SELECT age FROM singer WHERE age > 30", GOLD));
        assert!(contains(
            "SELECT name FROM singer WHERE age > 30 AND country = 'France'",
            GOLD
        ));
    }

    #[test]
    fn steps_that_add_or_change_things_are_not() {
        assert!(!contains("SELECT birthday FROM singer", GOLD));
        assert!(!contains("SELECT name FROM singer WHERE age > 31", GOLD));
        assert!(!contains("SELECT name FROM singer WHERE age < 30", GOLD));
        assert!(!contains("SELECT name FROM concert", GOLD));
        assert!(!contains(
            "SELECT name FROM singer ORDER BY name DESC",
            GOLD
        ));
        assert!(!contains("SELECT name FROM singer LIMIT 1", GOLD));
        assert!(!contains("SELECT DISTINCT name FROM singer", GOLD));
        assert!(!contains("SELECT count(*) FROM singer", GOLD));
    }

    #[test]
    fn subqueries_of_the_gold_are_steps() {
        let gold = "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)";
        assert!(contains("SELECT avg(age) FROM singer", gold));
        assert!(contains("SELECT name FROM singer", gold));
        assert!(!contains("SELECT max(age) FROM singer", gold));
    }

    #[test]
    fn joins_with_aliases() {
        let gold = "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = \
                    T2.stadium_id WHERE T1.year = 2014";
        assert!(contains(
            "SELECT stadium_id FROM concert WHERE year = 2014",
            gold
        ));
        assert!(contains(
            "SELECT s.name FROM stadium s JOIN concert c ON c.stadium_id = s.stadium_id",
            gold
        ));
        assert!(!contains(
            "SELECT stadium_id FROM concert WHERE year = 2015",
            gold
        ));
    }

    #[test]
    fn star_steps_look_at_the_rows() {
        assert!(contains("SELECT * FROM singer WHERE age > 30", GOLD));
        assert!(!contains("SELECT * FROM singer WHERE age > 40", GOLD));
    }

    /// Runs `tests/data/sql/containment_cases.tsv`: `contained` or `not_contained`, a TAB, the
    /// step, a TAB, the gold (`#` starts a comment).
    #[test]
    fn containment_cases_from_file() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sql/containment_cases.tsv"
        );
        let text = std::fs::read_to_string(path).expect("read containment_cases.tsv");
        let mut checked = 0;
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [expectation, step, gold] = fields.as_slice() else {
                panic!("line {}: expected 3 TAB-separated fields", number + 1);
            };
            let expected = match *expectation {
                "contained" => true,
                "not_contained" => false,
                other => panic!("line {}: unknown expectation {other}", number + 1),
            };
            assert_eq!(
                contains(step, gold),
                expected,
                "line {}: {step} in {gold}",
                number + 1
            );
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} cases");
    }

    #[test]
    fn node_sets_ignore_conjunct_order() {
        assert_eq!(
            node_set(&tree("SELECT a FROM t WHERE x = 1 AND y = 2")),
            node_set(&tree("SELECT a FROM t WHERE y = 2 AND x = 1"))
        );
        let set = node_set(&tree("SELECT a FROM t"));
        // query, select, column:t.a, from, table:t
        assert_eq!(set.len(), 5);
        assert_eq!(set.count("table:t"), 1);
        assert_eq!(set.count("select(column:t.a)"), 1);
    }

    #[test]
    fn new_nodes_are_what_earlier_steps_lack() {
        let gold = tree(GOLD);
        let first = tree("SELECT name FROM singer WHERE age > 30");
        let second = tree("SELECT name FROM singer WHERE age > 30 AND country = 'France'");
        let fresh = new_nodes(&first, &gold, &[]);
        assert!(fresh.count("table:singer") == 1 && fresh.count("value:30") == 1);
        let fresh = new_nodes(&second, &gold, std::slice::from_ref(&first));
        assert_eq!(fresh.count("table:singer"), 0, "covered by the first step");
        assert_eq!(fresh.count("value:'France'"), 1);
        assert!(new_nodes(&first, &gold, std::slice::from_ref(&first)).is_empty());
        // Nodes that are not in the gold are never new.
        let off = tree("SELECT birthday FROM singer");
        assert_eq!(
            new_nodes(&off, &gold, &[]).count("column:singer.birthday"),
            0
        );
    }
}
