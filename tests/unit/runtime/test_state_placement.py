"""Which local state a process keeps when the group gives it a partition (the rest is
restored from the changelog): at-least-once, state at or past the group's commit;
exactly-once, state at exactly the commit."""
from streamsql.runtime.changelog import is_state_current


def test_at_least_once_keeps_local_state_at_or_past_the_group_commit():
    assert is_state_current(100, 100, exactly_once=False)
    assert is_state_current(120, 100, exactly_once=False)  # died before the group commit
    assert not is_state_current(80, 100, exactly_once=False)  # another process went on
    assert not is_state_current(None, 100, exactly_once=False)  # never had it
    assert not is_state_current(100, None, exactly_once=False)


def test_exactly_once_keeps_local_state_only_at_the_group_commit():
    assert is_state_current(100, 100, exactly_once=True)
    assert not is_state_current(120, 100, exactly_once=True)  # its transaction was aborted
    assert not is_state_current(80, 100, exactly_once=True)
    assert not is_state_current(100, None, exactly_once=True)


def test_a_partition_nobody_processed_has_empty_state_to_keep():
    assert is_state_current(None, None, exactly_once=False)
    assert is_state_current(None, None, exactly_once=True)
