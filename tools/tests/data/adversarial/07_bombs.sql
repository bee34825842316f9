-- category: recursive cte bomb; sqlite: timeout; postgres: timeout
WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r
-- ----
-- category: recursive cte bomb; sqlite: timeout; postgres: timeout
WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT max(x) FROM r
-- ----
-- category: recursive cte bomb (distinct); sqlite: timeout; postgres: timeout
WITH RECURSIVE r(x) AS (SELECT 1 UNION SELECT x + 1 FROM r) SELECT sum(x) FROM r
-- ----
-- category: recursive cte bomb (sorted); sqlite: timeout; postgres: timeout
WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT x FROM r ORDER BY x DESC LIMIT 1
-- ----
-- category: recursive cte bomb (fan-out); sqlite: timeout; postgres: timeout
WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r, customers WHERE customers.id < 3) SELECT count(*) FROM r
-- ----
-- category: recursive cte string growth; sqlite: resource_limit|timeout; postgres: skip; slack_ms: 200; note: skipped on PostgreSQL, where a role without superuser cannot cap a backend's memory: the doubling string grows to the 1 GB limit, and on a 2-core CI machine the backend's gigabytes starve the statements after it past their bound (seen twice); on SQLite each step doubles a value of up to 16 MiB (the length limit) and stores it in the recursion queue inside one VM instruction, so the stop can land a step late on a loaded machine; PostgreSQL reports an oversized string as a plain SQL error
WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT length(s) FROM r
-- ----
-- category: cartesian product; sqlite: timeout; postgres: timeout
SELECT count(*) FROM customers a, customers b, customers c
-- ----
-- category: cartesian product; sqlite: timeout; postgres: timeout
SELECT count(*) FROM customers, orders, items
-- ----
-- category: cartesian product; sqlite: timeout; postgres: timeout
SELECT sum(a.id * b.id * c.id) FROM customers a CROSS JOIN orders b CROSS JOIN items c
-- ----
-- category: cartesian product (join on true); sqlite: timeout; postgres: timeout
SELECT count(*) FROM customers a JOIN orders b ON 1 = 1 JOIN items c ON 1 = 1
-- ----
-- category: cartesian product (sorted); sqlite: timeout; postgres: timeout
SELECT a.name, b.note FROM customers a, orders b, items c ORDER BY a.name || b.note DESC LIMIT 5
-- ----
-- category: big sort; sqlite: timeout; postgres: timeout
SELECT a.name || b.note AS k FROM customers a, orders b ORDER BY k DESC LIMIT 1
-- ----
-- category: big sort (random); sqlite: timeout; postgres: timeout
SELECT a.id FROM customers a, orders b, items c ORDER BY random() LIMIT 1
-- ----
-- category: big distinct; sqlite: timeout; postgres: timeout
SELECT count(DISTINCT a.id * 100000000 + b.id * 10000 + c.id) FROM customers a, orders b, items c
-- ----
-- category: big group by; sqlite: timeout; postgres: timeout
SELECT a.id, b.id, count(*) AS n FROM customers a, orders b, items c GROUP BY a.id, b.id ORDER BY n DESC LIMIT 1
-- ----
-- category: correlated subquery bomb; sqlite: timeout; postgres: timeout
SELECT count(*) FROM customers a WHERE (SELECT count(*) FROM orders b, items c WHERE b.id + c.id > a.id) > 0
-- ----
-- category: randomblob bomb; sqlite: resource_limit
SELECT randomblob(2000000000)
-- ----
-- category: randomblob bomb; sqlite: resource_limit
SELECT length(randomblob(2e9))
-- ----
-- category: randomblob bomb; sqlite: resource_limit|timeout
SELECT count(*) FROM customers a, customers b WHERE length(randomblob(1000000)) > 0
-- ----
-- category: zeroblob bomb; sqlite: resource_limit
SELECT zeroblob(10000000000)
-- ----
-- category: zeroblob bomb; sqlite: resource_limit
SELECT hex(zeroblob(100000000))
-- ----
-- category: zeroblob bomb; sqlite: resource_limit
SELECT length(zeroblob(1e10))
-- ----
-- category: printf bomb; sqlite: resource_limit
SELECT printf('%.*c', 2000000000, 'x')
-- ----
-- category: printf bomb; sqlite: resource_limit
SELECT printf('%2000000000d', 1)
-- ----
-- category: format bomb; sqlite: resource_limit
SELECT format('%0100000000s', 'x')
-- ----
-- category: replace bomb; sqlite: resource_limit
SELECT replace(hex(zeroblob(1000000)), '0', hex(zeroblob(1000)))
-- ----
-- category: replace bomb; sqlite: resource_limit
SELECT length(replace(replace(replace(hex(zeroblob(10000)), '0', '0000000000'), '0', '0000000000'), '0', '0000000000'))
-- ----
-- category: concatenation bomb; sqlite: resource_limit
SELECT hex(zeroblob(5000000)) || hex(zeroblob(5000000))
-- ----
-- category: group_concat bomb; sqlite: resource_limit|timeout; postgres: timeout|resource_limit|sql; note: PostgreSQL reports an oversized string as a plain SQL error
SELECT length(group_concat(a.name || b.name)) FROM customers a, customers b
-- ----
-- category: group_concat bomb; sqlite: resource_limit
SELECT length(group_concat(hex(zeroblob(100000)))) FROM customers
-- ----
-- category: string_agg bomb; sqlite: resource_limit; postgres: timeout|resource_limit|sql; note: PostgreSQL reports an oversized string as a plain SQL error
SELECT length(string_agg(hex(zeroblob(100000)), ',')) FROM customers
-- ----
-- category: json bomb; sqlite: resource_limit|timeout; note: SQLite's JSON aggregates check the length limit only when they return; the per-statement heap budget stops the accumulation
SELECT length(json_group_array(hex(zeroblob(100000)))) FROM customers
-- ----
-- category: deep nesting; sqlite: resource_limit; postgres: resource_limit
SELECT ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))
-- ----
-- category: deep nesting (subqueries); sqlite: resource_limit; postgres: resource_limit
SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT (SELECT 1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))
-- ----
-- category: deep nesting (unary operators); sqlite: resource_limit|sql; postgres: resource_limit|sql; note: a chain of unary minus may parse iteratively; SQLite then stops it at its expression-depth limit with a plain SQL error
SELECT - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - 1
-- ----
-- category: like bomb; sqlite: timeout; postgres: timeout
SELECT count(*) FROM customers a, customers b WHERE a.name || b.name LIKE '%1%2%3%4%5%6%7%8%9%'
-- ----
-- category: glob bomb; sqlite: resource_limit|timeout
SELECT count(*) FROM customers a, customers b WHERE a.name || b.name GLOB '*a*b*c*d*e*f*g*h*'
