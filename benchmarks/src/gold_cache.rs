//! On-disk cache of gold query results, so repeated evaluations do not re-run gold SQL.
//!
//! Key: (sha256 of the database file's bytes, the exact SQL text that was executed, an engine tag
//! naming the SQLite version, the row / size caps and this format's version). Gold SQL is
//! deterministic on a read-only file, so the same key always yields the same rows.
//!
//! Layout under the cache directory (default `~/.cache/learnat/gold-cache`, or
//! `$LEARNAT_GOLD_CACHE`):
//! - `v1/<db sha256>-<engine tag hash>.bin`: one segment per database and engine tag, a compact
//!   binary list of entries, each framed as `u32 length, payload, 8-byte checksum` (the first
//!   bytes of the payload's sha256). An entry whose checksum does not match is ignored and its
//!   query re-run; a torn tail ends the segment there. Segments are written whole to a temporary
//!   file and renamed, merged with what is on disk at that moment, so concurrent runs lose at most
//!   each other's newest entries, never the file.
//! - `v1/file-hashes.json`: the memo of database hashes by (canonical path, size, mtime), so a
//!   database is hashed once, not once per run.
//!
//! Only successful, complete (untruncated) gold results are stored.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use learnat_tools::{QueryResult, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::hex;
use crate::error::{BenchError, BenchResult};

const SEGMENT_MAGIC: &[u8; 8] = b"LNATGC01";
const CHECKSUM_LEN: usize = 8;

/// The default cache directory: `$LEARNAT_GOLD_CACHE`, else `~/.cache/learnat/gold-cache`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LEARNAT_GOLD_CACHE") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/learnat/gold-cache"))
}

/// What the cache did during a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Lookups answered from disk.
    pub hits: usize,
    /// Lookups that found nothing (the query was executed).
    pub misses: usize,
    /// Entries stored by this run.
    pub stored: usize,
    /// Entries (or segment tails) found corrupt and ignored.
    pub corrupt: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileHash {
    size: u64,
    mtime_ns: u128,
    sha256: String,
}

#[derive(Default)]
struct Segment {
    entries: HashMap<String, Arc<QueryResult>>,
    /// Entries added by this run (written on save).
    added: Vec<String>,
}

