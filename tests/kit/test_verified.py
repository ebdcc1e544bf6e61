"""What a signature check concluded is kept per exact token until the token expires, bounded."""

from __future__ import annotations

from seecodes.kit.verified import VerifiedTokens


def test_a_kept_conclusion_is_returned_only_for_the_same_token_before_it_expires() -> None:
    kept: VerifiedTokens[str] = VerifiedTokens()
    kept.keep("token", "scope", expires_at=100.0)
    assert kept.get("token", now=99.9) == "scope"
    assert kept.get("token ", now=1.0) is None  # one byte more is another token
    assert kept.get("tokeN", now=1.0) is None
    assert kept.get("token", now=100.0) is None  # expired: gone
    assert kept.get("token", now=1.0) is None


def test_the_store_is_bounded_and_drops_the_oldest() -> None:
    kept: VerifiedTokens[int] = VerifiedTokens(max_entries=3)
    for n in range(5):
        kept.keep(f"t{n}", n, expires_at=10.0)
    assert [kept.get(f"t{n}", now=0.0) for n in range(5)] == [None, None, 2, 3, 4]
