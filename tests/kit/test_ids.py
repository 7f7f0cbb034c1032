"""Ids follow creation order, also within one millisecond."""
from kehu.kit.ids import new_id


def test_ids_are_strictly_increasing_and_unique():
    ids = [new_id() for _ in range(20000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and all(len(i) == 32 for i in ids)
