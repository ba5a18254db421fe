SELECT * FROM orders WHERE name = 'bob;
