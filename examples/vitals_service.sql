-- Run with: streamsql run examples/vitals_service.sql --define min_spo2=90
-- A service: the alerting query keeps running until SIGTERM/SIGINT and resumes after.
CREATE STREAM vitals (patient_id STRING KEY, heart_rate INT, spo2 DOUBLE, ward STRING)
  WITH (kafka_topic = 'vitals', partitions = 1, value_format = 'JSON');

CREATE STREAM low_spo2 WITH (kafka_topic = 'low_spo2') AS
  SELECT patient_id, ward, spo2
  FROM vitals
  WHERE spo2 < ${min_spo2}
  EMIT CHANGES;
