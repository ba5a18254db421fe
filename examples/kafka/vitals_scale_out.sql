-- Run on a Kafka cluster, as many processes as you like with one service id:
--   streamsql run examples/kafka/vitals_scale_out.sql --config-file examples/kafka/ksql.properties
-- Each process gets a share of the 4 partitions of `vitals`; when one stops or dies, the
-- others take its partitions over from the last committed offsets.
CREATE STREAM vitals (patient_id STRING KEY, heart_rate INT, spo2 DOUBLE, ward STRING)
  WITH (kafka_topic = 'vitals', partitions = 4, value_format = 'JSON');

CREATE STREAM low_spo2 WITH (kafka_topic = 'low_spo2', retention_ms = 604800000) AS
  SELECT patient_id, ward, spo2
  FROM vitals
  WHERE spo2 < 90
  EMIT CHANGES;
