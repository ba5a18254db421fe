SELECT id FROM orders
  WHERE amount > 10 EMIT CHANGE;
