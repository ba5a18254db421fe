"""The ksqlDB-compatible HTTP endpoint; the only package that imports the web stack.

    request -> routes.Endpoints -> Engine.execute -> Results -> wire (ksqlDB's JSON shapes)
                      |
                      +-> streams (push query rows and insert acks, chunk by chunk)

Entry points live in app.py: serve(engine, host, port), run_server(...), Server.
security.py guards requests (BASIC authentication) and holds the TLS settings; metrics.py
renders GET /metrics for Prometheus.
"""
