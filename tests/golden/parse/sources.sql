-- CREATE STREAM / TABLE with columns, constraints and properties
CREATE STREAM pageviews (viewtime BIGINT, `userId` VARCHAR KEY, page STRING, h BYTES HEADER('trace'))
  WITH (kafka_topic='pageviews', value_format='JSON', partitions=4);
CREATE OR REPLACE SOURCE TABLE IF NOT EXISTS users (id INT PRIMARY KEY, tags ARRAY<STRING>,
  address STRUCT<street STRING, zip DECIMAL(5, 0)>, scores MAP<STRING, DOUBLE>, hs ARRAY<STRUCT<key STRING, value BYTES>> HEADERS)
  WITH (kafka_topic='users', format='JSON', window_type='Tumbling', window_size='30 seconds');
CREATE TYPE IF NOT EXISTS address AS STRUCT<number INTEGER, street VARCHAR>;
DROP TYPE IF EXISTS address;
ALTER STREAM pageviews ADD COLUMN referrer STRING, ADD ip STRING;
DROP TABLE IF EXISTS users DELETE TOPIC
