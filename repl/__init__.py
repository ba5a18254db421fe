"""The interactive streamsql shell (prompt-toolkit) and result rendering for the terminal."""
