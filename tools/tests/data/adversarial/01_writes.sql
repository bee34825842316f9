-- category: write; sqlite: refused; postgres: refused
DELETE FROM customers
-- ----
-- category: write; sqlite: refused; postgres: refused
DELETE FROM customers WHERE id = 1
-- ----
-- category: write; sqlite: refused; postgres: refused
delete from customers where id in (select customer_id from orders)
-- ----
-- category: write; sqlite: refused; postgres: refused
DELETE FROM orders RETURNING *
-- ----
-- category: write; sqlite: refused; postgres: refused
INSERT INTO customers (id, name) VALUES (999999, 'intruder')
-- ----
-- category: write; sqlite: refused; postgres: refused
INSERT INTO customers SELECT * FROM customers
-- ----
-- category: write; sqlite: refused; postgres: refused
INSERT INTO customers DEFAULT VALUES
-- ----
-- category: write; sqlite: refused; postgres: refused
INSERT INTO items (id, label) VALUES (1, 'x') RETURNING id
-- ----
-- category: write; sqlite: refused
INSERT OR REPLACE INTO customers (id, name) VALUES (1, 'replaced')
-- ----
-- category: write; sqlite: refused
INSERT OR IGNORE INTO customers (id, name) VALUES (1, 'ignored')
-- ----
-- category: write; sqlite: refused
REPLACE INTO customers (id, name) VALUES (1, 'replaced')
-- ----
-- category: write; sqlite: refused
replace into items values (1, 'x', null)
-- ----
-- category: write (upsert); sqlite: refused; postgres: refused
INSERT INTO customers (id, name) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = excluded.name
-- ----
-- category: write (upsert); sqlite: refused; postgres: refused
INSERT INTO customers (id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING
-- ----
-- category: write; sqlite: refused; postgres: refused
UPDATE customers SET name = 'owned'
-- ----
-- category: write; sqlite: refused; postgres: refused
UPDATE customers SET city = NULL WHERE id > 10
-- ----
-- category: write; sqlite: refused
UPDATE OR REPLACE customers SET id = 1
-- ----
-- category: write; sqlite: refused; postgres: refused
UPDATE orders SET amount = amount * 2 FROM customers WHERE customers.id = orders.customer_id
-- ----
-- category: write (fires a trigger); sqlite: refused; postgres: refused
UPDATE customers SET name = name || '!' WHERE id = 1
-- ----
-- category: write; sqlite: refused; postgres: refused
WITH doomed AS (SELECT id FROM customers WHERE id < 10) DELETE FROM customers WHERE id IN (SELECT id FROM doomed)
-- ----
-- category: write; sqlite: refused; postgres: refused
WITH x AS (SELECT 1 AS id) INSERT INTO customers (id, name) SELECT id + 100000, 'cte' FROM x
-- ----
-- category: write; sqlite: refused; postgres: refused
WITH x AS (SELECT 1) UPDATE customers SET name = 'cte'
-- ----
-- category: write; sqlite: refused; postgres: refused
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) INSERT INTO audit SELECT i FROM n
-- ----
-- category: write; sqlite: refused; postgres: refused
INSERT INTO audit VALUES ('a'), ('b'), ('c')
-- ----
-- category: write; sqlite: refused; postgres: refused
DELETE FROM audit
-- ----
-- category: write (into a view); sqlite: refused; postgres: refused
DELETE FROM big_spenders
-- ----
-- category: write (into a view); sqlite: refused; postgres: refused
INSERT INTO big_spenders VALUES ('x', 1)
-- ----
-- category: write (schema table); sqlite: refused
DELETE FROM sqlite_master
-- ----
-- category: write (schema table); sqlite: refused
UPDATE sqlite_master SET sql = 'CREATE TABLE customers (x)' WHERE name = 'customers'
-- ----
-- category: write (schema table); sqlite: refused
INSERT INTO sqlite_schema VALUES ('table', 'evil', 'evil', 0, 'CREATE TABLE evil (x)')
-- ----
-- category: write (qualified); sqlite: refused
DELETE FROM main.customers
-- ----
-- category: write (temp schema); sqlite: refused
INSERT INTO temp.audit VALUES ('x')
-- ----
-- category: write (lowercase, odd spacing); sqlite: refused; postgres: refused
   dElEtE
   fRoM
   customers
-- ----
-- category: write (merge); sqlite: refused|parse; postgres: refused; note: SQLite has no MERGE; sqlparser parses it and the gate refuses it
MERGE INTO customers c USING orders o ON c.id = o.customer_id WHEN MATCHED THEN DELETE
