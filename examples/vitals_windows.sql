-- Per-patient vitals over 1-minute tumbling windows, kept as a table in DuckDB state.
-- Afterwards, query the table's current rows:
--   streamsql -e "SELECT * FROM vitals_per_minute WHERE patient_id = 'p-17';"
SET 'auto.offset.reset' = 'earliest';

CREATE STREAM vitals (patient_id STRING KEY, heart_rate INT, spo2 DOUBLE)
  WITH (kafka_topic = 'vitals', partitions = 1, value_format = 'JSON');

INSERT INTO vitals (patient_id, heart_rate, spo2, ROWTIME) VALUES ('p-17', 72, 98.5, 0);
INSERT INTO vitals (patient_id, heart_rate, spo2, ROWTIME) VALUES ('p-17', 131, 91.0, 20000);
INSERT INTO vitals (patient_id, heart_rate, spo2, ROWTIME) VALUES ('p-04', 48, 88.2, 30000);
INSERT INTO vitals (patient_id, heart_rate, spo2, ROWTIME) VALUES ('p-17', 90, 95.0, 70000);

CREATE TABLE vitals_per_minute AS
  SELECT patient_id, COUNT(*) AS readings, AVG(heart_rate) AS avg_hr, MIN(spo2) AS min_spo2
  FROM vitals WINDOW TUMBLING (SIZE 1 MINUTE)
  GROUP BY patient_id
  EMIT CHANGES;

SELECT patient_id, readings, avg_hr, min_spo2 FROM vitals_per_minute EMIT CHANGES LIMIT 3;