/// The gold-result cache of one run. Shared by the worker threads.
pub struct GoldCache {
    dir: PathBuf,
    engine_tag_hash: String,
    file_hashes: Mutex<HashMap<String, FileHash>>,
    file_hashes_changed: Mutex<bool>,
    segments: Mutex<HashMap<String, Segment>>,
    stats: Mutex<CacheStats>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A worker that panicked while holding the lock left consistent data (every update is a
    // single insert), so keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl GoldCache {
    /// A cache in `dir` for results produced under `engine_tag` (see the module docs). Nothing
    /// is created until [`GoldCache::save`].
    pub fn open(dir: &Path, engine_tag: &str) -> GoldCache {
        let root = dir.join("v1");
        let file_hashes = std::fs::read(root.join("file-hashes.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        GoldCache {
            dir: root,
            engine_tag_hash: hex(&Sha256::digest(engine_tag.as_bytes()))[..12].to_string(),
            file_hashes: Mutex::new(file_hashes),
            file_hashes_changed: Mutex::new(false),
            segments: Mutex::new(HashMap::new()),
            stats: Mutex::new(CacheStats::default()),
        }
    }

    /// The key of a database file: the sha256 of its bytes, memoised by (path, size, mtime).
    pub fn database_key(&self, path: &Path) -> BenchResult<String> {
        let metadata = std::fs::metadata(path).map_err(|e| BenchError::read(path, e))?;
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let name = canonical.to_string_lossy().into_owned();
        let mtime_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        if let Some(known) = lock(&self.file_hashes).get(&name)
            && known.size == metadata.len()
            && known.mtime_ns == mtime_ns
        {
            return Ok(known.sha256.clone());
        }
        let sha256 = sha256_file(path)?;
        lock(&self.file_hashes).insert(
            name,
            FileHash {
                size: metadata.len(),
                mtime_ns,
                sha256: sha256.clone(),
            },
        );
        *lock(&self.file_hashes_changed) = true;
        Ok(sha256)
    }

    fn segment_path(&self, database_key: &str) -> PathBuf {
        self.dir
            .join(format!("{database_key}-{}.bin", self.engine_tag_hash))
    }

    /// The cached result of `sql` on the database with `database_key`, if any.
    pub fn get(&self, database_key: &str, sql: &str) -> Option<Arc<QueryResult>> {
        let mut segments = lock(&self.segments);
        let segment = segments.entry(database_key.to_string()).or_insert_with(|| {
            let (entries, corrupt) = read_segment(&self.segment_path(database_key));
            lock(&self.stats).corrupt += corrupt;
            Segment {
                entries,
                added: Vec::new(),
            }
        });
        let found = segment.entries.get(sql).cloned();
        drop(segments);
        let mut stats = lock(&self.stats);
        if found.is_some() {
            stats.hits += 1;
        } else {
            stats.misses += 1;
        }
        found
    }

    /// Remember a complete gold result. Truncated results are not stored.
    pub fn put(&self, database_key: &str, sql: &str, result: &Arc<QueryResult>) {
        if result.truncated {
            return;
        }
        let mut segments = lock(&self.segments);
        let segment = segments.entry(database_key.to_string()).or_default();
        if segment
            .entries
            .insert(sql.to_string(), Arc::clone(result))
            .is_none()
        {
            segment.added.push(sql.to_string());
            lock(&self.stats).stored += 1;
        }
    }

    /// What the cache did so far.
    pub fn stats(&self) -> CacheStats {
        *lock(&self.stats)
    }

    /// Write the segments that gained entries and the file-hash memo.
    pub fn save(&self) -> BenchResult<()> {
        let segments = lock(&self.segments);
        let changed = *lock(&self.file_hashes_changed);
        if !changed && segments.values().all(|s| s.added.is_empty()) {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| BenchError::write(&self.dir, e))?;
        for (key, segment) in segments.iter().filter(|(_, s)| !s.added.is_empty()) {
            let path = self.segment_path(key);
            // Merge with what another run may have written since this one read the segment.
            let (mut merged, _) = read_segment(&path);
            for (sql, result) in &segment.entries {
                merged.insert(sql.clone(), Arc::clone(result));
            }
            let mut bytes = SEGMENT_MAGIC.to_vec();
            let mut payload = Vec::new();
            for (sql, result) in &merged {
                payload.clear();
                encode_entry(&mut payload, sql, result);
                bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                bytes.extend_from_slice(&payload);
                bytes.extend_from_slice(&Sha256::digest(&payload)[..CHECKSUM_LEN]);
            }
            write_atomically(&path, &bytes)?;
        }
        if changed {
            let json = serde_json::to_vec(&*lock(&self.file_hashes)).map_err(|e| {
                BenchError::Invalid(format!("cannot encode the file-hash memo: {e}"))
            })?;
            write_atomically(&self.dir.join("file-hashes.json"), &json)?;
        }
        Ok(())
    }
}

/// Write `bytes` to a temporary file beside `path`, then rename it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> BenchResult<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes).map_err(|e| BenchError::write(&temporary, e))?;
    std::fs::rename(&temporary, path).map_err(|e| BenchError::write(path, e))
}

fn sha256_file(path: &Path) -> BenchResult<String> {
    let mut file = std::fs::File::open(path).map_err(|e| BenchError::read(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| BenchError::read(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Entries of a segment file and the number of corrupt entries skipped. A missing file or a
/// wrong magic is an empty segment.
fn read_segment(path: &Path) -> (HashMap<String, Arc<QueryResult>>, usize) {
    let mut entries = HashMap::new();
    let Ok(bytes) = std::fs::read(path) else {
        return (entries, 0);
    };
    let Some(mut rest) = bytes.strip_prefix(SEGMENT_MAGIC.as_slice()) else {
        return (entries, 1);
    };
    let mut corrupt = 0;
    while !rest.is_empty() {
        let Some((length, after)) = rest.split_first_chunk::<4>() else {
            corrupt += 1;
            break;
        };
        let length = u32::from_le_bytes(*length) as usize;
        if after.len() < length + CHECKSUM_LEN {
            corrupt += 1;
            break;
        }
        let (payload, after) = after.split_at(length);
        let (checksum, after) = after.split_at(CHECKSUM_LEN);
        rest = after;
        if Sha256::digest(payload)[..CHECKSUM_LEN] != *checksum {
            corrupt += 1;
            continue;
        }
        match decode_entry(payload) {
            Some((sql, result)) => {
                entries.insert(sql, Arc::new(result));
            }
            None => corrupt += 1,
        }
    }
    (entries, corrupt)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn encode_entry(out: &mut Vec<u8>, sql: &str, result: &QueryResult) {
    put_bytes(out, sql.as_bytes());
    out.extend_from_slice(&(result.elapsed.as_nanos() as u64).to_le_bytes());
    out.extend_from_slice(&(result.columns.len() as u32).to_le_bytes());
    for column in &result.columns {
        put_bytes(out, column.as_bytes());
    }
    out.extend_from_slice(&(result.rows.len() as u32).to_le_bytes());
    for row in &result.rows {
        for value in row {
            match value {
                Value::Null => out.push(0),
                Value::Integer(i) => {
                    out.push(1);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                Value::Real(f) => {
                    out.push(2);
                    out.extend_from_slice(&f.to_bits().to_le_bytes());
                }
                Value::Text(s) => {
                    out.push(3);
                    put_bytes(out, s.as_bytes());
                }
                Value::Blob(b) => {
                    out.push(4);
                    put_bytes(out, b);
                }
            }
        }
    }
}

/// A cursor over a payload; every read checks the bounds.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()?;
        self.take(n)
    }
    fn text(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
}

fn decode_entry(payload: &[u8]) -> Option<(String, QueryResult)> {
    let mut reader = Reader(payload);
    let sql = reader.text()?;
    let elapsed = Duration::from_nanos(reader.u64()?);
    let width = reader.u32()?;
    let columns = (0..width)
        .map(|_| reader.text())
        .collect::<Option<Vec<_>>>()?;
    let height = reader.u32()?;
    // Each value takes at least one byte: a length beyond the payload is corruption, not a
    // reason to allocate.
    if height.saturating_mul(width) > payload.len() {
        return None;
    }
    let mut rows = Vec::with_capacity(height);
    for _ in 0..height {
        let mut row = Vec::with_capacity(width);
        for _ in 0..width {
            row.push(match reader.take(1)?[0] {
                0 => Value::Null,
                1 => Value::Integer(reader.u64()? as i64),
                2 => Value::Real(f64::from_bits(reader.u64()?)),
                3 => Value::Text(reader.text()?),
                4 => Value::Blob(reader.bytes()?.to_vec()),
                _ => return None,
            });
        }
        rows.push(row);
    }
    if !reader.0.is_empty() {
        return None;
    }
    Some((
        sql,
        QueryResult {
            columns,
            rows,
            elapsed,
            truncated: false,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Arc<QueryResult> {
        Arc::new(QueryResult {
            columns: vec!["a".into(), "b".into()],
            rows: vec![
                vec![Value::Integer(-3), Value::Real(1.5)],
                vec![Value::Null, Value::Text("héllo".into())],
                vec![Value::Blob(vec![0, 255]), Value::Real(f64::NAN)],
            ],
            elapsed: Duration::from_micros(1234),
            truncated: false,
        })
    }

    #[test]
    fn entries_round_trip_through_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let cache = GoldCache::open(dir.path(), "tag");
        assert!(cache.get("db", "SELECT 1").is_none());
        cache.put("db", "SELECT 1", &sample());
        cache.save().unwrap();

        let again = GoldCache::open(dir.path(), "tag");
        let found = again.get("db", "SELECT 1").expect("cached");
        assert_eq!(found.columns, sample().columns);
        assert_eq!(found.rows[..2], sample().rows[..2]);
        assert!(matches!(found.rows[2][1], Value::Real(f) if f.is_nan()));
        assert_eq!(found.elapsed, Duration::from_micros(1234));
        assert_eq!(again.stats().hits, 1);
        // Another engine tag is another cache.
        assert!(
            GoldCache::open(dir.path(), "other")
                .get("db", "SELECT 1")
                .is_none()
        );
    }

    #[test]
    fn a_corrupt_entry_is_ignored_and_the_others_survive() {
        let dir = tempfile::tempdir().unwrap();
        let cache = GoldCache::open(dir.path(), "tag");
        cache.put("db", "SELECT 1", &sample());
        cache.put("db", "SELECT 2", &sample());
        cache.save().unwrap();
        let segment = cache.segment_path("db");
        let mut bytes = std::fs::read(&segment).unwrap();
        // Flip a byte inside the first entry's payload.
        bytes[SEGMENT_MAGIC.len() + 6] ^= 0x5a;
        std::fs::write(&segment, &bytes).unwrap();

        let again = GoldCache::open(dir.path(), "tag");
        let found = ["SELECT 1", "SELECT 2"]
            .iter()
            .filter(|sql| again.get("db", sql).is_some())
            .count();
        assert_eq!(found, 1, "exactly the damaged entry is lost");
        assert_eq!(again.stats().corrupt, 1);

        // A torn tail and garbage files are survivable too.
        std::fs::write(&segment, &bytes[..bytes.len() - 3]).unwrap();
        let torn = GoldCache::open(dir.path(), "tag");
        let _ = torn.get("db", "SELECT 1");
        assert!(torn.stats().corrupt >= 1);
        std::fs::write(&segment, b"not a segment").unwrap();
        assert!(
            GoldCache::open(dir.path(), "tag")
                .get("db", "SELECT 1")
                .is_none()
        );
    }

    #[test]
    fn file_hashes_are_memoised_by_size_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.sqlite");
        std::fs::write(&file, b"abc").unwrap();
        let cache = GoldCache::open(&dir.path().join("cache"), "tag");
        let key = cache.database_key(&file).unwrap();
        assert_eq!(
            key,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        cache.save().unwrap();
        // The memo answers without reading the file: prove it by planting a different hash.
        let memo_path = dir.path().join("cache/v1/file-hashes.json");
        let memo = std::fs::read_to_string(&memo_path)
            .unwrap()
            .replace(&key, "planted");
        std::fs::write(&memo_path, memo).unwrap();
        let again = GoldCache::open(&dir.path().join("cache"), "tag");
        assert_eq!(again.database_key(&file).unwrap(), "planted");
        // A change of size invalidates the memo.
        std::fs::write(&file, b"abcd").unwrap();
        assert_ne!(again.database_key(&file).unwrap(), "planted");
    }

    #[test]
    fn truncated_results_are_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = GoldCache::open(dir.path(), "tag");
        let mut partial = (*sample()).clone();
        partial.truncated = true;
        cache.put("db", "SELECT 1", &Arc::new(partial));
        assert!(cache.get("db", "SELECT 1").is_none());
        assert_eq!(cache.stats().stored, 0);
    }
}
