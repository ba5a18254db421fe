SELECT * FROM orders ORDER BY id;
