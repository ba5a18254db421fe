-- ICU vitals: per-patient one-minute windows, and an alert table of the windows where a
-- patient's oxygen saturation stayed low.
-- Run as a service:  streamsql run examples/icu_vitals/pipeline.sql --http 8088 --define low_spo2=90
CREATE STREAM vitals (patient_id STRING KEY, ts BIGINT, heart_rate INT, spo2 DOUBLE, ward STRING)
  WITH (kafka_topic = 'vitals', partitions = 2, value_format = 'JSON', timestamp = 'ts');

-- Every reading updates its patient's current minute; windows are kept two hours for pull
-- queries (without RETENTION they would go once the grace period is over).
CREATE TABLE vitals_per_minute AS
  SELECT patient_id,
         COUNT(*) AS readings,
         AVG(heart_rate) AS avg_hr,
         MAX(heart_rate) AS max_hr,
         MIN(spo2) AS min_spo2
  FROM vitals WINDOW TUMBLING (SIZE 1 MINUTE, RETENTION 2 HOURS, GRACE PERIOD 10 SECONDS)
  GROUP BY patient_id
  EMIT CHANGES;

-- A window is an alert once three of its readings are below the threshold.
CREATE TABLE spo2_alerts AS
  SELECT patient_id,
         COUNT(*) AS low_readings,
         MIN(spo2) AS lowest_spo2
  FROM vitals WINDOW TUMBLING (SIZE 1 MINUTE, RETENTION 2 HOURS, GRACE PERIOD 10 SECONDS)
  WHERE spo2 < ${low_spo2}
  GROUP BY patient_id
  HAVING COUNT(*) >= 3
  EMIT CHANGES;
