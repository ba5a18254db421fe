SELECT
  a + b * -c % 2 - (d - e),
  NOT x AND y OR z,
  v BETWEEN 1 AND 10, v NOT IN (1, 2.50, 1.5E3), s NOT LIKE 'a!%' ESCAPE '!',
  n IS NULL, n IS NOT DISTINCT FROM m, x <> y, x != y,
  CASE WHEN a = 1 THEN 'one' ELSE 'many' END, CASE a WHEN 1 THEN 'one' END,
  CAST(x AS DECIMAL(10, 2)), arr[1], m['k'], s->inner->leaf,
  ARRAY[1, 2], MAP('k' := 1), STRUCT(name := 'n', `Age` := 3),
  TRANSFORM(xs, x => x + 1), REDUCE(xs, 0, (acc, x) => acc + x),
  COUNT(DISTINCT id), TIMESTAMPADD(SECONDS, 5, ts), "quoted""name", 1Col
FROM t
