SELECT id, cast(amount as NULL) FROM orders;
