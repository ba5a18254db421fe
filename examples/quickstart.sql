-- A first pipeline: raw ICU vitals in, readings that need attention out.
SET 'auto.offset.reset' = 'earliest';

CREATE STREAM vitals (patient_id STRING KEY, heart_rate INT, spo2 DOUBLE, ward STRING)
  WITH (kafka_topic = 'vitals', partitions = 1, value_format = 'JSON');

INSERT INTO vitals (patient_id, heart_rate, spo2, ward) VALUES ('p-17', 72, 98.5, 'icu-2');
INSERT INTO vitals (patient_id, heart_rate, spo2, ward) VALUES ('p-04', 131, 91.0, 'icu-1');
INSERT INTO vitals (patient_id, heart_rate, spo2, ward) VALUES ('p-17', 76, 97.9, 'icu-2');
INSERT INTO vitals (patient_id, heart_rate, spo2, ward) VALUES ('p-22', 48, 88.2, 'icu-2');

CREATE STREAM alerts WITH (kafka_topic = 'alerts') AS
  SELECT patient_id,
         ward,
         heart_rate,
         spo2,
         CASE WHEN spo2 < 90 THEN 'LOW_SPO2'
              WHEN heart_rate > 120 THEN 'TACHYCARDIA'
              ELSE 'BRADYCARDIA' END AS reason
  FROM vitals
  WHERE heart_rate > 120 OR heart_rate < 50 OR spo2 < 90
  EMIT CHANGES;

SELECT patient_id, ward, reason FROM alerts EMIT CHANGES LIMIT 2;
