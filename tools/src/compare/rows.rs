//! Rows as Python tuples: borrowed views (whole, column-permuted or column-reordered) that hash
//! and compare with Python's semantics, so sets and multisets of rows need no copies.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::python::{hash_python_value, python_eq};
use crate::value::Value;

/// A row seen as a Python tuple: `values` read through `order` when present
/// (`tuple(values[i] for i in order)`), else as they are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowView<'a> {
    values: &'a [Value],
    order: Option<&'a [usize]>,
}

impl<'a> RowView<'a> {
    /// The row as it is.
    pub(crate) fn whole(values: &'a [Value]) -> Self {
        RowView {
            values,
            order: None,
        }
    }

    /// The row read through `order`; every index must be below `values.len()`.
    pub(crate) fn reordered(values: &'a [Value], order: &'a [usize]) -> Self {
        RowView {
            values,
            order: Some(order),
        }
    }

    fn len(&self) -> usize {
        self.order.map_or(self.values.len(), <[usize]>::len)
    }

    fn get(&self, position: usize) -> &'a Value {
        match self.order {
            Some(order) => &self.values[order[position]],
            None => &self.values[position],
        }
    }
}

impl PartialEq for RowView<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && (0..self.len()).all(|i| python_eq(self.get(i), other.get(i)))
    }
}

// Python tuples of sqlite values are hashable and `==` is an equivalence on everything sqlite
// returns except NaN, which Python's sets also treat as unequal to every other object.
impl Eq for RowView<'_> {}

impl Hash for RowView<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for i in 0..self.len() {
            hash_python_value(self.get(i), state);
        }
    }
}

/// One value seen as a Python object, for per-column sets and multisets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueKey<'a>(pub(crate) &'a Value);

impl PartialEq for ValueKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        python_eq(self.0, other.0)
    }
}

impl Eq for ValueKey<'_> {}

impl Hash for ValueKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_python_value(self.0, state);
    }
}

/// A fast non-cryptographic hasher (multiply-rotate, murmur finaliser). Scoring hashes every
/// row of every result, and the inputs are query results, not adversarial keys, so SipHash's
/// flooding resistance buys nothing here.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RowHasher {
    hash: u64,
}

impl RowHasher {
    const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;

    fn add_word(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::MULTIPLIER);
    }
}

impl Hasher for RowHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add_word(u64::from_le_bytes(word));
        }
        let remainder = chunks.remainder();
        if !remainder.is_empty() {
            let mut word = [0u8; 8];
            word[..remainder.len()].copy_from_slice(remainder);
            self.add_word(u64::from_le_bytes(word) ^ ((remainder.len() as u64) << 56));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.add_word(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.add_word(value);
    }

    fn write_i64(&mut self, value: i64) {
        self.add_word(value as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.add_word(value as u64);
    }

    fn finish(&self) -> u64 {
        // fmix64 from MurmurHash3: spreads the entropy of the high bits over the low bits, which
        // the hash table uses to pick buckets.
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// Build-hasher for the row and value tables of the scorers.
pub(crate) type BuildRowHasher = BuildHasherDefault<RowHasher>;

/// Python `set(rows)`.
pub(crate) type RowSet<'a> = HashSet<RowView<'a>, BuildRowHasher>;

/// Python `collections.Counter(rows)`.
pub(crate) type RowCounts<'a> = HashMap<RowView<'a>, usize, BuildRowHasher>;

/// Python `set(values)` for one column, or its `Counter`.
pub(crate) type ValueCounts<'a> = HashMap<ValueKey<'a>, usize, BuildRowHasher>;

/// Python `set(a) == set(b)` for two collections of rows.
pub(crate) fn row_sets_equal<'a>(
    a: impl IntoIterator<Item = RowView<'a>>,
    b: impl IntoIterator<Item = RowView<'a>>,
) -> bool {
    let a: RowSet = a.into_iter().collect();
    let b: RowSet = b.into_iter().collect();
    a.len() == b.len() && b.iter().all(|row| a.contains(row))
}

/// Counts of each distinct row (Python `Counter`).
pub(crate) fn count_rows<'a>(rows: impl IntoIterator<Item = RowView<'a>>) -> RowCounts<'a> {
    let rows = rows.into_iter();
    let mut counts = RowCounts::with_capacity_and_hasher(rows.size_hint().0, Default::default());
    for row in rows {
        *counts.entry(row).or_insert(0) += 1;
    }
    counts
}

/// Whether two multisets of rows are equal (Python `Counter(a) == Counter(b)` for rows that
/// `a` already counted).
pub(crate) fn counts_equal(a: &RowCounts<'_>, b: &RowCounts<'_>) -> bool {
    a.len() == b.len() && b.iter().all(|(row, count)| a.get(row) == Some(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_compare_and_hash_as_python_tuples() {
        let a = [Value::Integer(1), Value::Text("x".into())];
        let b = [Value::Text("x".into()), Value::Real(1.0)];
        let swap = [1, 0];
        assert_eq!(RowView::whole(&a), RowView::reordered(&b, &swap));
        assert_ne!(RowView::whole(&a), RowView::whole(&b));
        let mut first = RowHasher::default();
        RowView::whole(&a).hash(&mut first);
        let mut second = RowHasher::default();
        RowView::reordered(&b, &swap).hash(&mut second);
        assert_eq!(first.finish(), second.finish());
    }

    #[test]
    fn set_and_counter_semantics() {
        let one = [Value::Integer(1)];
        let one_float = [Value::Real(1.0)];
        let two = [Value::Integer(2)];
        let a = [&one[..], &one[..], &two[..]];
        let b = [&two[..], &one_float[..]];
        assert!(row_sets_equal(
            a.iter().map(|r| RowView::whole(r)),
            b.iter().map(|r| RowView::whole(r))
        ));
        let counts_a = count_rows(a.iter().map(|r| RowView::whole(r)));
        let counts_b = count_rows(b.iter().map(|r| RowView::whole(r)));
        assert!(!counts_equal(&counts_a, &counts_b));
        assert!(counts_equal(&counts_a, &counts_a.clone()));
    }

    #[test]
    fn hasher_separates_short_byte_strings() {
        let hash = |bytes: &[u8]| {
            let mut hasher = RowHasher::default();
            hasher.write(bytes);
            hasher.finish()
        };
        assert_ne!(hash(b"a"), hash(b"a\0"));
        assert_ne!(hash(b"abcdefgh"), hash(b"abcdefgi"));
    }
}
