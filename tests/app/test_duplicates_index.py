"""The near-duplicate index against moto's DynamoDB: queries only, a bounded number read."""

import random

from chalicelib import duplicates
from chalicelib.imaging import fingerprint

AT = "2026-12-02T01:00:00.000Z"


def _flip(value: int, *bits: int) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def test_an_image_within_the_distance_is_found_and_others_are_not(resources, calls):
    base = 0x0F0F_3C3C_A5A5_9696
    duplicates.index("near", _flip(base, 3, 17, 30, 40, 63), "alice", None, AT)
    duplicates.index("far", _flip(base, *range(0, 64, 4)), "alice", None, AT)
    duplicates.index("elsewhere", base, "bob", None, AT)
    calls.clear()
    near, examined, queries = duplicates.candidates("new", base, duplicates.scopes("alice", None))
    assert near == {"near": 5}
    assert queries == fingerprint.BANDS
    assert examined <= queries * duplicates.PER_BAND
    assert set(calls) == {"Query"}


def test_a_collection_is_its_own_scope_and_leaving_it_removes_its_bands(resources):
    value = 0x1234_5678_9ABC_DEF0
    duplicates.index("mine", value, "alice", "trip", AT)
    by_collection = duplicates.scopes("carol", "trip")[1:]
    assert duplicates.candidates("new", value, by_collection)[0] == {"mine": 0}
    duplicates.index("mine", value, "alice", None, AT)
    assert duplicates.candidates("new", value, by_collection)[0] == {}
    assert duplicates.candidates("new", value, duplicates.scopes("alice", None))[0] == {"mine": 0}


def test_a_large_library_costs_a_bounded_number_of_items(resources):
    rng = random.Random(22)
    for number in range(100):
        duplicates.index(f"img{number}", rng.getrandbits(64), "alice", None, AT)
    # A library of copies of one picture: every band of every copy collides.
    for number in range(30):
        duplicates.index(
            f"copy{number:02}", 0xFFFF_0000_FFFF_0000, "alice", None, f"{AT}{number:02}"
        )
    near, examined, _ = duplicates.candidates(
        "new", 0xFFFF_0000_FFFF_0000, duplicates.scopes("alice", None)
    )
    assert examined <= fingerprint.BANDS * duplicates.PER_BAND
    assert set(near) == {f"copy{number:02}" for number in range(30 - duplicates.PER_BAND, 30)}
