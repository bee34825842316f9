//! Tree edit distance (Zhang–Shasha, unit costs) and LearNAT's TED similarity.

use std::collections::HashMap;

use super::tree::SqlTree;

/// The minimum number of node insertions, deletions and relabellings (each costing 1) that turn
/// `a` into `b` (ordered trees; Zhang & Shasha 1989). Symmetric, 0 exactly for equal trees, and
/// a metric (it obeys the triangle inequality).
///
/// Time O(|a|·|b|·min(depth, leaves)²) in the worst case, memory O(|a|·|b|); query trees have
/// tens to a few hundred nodes.
///
/// ```
/// use learnat_tools::sql::{SqlTree, tree_edit_distance};
/// let a = SqlTree::from_brackets("f(d(a, c(b)), e)").unwrap();
/// let b = SqlTree::from_brackets("f(c(d(a, b)), e)").unwrap();
/// assert_eq!(tree_edit_distance(&a, &b), 2);
/// ```
pub fn tree_edit_distance(a: &SqlTree, b: &SqlTree) -> usize {
    let mut interner = HashMap::new();
    let a = PostorderTree::new(a, &mut interner);
    let b = PostorderTree::new(b, &mut interner);
    let (n, m) = (a.labels.len(), b.labels.len());
    // tree_distance[i * (m + 1) + j]: distance between the subtrees rooted at postorder
    // positions i of a and j of b (1-based).
    let mut tree_distance = vec![0usize; (n + 1) * (m + 1)];
    let mut forest = Vec::new();
    for &i in &a.keyroots {
        for &j in &b.keyroots {
            forest_distance(&a, &b, i, j, &mut tree_distance, &mut forest);
        }
    }
    tree_distance[n * (m + 1) + m]
}

/// LearNAT's tree-edit-distance similarity, as its reference code mixes it:
/// `0.7 · size_ratio + 0.3 · (1 − ted / max_size)`, where `size_ratio = min(|a|, |b|) /
/// max(|a|, |b|)` and the edit term is clamped at 0 (the distance can exceed the larger size
/// when the shapes differ a lot). In [0, 1]; 1 exactly for equal trees.
pub fn ted_similarity(step: &SqlTree, gold: &SqlTree) -> f64 {
    let (small, large) = if step.size() <= gold.size() {
        (step.size(), gold.size())
    } else {
        (gold.size(), step.size())
    };
    if large == 0 {
        return 1.0;
    }
    let size_ratio = small as f64 / large as f64;
    let distance = tree_edit_distance(step, gold) as f64;
    let edit_term = (1.0 - distance / large as f64).max(0.0);
    0.7 * size_ratio + 0.3 * edit_term
}

/// A tree in 1-based postorder: labels (interned), leftmost-leaf positions and keyroots.
struct PostorderTree {
    /// `labels[k - 1]`: label id of the node at postorder position k.
    labels: Vec<u32>,
    /// `leftmost[k]`: postorder position of the leftmost leaf under position k (index 0 unused).
    leftmost: Vec<usize>,
    /// Positions that are the root or have a left sibling, ascending.
    keyroots: Vec<usize>,
}

impl PostorderTree {
    fn new(tree: &SqlTree, interner: &mut HashMap<String, u32>) -> PostorderTree {
        let order = tree.postorder();
        let mut position = vec![0usize; tree.size()];
        for (index, &node) in order.iter().enumerate() {
            position[node] = index + 1;
        }
        let mut labels = Vec::with_capacity(order.len());
        let mut leftmost = vec![0usize; order.len() + 1];
        for &node in &order {
            let next_id = interner.len() as u32;
            labels.push(
                *interner
                    .entry(tree.label(node).to_string())
                    .or_insert(next_id),
            );
            // Children come earlier in postorder, so their leftmost leaves are known.
            leftmost[position[node]] = match tree.children(node).first() {
                Some(&first) => leftmost[position[first]],
                None => position[node],
            };
        }
        // A keyroot is the highest position with a given leftmost leaf.
        let mut highest: HashMap<usize, usize> = HashMap::new();
        for (position, &leaf) in leftmost.iter().enumerate().skip(1) {
            highest.insert(leaf, position);
        }
        let mut keyroots: Vec<usize> = highest.into_values().collect();
        keyroots.sort_unstable();
        PostorderTree {
            labels,
            leftmost,
            keyroots,
        }
    }
}

