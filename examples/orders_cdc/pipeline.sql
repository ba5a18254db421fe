-- Orders CDC: change events from an orders database become a table you can query, and a
-- per-customer table that follows every change (an update retracts the order's old amount).
-- Run as a service:  streamsql run examples/orders_cdc/pipeline.sql --http 8088
CREATE STREAM order_changes (order_id STRING KEY, op STRING, customer STRING, status STRING,
                             amount DOUBLE, changed_at BIGINT)
  WITH (kafka_topic = 'order_changes', partitions = 2, value_format = 'JSON',
        timestamp = 'changed_at');

-- The current row of each order: the latest change wins.
CREATE TABLE orders AS
  SELECT order_id,
         LATEST_BY_OFFSET(customer) AS customer,
         LATEST_BY_OFFSET(status) AS status,
         LATEST_BY_OFFSET(amount) AS amount
  FROM order_changes
  GROUP BY order_id
  EMIT CHANGES;

-- Open orders per customer, over the orders table: a status change moves the order's amount.
CREATE TABLE open_orders_per_customer AS
  SELECT customer,
         COUNT(*) AS open_orders,
         SUM(amount) AS open_amount
  FROM orders
  WHERE status <> 'SHIPPED' AND status <> 'CANCELLED'
  GROUP BY customer
  EMIT CHANGES;
