-- category: copy; sqlite: refused|parse; postgres: refused; note: COPY is PostgreSQL only
COPY customers TO '/tmp/learnat-adversarial-copy.csv'
-- ----
-- category: copy; sqlite: refused|parse; postgres: refused; note: COPY is PostgreSQL only
COPY customers FROM '/etc/passwd'
-- ----
-- category: copy; sqlite: refused|parse; postgres: refused; note: COPY is PostgreSQL only
COPY (SELECT * FROM customers) TO PROGRAM 'cat > /tmp/learnat-adversarial-program'
-- ----
-- category: do; sqlite: refused|parse; postgres: refused|parse; note: DO blocks are PostgreSQL only; sqlparser may not parse them, and the fallback is SQLite only
DO $$ BEGIN DELETE FROM customers; END $$
-- ----
-- category: call; sqlite: refused|parse; postgres: refused; note: CALL is PostgreSQL only
CALL evil_procedure()
-- ----
-- category: set; sqlite: refused|parse; postgres: refused; note: SET is PostgreSQL only
SET statement_timeout = 0
-- ----
-- category: set; sqlite: refused|parse; postgres: refused; note: SET is PostgreSQL only
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE
-- ----
-- category: set; sqlite: refused|parse; postgres: refused; note: SET is PostgreSQL only
SET default_transaction_read_only = off
-- ----
-- category: reset; sqlite: refused|parse; postgres: refused; note: RESET is PostgreSQL only
RESET ALL
-- ----
-- category: set_config; sqlite: refused|sql; postgres: refused; note: set_config is not a SQLite function
SELECT set_config('transaction_read_only', 'off', true)
-- ----
-- category: pg_sleep; sqlite: refused|sql; postgres: refused; note: pg_sleep is not a SQLite function
SELECT pg_sleep(10)
-- ----
-- category: pg_sleep; sqlite: refused|sql; postgres: refused; note: pg_sleep is not a SQLite function
SELECT pg_catalog.pg_sleep_for('10 seconds')
-- ----
-- category: file access; sqlite: refused|sql; postgres: refused; note: pg_read_file is not a SQLite function
SELECT pg_read_file('/etc/passwd')
-- ----
-- category: file access; sqlite: refused|sql; postgres: refused; note: pg_ls_dir is not a SQLite function
SELECT * FROM pg_ls_dir('/')
-- ----
-- category: large objects; sqlite: refused|sql; postgres: refused; note: lo_import is not a SQLite function
SELECT lo_import('/etc/passwd')
-- ----
-- category: large objects; sqlite: refused|sql; postgres: refused; note: lo_export is not a SQLite function
SELECT lo_export(1, '/tmp/learnat-adversarial-lo')
-- ----
-- category: backend control; sqlite: refused|sql; postgres: refused; note: pg_terminate_backend is not a SQLite function
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
-- ----
-- category: backend control; sqlite: refused|sql; postgres: refused; note: pg_reload_conf is not a SQLite function
SELECT pg_reload_conf()
-- ----
-- category: sequences; sqlite: refused|sql; postgres: refused; note: nextval is not a SQLite function
SELECT nextval('customers_id_seq')
-- ----
-- category: advisory locks; sqlite: refused|sql; postgres: refused; note: pg_advisory_lock is not a SQLite function
SELECT pg_advisory_lock(42)
-- ----
-- category: dblink; sqlite: refused|sql; postgres: refused; note: dblink is not a SQLite function
SELECT * FROM dblink('dbname=learnat_test', 'DELETE FROM customers') AS t(x text)
-- ----
-- category: query_to_xml; sqlite: refused|sql; postgres: refused; note: query_to_xml is not a SQLite function
SELECT query_to_xml('DELETE FROM customers RETURNING *', true, false, '')
-- ----
-- category: select into; sqlite: refused|parse; postgres: refused; note: SELECT INTO is PostgreSQL only
SELECT id, name INTO TEMP stolen FROM customers
-- ----
-- category: locking; sqlite: refused|parse; postgres: refused; note: FOR UPDATE is PostgreSQL only
SELECT * FROM customers FOR UPDATE
-- ----
-- category: locking; sqlite: refused|parse; postgres: refused; note: FOR SHARE is PostgreSQL only
SELECT * FROM customers WHERE id = 1 FOR SHARE NOWAIT
-- ----
-- category: locking; sqlite: refused|parse; postgres: refused; note: LOCK is PostgreSQL only
LOCK TABLE customers IN ACCESS EXCLUSIVE MODE
-- ----
-- category: truncate; sqlite: refused|parse; postgres: refused; note: TRUNCATE is PostgreSQL only
TRUNCATE customers
-- ----
-- category: grant; sqlite: refused|parse; postgres: refused; note: GRANT is PostgreSQL only
GRANT ALL ON customers TO PUBLIC
-- ----
-- category: prepare; sqlite: refused|parse; postgres: refused; note: PREPARE is PostgreSQL only
PREPARE evil AS DELETE FROM customers
-- ----
-- category: listen/notify; sqlite: refused|parse; postgres: refused; note: NOTIFY is PostgreSQL only
NOTIFY evil
-- ----
-- category: data-modifying cte; sqlite: refused|parse; postgres: refused; note: PostgreSQL allows writes in WITH; SQLite does not
WITH moved AS (DELETE FROM orders WHERE id < 100 RETURNING *) INSERT INTO audit SELECT note FROM moved
-- ----
-- category: data-modifying cte (nested); sqlite: refused|parse; postgres: refused; note: PostgreSQL allows writes in WITH; SQLite does not
SELECT * FROM (WITH d AS (DELETE FROM audit RETURNING *) SELECT * FROM d) AS x
-- ----
-- category: explain analyze of a write; sqlite: refused|sql; postgres: refused; note: EXPLAIN ANALYZE runs the statement in PostgreSQL; SQLite has no EXPLAIN (options) syntax, so its own parser rejects it in the fallback
EXPLAIN (ANALYZE) DELETE FROM customers
-- ----
-- category: cartesian product (generate_series); sqlite: sql|refused; postgres: timeout; note: generate_series is a table-valued function SQLite's bundled build lacks
SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b
-- ----
-- category: string bomb; sqlite: sql|resource_limit; postgres: sql|resource_limit|timeout; note: repeat is not a SQLite function; PostgreSQL reports an oversized string as a plain SQL error
SELECT length(repeat(repeat('x', 100000000), 100))
