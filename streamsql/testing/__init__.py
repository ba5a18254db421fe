"""`streamsql test`: ksqlDB QTT files and ksql-test-runner files in, one verdict per run out.

    QTT .json --loader--> Run --runner--> fresh Engine: topics, statements, inputs
                                              |  (testdata: test data <-> bytes)
                                              v
                          Outcome <--compare/post/expected_errors-- outputs, catalog, error
                             |
                       report (lines, summary, --json)  <--command-- argv, worker processes
"""
