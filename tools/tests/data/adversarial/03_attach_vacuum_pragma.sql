-- category: attach; sqlite: refused
ATTACH DATABASE '/tmp/learnat-adversarial-attach.sqlite' AS evil
-- ----
-- category: attach; sqlite: refused
ATTACH '/tmp/learnat-adversarial-attach.sqlite' AS evil
-- ----
-- category: attach; sqlite: refused
attach database ':memory:' as scratch
-- ----
-- category: attach; sqlite: refused
ATTACH DATABASE 'file:/tmp/learnat-adversarial-uri.sqlite?mode=rwc' AS evil
-- ----
-- category: attach; sqlite: refused
ATTACH (SELECT '/tmp/learnat-adversarial-attach.sqlite') AS evil
-- ----
-- category: detach; sqlite: refused
DETACH DATABASE main
-- ----
-- category: detach; sqlite: refused
DETACH temp
-- ----
-- category: vacuum; sqlite: refused; postgres: refused
VACUUM
-- ----
-- category: vacuum; sqlite: refused
VACUUM INTO '/tmp/learnat-adversarial-vacuum.sqlite'
-- ----
-- category: vacuum; sqlite: refused
VACUUM main INTO '/tmp/learnat-adversarial-vacuum.sqlite'
-- ----
-- category: vacuum; sqlite: refused
vacuum into 'file:/tmp/learnat-adversarial-vacuum-uri.sqlite?mode=rwc'
-- ----
-- category: pragma; sqlite: refused
PRAGMA writable_schema = 1
-- ----
-- category: pragma; sqlite: refused
PRAGMA writable_schema = ON
-- ----
-- category: pragma; sqlite: refused
PRAGMA journal_mode = WAL
-- ----
-- category: pragma; sqlite: refused
PRAGMA journal_mode = DELETE
-- ----
-- category: pragma; sqlite: refused
PRAGMA user_version = 42
-- ----
-- category: pragma; sqlite: refused
PRAGMA application_id = 7
-- ----
-- category: pragma; sqlite: refused
PRAGMA query_only = 0
-- ----
-- category: pragma; sqlite: refused
PRAGMA query_only = OFF
-- ----
-- category: pragma; sqlite: refused
PRAGMA main.locking_mode = EXCLUSIVE
-- ----
-- category: pragma; sqlite: refused
PRAGMA foreign_keys = OFF
-- ----
-- category: pragma; sqlite: refused
PRAGMA trusted_schema = ON
-- ----
-- category: pragma; sqlite: refused
PRAGMA temp_store_directory = '/tmp'
-- ----
-- category: pragma; sqlite: refused
PRAGMA incremental_vacuum
-- ----
-- category: pragma; sqlite: refused
PRAGMA wal_checkpoint(TRUNCATE)
-- ----
-- category: pragma; sqlite: refused
PRAGMA optimize
-- ----
-- category: pragma (read form, not allowlisted); sqlite: refused
PRAGMA table_info(customers)
-- ----
-- category: pragma (table-valued, not allowlisted); sqlite: refused
SELECT * FROM pragma_journal_mode
-- ----
-- category: pragma (table-valued, not allowlisted); sqlite: refused
SELECT * FROM pragma_user_version
-- ----
-- category: pragma (table-valued, not allowlisted); sqlite: refused
SELECT * FROM pragma_compile_options
-- ----
-- category: pragma (table-valued write form); sqlite: refused|sql; note: the table-valued form takes a schema argument, so a value is read as an unknown schema name; nothing is set either way
SELECT * FROM pragma_writable_schema(1)
-- ----
-- category: pragma (table-valued, not allowlisted); sqlite: refused
SELECT * FROM pragma_integrity_check
-- ----
-- category: reindex; sqlite: refused; postgres: refused|parse; note: PostgreSQL REINDEX syntax differs from SQLite's; refused or unparseable, never run
REINDEX
-- ----
-- category: reindex; sqlite: refused
REINDEX orders_customer
-- ----
-- category: analyze; sqlite: refused; postgres: refused
ANALYZE
-- ----
-- category: analyze; sqlite: refused; postgres: refused
ANALYZE customers
