-- category: control; sqlite: ok; postgres: ok
SELECT count(*) FROM customers
-- ----
-- category: control; sqlite: ok; postgres: ok
SELECT c.name, sum(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY total DESC LIMIT 5
-- ----
-- category: control (a view); sqlite: ok; postgres: ok
SELECT count(*) FROM big_spenders
-- ----
-- category: control; sqlite: ok; postgres: ok
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100) SELECT sum(x) FROM n
-- ----
-- category: control; sqlite: ok; postgres: ok
VALUES (1, 'a'), (2, 'b')
-- ----
-- category: control; sqlite: ok
EXPLAIN QUERY PLAN SELECT * FROM orders WHERE customer_id = 3
-- ----
-- category: control; sqlite: ok; postgres: ok
EXPLAIN SELECT * FROM orders WHERE customer_id = 3
-- ----
-- category: control (semicolon in a string); sqlite: ok; postgres: ok
SELECT 'a; DELETE FROM customers' AS text
-- ----
-- category: control (semicolon in a comment); sqlite: ok; postgres: ok
SELECT 1 /* ; DROP TABLE customers; */ -- ; DELETE FROM customers
-- ----
-- category: control (keyword as a quoted identifier); sqlite: ok; postgres: ok
SELECT name AS "DELETE" FROM customers LIMIT 1
-- ----
-- category: control (trailing semicolon); sqlite: ok; postgres: ok
SELECT id FROM customers WHERE id = 1;
-- ----
-- category: control (schema introspection); sqlite: ok
SELECT name, type FROM pragma_table_info('customers')
-- ----
-- category: control (schema introspection); sqlite: ok
SELECT * FROM pragma_foreign_key_list('orders')
-- ----
-- category: control (schema introspection); sqlite: ok
SELECT name, sql FROM sqlite_master WHERE type = 'table'
-- ----
-- category: control (SQLite syntax sqlparser rejects); sqlite: ok
SELECT id FROM customers NOT INDEXED WHERE id < 3
-- ----
-- category: control (a moderate blob); sqlite: ok
SELECT length(zeroblob(1000000))
-- ----
-- category: control (schema introspection); sqlite: skip; postgres: ok
SELECT table_name FROM information_schema.tables WHERE table_name = 'customers'
