"""The `streamsql` shell: a prompt-toolkit REPL over a Session (the embedded engine, or a
server's REST API with --server) and the rendering of results for the terminal."""
