CREATE TABLE INPUT (ID INT KEY, NAME STRING) WITH (kafka_topic='input', value_format='JSON');
