"""The streamsql benchmark suite (issue 6): `python -m benchmarks` runs it; see README."""