/// Zhang–Shasha's inner loop for keyroots `i` of `a` and `j` of `b`: fills the forest-distance
/// table and records the subtree distances it finds on the leftmost paths.
fn forest_distance(
    a: &PostorderTree,
    b: &PostorderTree,
    i: usize,
    j: usize,
    tree_distance: &mut [usize],
    forest: &mut Vec<usize>,
) {
    let m = b.labels.len();
    let (li, lj) = (a.leftmost[i], b.leftmost[j]);
    let rows = i - li + 2;
    let cols = j - lj + 2;
    forest.clear();
    forest.resize(rows * cols, 0);
    let at = |x: usize, y: usize| x * cols + y;
    for x in 1..rows {
        forest[at(x, 0)] = forest[at(x - 1, 0)] + 1;
    }
    for y in 1..cols {
        forest[at(0, y)] = forest[at(0, y - 1)] + 1;
    }
    for x in 1..rows {
        let i1 = li + x - 1;
        for y in 1..cols {
            let j1 = lj + y - 1;
            let delete = forest[at(x - 1, y)] + 1;
            let insert = forest[at(x, y - 1)] + 1;
            if a.leftmost[i1] == li && b.leftmost[j1] == lj {
                // Both prefixes are whole trees: relabelling their roots is an option.
                let relabel = usize::from(a.labels[i1 - 1] != b.labels[j1 - 1]);
                let distance = delete.min(insert).min(forest[at(x - 1, y - 1)] + relabel);
                forest[at(x, y)] = distance;
                tree_distance[i1 * (m + 1) + j1] = distance;
            } else {
                let p = a.leftmost[i1] - li;
                let q = b.leftmost[j1] - lj;
                let replace = forest[at(p, q)] + tree_distance[i1 * (m + 1) + j1];
                forest[at(x, y)] = delete.min(insert).min(replace);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::Dialect;
    use crate::sql::sql_tree;

    fn brackets(text: &str) -> SqlTree {
        SqlTree::from_brackets(text).unwrap()
    }

    #[test]
    fn hand_computed_distances() {
        let cases = [
            ("a", "a", 0),
            ("a", "b", 1),
            ("a(b)", "a", 1),
            ("a", "a(b, c)", 2),
            ("a(b, c)", "a(c, b)", 2),
            ("a(b, c)", "a(b, d)", 1),
            // Deleting the inner node c lifts its children: a(b, c(d, e)) → a(b, d, e).
            ("a(b, c(d, e))", "a(b, d, e)", 1),
            // The classic example of Zhang and Shasha's paper.
            ("f(d(a, c(b)), e)", "f(c(d(a, b)), e)", 2),
            ("a(b(c(d)))", "d", 3),
            ("x(y, z)", "p(q(r, s), t)", 5),
        ];
        for (left, right, expected) in cases {
            assert_eq!(
                tree_edit_distance(&brackets(left), &brackets(right)),
                expected,
                "{left} vs {right}"
            );
        }
    }

    #[test]
    fn metric_properties_on_query_trees() {
        let queries = [
            "SELECT name FROM singer",
            "SELECT name FROM singer WHERE age > 30",
            "SELECT name FROM singer WHERE age > 30 ORDER BY name",
            "SELECT count(*) FROM singer GROUP BY country",
            "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.id = T2.sid",
            "SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)",
            "SELECT a FROM t UNION SELECT b FROM u",
        ];
        let trees: Vec<SqlTree> = queries
            .iter()
            .map(|sql| sql_tree(sql, Dialect::Sqlite).unwrap())
            .collect();
        for a in &trees {
            assert_eq!(tree_edit_distance(a, a), 0);
            for b in &trees {
                let ab = tree_edit_distance(a, b);
                assert_eq!(ab, tree_edit_distance(b, a), "symmetry");
                assert_eq!(ab == 0, a == b, "identity");
                assert!(
                    ab <= a.size() + b.size(),
                    "bounded by deleting and inserting all"
                );
                for c in &trees {
                    assert!(
                        ab <= tree_edit_distance(a, c) + tree_edit_distance(c, b),
                        "triangle"
                    );
                }
            }
        }
        // Adding one clause costs exactly its nodes.
        assert_eq!(tree_edit_distance(&trees[1], &trees[2]), 3);
    }

    #[test]
    fn ted_similarity_bounds_and_mixture() {
        let a = brackets("a(b, c)");
        assert!((ted_similarity(&a, &a) - 1.0).abs() < 1e-12);
        let b = brackets("a(b)");
        // size ratio 2/3, distance 1 over max size 3.
        let expected = 0.7 * (2.0 / 3.0) + 0.3 * (1.0 - 1.0 / 3.0);
        assert!((ted_similarity(&b, &a) - expected).abs() < 1e-12);
        assert!((ted_similarity(&a, &b) - expected).abs() < 1e-12);
        let far = brackets("x(y(z(w)))");
        let similarity = ted_similarity(&a, &far);
        assert!((0.0..1.0).contains(&similarity), "{similarity}");
    }
}
