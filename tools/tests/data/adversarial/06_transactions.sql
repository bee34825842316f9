-- category: transaction; sqlite: refused; postgres: refused
BEGIN
-- ----
-- category: transaction; sqlite: refused; postgres: refused
BEGIN TRANSACTION
-- ----
-- category: transaction; sqlite: refused
BEGIN IMMEDIATE
-- ----
-- category: transaction; sqlite: refused
BEGIN EXCLUSIVE TRANSACTION
-- ----
-- category: transaction; sqlite: refused; postgres: refused
COMMIT
-- ----
-- category: transaction; sqlite: refused; postgres: refused
END
-- ----
-- category: transaction; sqlite: refused; postgres: refused
ROLLBACK
-- ----
-- category: transaction; sqlite: refused; postgres: refused
SAVEPOINT s1
-- ----
-- category: transaction; sqlite: refused; postgres: refused
RELEASE SAVEPOINT s1
-- ----
-- category: transaction; sqlite: refused; postgres: refused
ROLLBACK TO SAVEPOINT s1
-- ----
-- category: transaction; sqlite: refused; postgres: refused
BEGIN; DELETE FROM customers; COMMIT
-- ----
-- category: transaction; sqlite: refused; postgres: refused
COMMIT; DELETE FROM customers
-- ----
-- category: transaction; sqlite: refused; postgres: refused
START TRANSACTION READ WRITE
-- ----
-- category: transaction; sqlite: refused; postgres: refused
SELECT 1; COMMIT; BEGIN READ WRITE; DELETE FROM customers
