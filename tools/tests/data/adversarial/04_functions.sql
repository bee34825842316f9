-- category: load_extension; sqlite: refused
SELECT load_extension('/tmp/evil.so')
-- ----
-- category: load_extension; sqlite: refused
SELECT load_extension('/tmp/evil.so', 'sqlite3_evil_init')
-- ----
-- category: load_extension; sqlite: refused
select LOAD_EXTENSION('libevil')
-- ----
-- category: load_extension (in a subquery); sqlite: refused
SELECT name FROM customers WHERE id = (SELECT load_extension('x'))
-- ----
-- category: load_extension (in a CTE); sqlite: refused
WITH x AS (SELECT load_extension('x') AS y) SELECT * FROM x
-- ----
-- category: load_extension (in ORDER BY); sqlite: refused
SELECT id FROM customers ORDER BY load_extension('x')
-- ----
-- category: file functions; sqlite: refused
SELECT writefile('/tmp/learnat-adversarial-writefile', 'owned')
-- ----
-- category: file functions; sqlite: refused
SELECT readfile('/etc/passwd')
-- ----
-- category: file functions; sqlite: refused
SELECT edit('text', 'vi')
-- ----
-- category: file functions; sqlite: refused
SELECT * FROM fsdir('/')
-- ----
-- category: file functions; sqlite: refused
SELECT * FROM zipfile('/tmp/x.zip')
-- ----
-- category: file functions; sqlite: refused
SELECT sqlar_compress(data) FROM items
-- ----
-- category: fts3_tokenizer; sqlite: refused
SELECT fts3_tokenizer('simple')
-- ----
-- category: fts3_tokenizer; sqlite: refused
SELECT fts3_tokenizer('evil', x'4141414141414141')
-- ----
-- category: file functions (union arm); sqlite: refused
SELECT name FROM customers UNION ALL SELECT readfile('/etc/shadow')
-- ----
-- category: file functions (case); sqlite: refused
SELECT CASE WHEN id = 1 THEN writefile('/tmp/x', name) END FROM customers
-- ----
-- category: dbpage; sqlite: refused|sql; note: sqlite_dbpage is not compiled into the bundled library, so it is an unknown table; the gate refuses it as a table function either way
SELECT * FROM sqlite_dbpage('main')
