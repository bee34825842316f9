-- category: multi-statement; sqlite: refused; postgres: refused
SELECT 1; DELETE FROM customers
-- ----
-- category: multi-statement; sqlite: refused; postgres: refused
SELECT 1; DROP TABLE customers;
-- ----
-- category: multi-statement; sqlite: refused; postgres: refused
SELECT * FROM customers;DELETE FROM customers
-- ----
-- category: multi-statement; sqlite: refused; postgres: refused
SELECT 1;
DELETE FROM customers;
-- ----
-- category: multi-statement; sqlite: refused; postgres: refused
SELECT 1; SELECT 2
-- ----
-- category: multi-statement; sqlite: refused
SELECT 1; PRAGMA writable_schema = 1
-- ----
-- category: multi-statement; sqlite: refused
SELECT 1; ATTACH DATABASE ':memory:' AS x
-- ----
-- category: multi-statement; sqlite: refused
SELECT 1; VACUUM INTO '/tmp/learnat-adversarial-smuggled.sqlite'
-- ----
-- category: multi-statement (second unparseable by sqlparser); sqlite: refused
SELECT * FROM customers NOT INDEXED; DELETE FROM customers
-- ----
-- category: multi-statement (second unparseable by sqlparser); sqlite: refused
SELECT * FROM orders INDEXED BY orders_customer; DROP TABLE orders
-- ----
-- category: multi-statement (garbage tail); sqlite: refused|parse; postgres: refused|parse; note: the tail is not a statement; the text never reaches the engine as a single statement
SELECT 1; DELETE FROM customers WHERE
-- ----
-- category: multi-statement (write first); sqlite: refused; postgres: refused
DELETE FROM customers; SELECT 1
-- ----
-- category: multi-statement (comment between); sqlite: refused; postgres: refused
SELECT 1 /* harmless */; /* now */ DELETE FROM customers
-- ----
-- category: multi-statement (line comment before); sqlite: refused; postgres: refused
-- SELECT
DELETE FROM customers
-- ----
-- category: comment tricks; sqlite: refused; postgres: refused
/* SELECT */ DELETE FROM customers
-- ----
-- category: comment tricks; sqlite: refused; postgres: refused
SELECT 1 -- ; comment ends the line
; DELETE FROM customers
-- ----
-- category: comment tricks (nested comment differential); sqlite: refused|parse; postgres: ok; note: SQLite has no nested comments, so it sees a second statement and refuses; PostgreSQL (and sqlparser's PostgreSQL dialect) nest them, so the DELETE is inside the comment and only SELECT 1 runs
SELECT 1 /* /* */ ; DELETE FROM customers; -- */
-- ----
-- category: comment tricks; sqlite: refused; postgres: refused
DELETE/**/FROM/**/customers
-- ----
-- category: comment tricks (unterminated comment); sqlite: refused|parse; postgres: refused|parse; note: an unterminated comment does not tokenize; the gate never lets it through
SELECT 1; DELETE FROM customers /*
-- ----
-- category: comment tricks (mysql-style executable comment); sqlite: refused|parse; note: /*! ... */ is an ordinary comment in SQLite, leaving a DELETE behind
/*! SELECT 1 */ DELETE FROM customers
-- ----
-- category: string tricks; sqlite: refused; postgres: refused
SELECT ';'; DELETE FROM customers
-- ----
-- category: string tricks; sqlite: refused; postgres: refused
SELECT 'it''s'; DELETE FROM customers
-- ----
-- category: string tricks (backslash is no escape); sqlite: refused
SELECT 'a\'; DELETE FROM customers; --'
-- ----
-- category: string tricks (identifier containing a semicolon); sqlite: refused; postgres: refused
SELECT 1 AS "x;"; DELETE FROM customers
-- ----
-- category: quoting tricks; sqlite: refused; postgres: refused
DELETE FROM "customers"
-- ----
-- category: quoting tricks; sqlite: refused
DELETE FROM [customers]
-- ----
-- category: quoting tricks; sqlite: refused
DELETE FROM `customers`
-- ----
-- category: quoting tricks (quoted keyword is an identifier); sqlite: refused|parse; postgres: refused|parse; note: a quoted "DELETE" is a name, not a keyword; the text is not valid SQL
"DELETE" FROM customers
-- ----
-- category: quoting tricks (table named like a keyword); sqlite: refused; postgres: refused
INSERT INTO "select" VALUES (1)
-- ----
-- category: quoting tricks (unicode lookalike); sqlite: refused|parse; postgres: refused|parse; note: a fullwidth letter makes an unknown word; nothing runs
ＤELETE FROM customers
-- ----
-- category: quoting tricks (zero-width space); sqlite: refused|parse; postgres: refused|parse; note: the zero-width space makes an unknown word; nothing runs
DEL​ETE FROM customers
-- ----
-- category: cte-wrapped write; sqlite: refused; postgres: refused
WITH a AS (SELECT 1) DELETE FROM customers
-- ----
-- category: cte-wrapped write; sqlite: refused; postgres: refused
WITH RECURSIVE a(x) AS (SELECT 1) UPDATE customers SET name = 'x'
-- ----
-- category: cte-wrapped write; sqlite: refused; postgres: refused
WITH a AS (SELECT 1) INSERT INTO audit SELECT * FROM a
-- ----
-- category: cte-wrapped write; sqlite: refused|parse; postgres: refused; note: SQLite does not allow DELETE inside WITH; PostgreSQL does, and the gate refuses it
WITH d AS (DELETE FROM customers RETURNING id) SELECT count(*) FROM d
-- ----
-- category: cte-wrapped write; sqlite: refused|parse; postgres: refused; note: SQLite does not allow INSERT inside WITH; PostgreSQL does, and the gate refuses it
WITH i AS (INSERT INTO audit VALUES ('x') RETURNING *) SELECT * FROM i
-- ----
-- category: cte-wrapped write; sqlite: refused|parse; postgres: refused; note: SQLite does not allow UPDATE inside WITH; PostgreSQL does, and the gate refuses it
WITH u AS (UPDATE customers SET name = 'x' RETURNING id) SELECT 1
-- ----
-- category: explain of a write; sqlite: refused; postgres: refused
EXPLAIN DELETE FROM customers
-- ----
-- category: explain of a write; sqlite: refused
EXPLAIN QUERY PLAN UPDATE customers SET name = 'x'
-- ----
-- category: explain of a write; sqlite: refused; postgres: refused
EXPLAIN ANALYZE DELETE FROM customers
-- ----
-- category: explain of ddl; sqlite: refused; postgres: refused
EXPLAIN DROP TABLE customers
-- ----
-- category: parenthesised write; sqlite: refused|parse; postgres: refused|parse; note: a parenthesised DELETE is not valid SQL; it never runs
(DELETE FROM customers)
-- ----
-- category: subquery write; sqlite: refused|parse; postgres: refused|parse; note: a DELETE in a subquery is not valid SQL; it never runs
SELECT * FROM (DELETE FROM customers RETURNING *)
-- ----
-- category: values write; sqlite: refused; postgres: refused
VALUES (1); DELETE FROM customers
-- ----
-- category: select into; sqlite: refused|parse; postgres: refused; note: SELECT INTO is PostgreSQL (it creates a table); SQLite does not have it
SELECT * INTO stolen FROM customers
-- ----
-- category: empty; sqlite: refused; postgres: refused
;
-- ----
-- category: empty; sqlite: refused; postgres: refused
/* nothing here */
