"""labels.IdIndex: prediction ids matched a batch at a time against sorted hashes, checked against a dict lookup."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from apps.monitoring import labels


@pytest.fixture(params=["sorted hashes", "hash join"], autouse=True)
def lookup(request, monkeypatch):
    """Every test runs both ways ``positions`` looks values up: through the sorted hashes, and straight through
    Arrow's hash join (chosen by the index's size against the values')."""
    monkeypatch.setattr(labels.IdIndex, "DIRECT_RATIO", 0 if request.param == "sorted hashes" else 10**9)
    return request.param


def expected(index_ids: list[str], values: list[str]) -> list[int]:
    where = {value: position for position, value in enumerate(index_ids)}
    return [where.get(value, -1) for value in values]


def random_ids(rng, count: int) -> list[str]:
    alphabet = list("abcxyz019-_éß")
    ids = {"".join(rng.choice(alphabet, size=int(rng.integers(0, 12)))) for _ in range(count)}
    return sorted(ids)


@pytest.mark.parametrize("seed", range(5))
def test_positions_are_a_dict_lookup(seed):
    rng = np.random.default_rng(seed)
    ids = random_ids(rng, 3000)
    rng.shuffle(ids)
    values = [*rng.choice(ids, size=2000).tolist(), *(f"absent-{n}" for n in range(300))]
    rng.shuffle(values)

    found = labels.IdIndex(pa.array(ids)).positions(pa.array(values))

    assert found.tolist() == expected(ids, values)


def shared_hashes(ids):
    """A hash that makes most ids share one with others: their length modulo 3."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    return np.asarray(pc.utf8_length(labels._text(ids)).to_numpy(zero_copy_only=False) % 3, dtype=np.uint64)


@pytest.mark.parametrize("seed", range(3))
def test_ids_that_share_a_hash_are_still_told_apart(monkeypatch, seed):
    monkeypatch.setattr(labels, "id_hashes", shared_hashes)
    rng = np.random.default_rng(seed)
    ids = [f"p{n}" for n in rng.permutation(5000)]  # three hashes for 5,000 ids
    values = [*rng.choice(ids, size=800).tolist(), "p5000", "q1", "", "p12345"]

    found = labels.IdIndex(pa.array(ids)).positions(pa.array(values))

    assert found.tolist() == expected(ids, values)


def test_the_lookup_is_chosen_by_the_index_s_size_against_the_values_(monkeypatch):
    monkeypatch.setattr(labels.IdIndex, "DIRECT_RATIO", 2)  # the shipped ratio
    index = labels.IdIndex(pa.array([f"p{n}" for n in range(100)]))
    assert index.positions(pa.array(["p7"] * 50)).tolist() == [7] * 50 and index.sorted is None
    assert index.positions(pa.array(["p7", "p99", "q"])).tolist() == [7, 99, -1] and index.sorted is not None


def test_the_filter_keeps_every_id_of_the_index_and_drops_most_others():
    ids = pa.array([f"prediction-{n:08d}" for n in range(100_000)])
    index = labels.IdIndex(ids)
    index._sort()  # the hashes sorted and their filter built, as the first lookup through them does
    absent = pa.array([f"prediction-{n:08d}" for n in range(100_000, 300_000)])

    assert index._may_hold(labels.id_hashes(ids)).all()
    passed = index._may_hold(labels.id_hashes(absent)).mean()
    assert passed < 0.06, passed  # one bit in 32 per id: about 3%
    assert (index.positions(absent) == -1).all()


def test_a_hash_of_one_id_that_a_different_value_shares_is_no_match(monkeypatch):
    monkeypatch.setattr(labels, "id_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    index = labels.IdIndex(pa.array(["only"]))
    assert index.positions(pa.array(["only", "other", "onl"])).tolist() == [0, -1, -1]


def test_the_stored_forms_of_ids_are_matched_alike():
    ids = ["a", "b", "c", "long" * 100]
    index = labels.IdIndex(pa.chunked_array([pa.array(ids[:2]), pa.array(ids[2:])]))
    for values in (pa.array(["c", "a", "z"], pa.large_string()),
                   pa.array(["c", "a", "z"]).dictionary_encode(),
                   pa.chunked_array([pa.array(["c"]), pa.array(["a", "z"])])):
        assert index.positions(values).tolist() == [2, 0, -1]
    assert labels.IdIndex(pa.array([], pa.string())).positions(pa.array(["a"])).tolist() == [-1]
    assert index.positions(pa.array([], pa.string())).tolist() == []


def test_the_id_hash_tells_ids_apart_and_matches_equal_ones():
    ids = pa.array(["a", "b", "ab", "ba", "", "é", "a", "p" * 800])
    hashes = labels.id_hashes(ids)
    assert hashes[0] == hashes[6] and len(set(hashes.tolist())) == 7
    assert (labels.id_hashes(ids.slice(1, 3)) == hashes[1:4]).all()  # an offset array hashes the same


def test_hashes_are_defined_past_the_longest_id_ingest_accepts():
    long = pa.array(["x" * 5000, "x" * 5000, "x" * 4999 + "y"])
    hashes = labels.id_hashes(long)
    assert hashes[0] == hashes[1] and hashes[0] != hashes[2]


def test_the_label_join_is_exact_when_every_id_shares_one_hash(monkeypatch):
    import pandas as pd

    monkeypatch.setattr(labels, "id_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    late = labels.LateLabels([pd.DataFrame({"id": ["p3", "p1"], "y": [1, 0]}),
                              pd.DataFrame({"id": ["p7"], "y": [1]})], id_column="id", target_column="y")
    joined = late.join(pd.DataFrame({"id": [f"p{n}" for n in range(9)]}))
    assert joined["y"].tolist()[:4] == [pytest.approx(np.nan, nan_ok=True), 0.0,
                                        pytest.approx(np.nan, nan_ok=True), 1.0]
    assert joined["y"].notna().tolist() == [n in (1, 3, 7) for n in range(9)]
    assert joined.loc[7, "y"] == 1.0
