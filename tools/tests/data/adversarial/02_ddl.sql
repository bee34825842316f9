-- category: ddl; sqlite: refused; postgres: refused
DROP TABLE customers
-- ----
-- category: ddl; sqlite: refused; postgres: refused
DROP TABLE IF EXISTS orders
-- ----
-- category: ddl; sqlite: refused; postgres: refused
DROP VIEW big_spenders
-- ----
-- category: ddl; sqlite: refused; postgres: refused
DROP INDEX orders_customer
-- ----
-- category: ddl; sqlite: refused; postgres: refused
DROP TRIGGER customers_audit
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE TABLE evil (x INTEGER)
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE TABLE IF NOT EXISTS evil AS SELECT * FROM customers
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE TEMP TABLE scratch (x integer)
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE TEMPORARY TABLE scratch AS SELECT 1 AS x
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE VIEW evil_view AS SELECT * FROM customers
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE TEMP VIEW evil_view AS SELECT 1
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE INDEX evil_index ON customers (name)
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE UNIQUE INDEX IF NOT EXISTS evil_index ON customers (id)
-- ----
-- category: ddl (trigger); sqlite: refused|parse; postgres: refused|parse; note: sqlparser may not parse a trigger body; the fallback refuses anything that does not start with a read keyword
CREATE TRIGGER evil AFTER INSERT ON audit BEGIN DELETE FROM customers; END
-- ----
-- category: ddl (trigger); sqlite: refused|parse; note: sqlparser may not parse a trigger body; the fallback refuses anything that does not start with a read keyword
CREATE TEMP TRIGGER evil BEFORE DELETE ON customers BEGIN SELECT 1; END
-- ----
-- category: ddl (virtual table); sqlite: refused
CREATE VIRTUAL TABLE evil USING fts5(body)
-- ----
-- category: ddl (virtual table); sqlite: refused
CREATE VIRTUAL TABLE temp.evil USING rtree(id, a, b)
-- ----
-- category: ddl; sqlite: refused; postgres: refused
ALTER TABLE customers RENAME TO clients
-- ----
-- category: ddl; sqlite: refused; postgres: refused
ALTER TABLE customers ADD COLUMN secret TEXT
-- ----
-- category: ddl; sqlite: refused; postgres: refused
ALTER TABLE customers RENAME COLUMN name TO full_name
-- ----
-- category: ddl; sqlite: refused; postgres: refused
ALTER TABLE orders DROP COLUMN note
-- ----
-- category: ddl; sqlite: refused; postgres: refused
DROP TABLE customers; DROP TABLE orders
-- ----
-- category: ddl (quoted names); sqlite: refused; postgres: refused
DROP TABLE "customers"
-- ----
-- category: ddl (quoted names); sqlite: refused
DROP TABLE [customers]
-- ----
-- category: ddl (quoted names); sqlite: refused
DROP TABLE `customers`
-- ----
-- category: ddl; sqlite: refused; postgres: refused
CREATE TABLE "SELECT" (x integer)
-- ----
-- category: ddl (schema); sqlite: refused|parse; postgres: refused; note: SQLite has no CREATE SCHEMA; refused or unparseable, never run
CREATE SCHEMA evil
-- ----
-- category: ddl; sqlite: refused; postgres: refused
DROP TABLE IF EXISTS no_such_table
