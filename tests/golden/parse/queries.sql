/* persistent queries: windows, joins, grouping */
CREATE TABLE counts WITH (kafka_topic='counts') AS
  SELECT region, COUNT(*) AS n, LATEST_BY_OFFSET(amount, 2) FROM orders
  WINDOW TUMBLING (SIZE 1 HOUR, RETENTION 2 DAYS, GRACE PERIOD 10 MINUTES)
  WHERE amount > 0 GROUP BY region HAVING COUNT(*) > 1 EMIT FINAL;
CREATE STREAM enriched AS SELECT o.id, c.name, o->total, o.*, s->*
  FROM orders AS o LEFT OUTER JOIN customers c WITHIN (1 SECOND, 2 MINUTES) GRACE PERIOD 1 MINUTE ON o.cid = c.id
  FULL JOIN shipments s WITHIN 1 HOUR ON o.id = s.order_id
  PARTITION BY o.id;
INSERT INTO enriched SELECT * FROM other WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE BY 10 SECONDS) GROUP BY (a, b);
SELECT * FROM counts WINDOW SESSION (5 MINUTES) EMIT CHANGES LIMIT 10;
INSERT INTO users (id, name) VALUES (1, 'it''s');
ASSERT VALUES users (id) VALUES (-1)
