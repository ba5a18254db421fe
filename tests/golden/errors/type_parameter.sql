CREATE STREAM INPUT (K STRING (KEY)) WITH (kafka_topic='input', value_format='JSON');
