from __future__ import annotations

from seecodes.kit.secrets import display_prefix, hash_secret, new_secret, same_secret


def test_display_prefix_shows_four_random_characters_even_when_they_contain_underscores() -> None:
    assert display_prefix("av_inst_a_b_cdefgh", "av_inst_") == "av_inst_a_b_…"


def test_new_secrets_carry_256_bits_and_their_prefix() -> None:
    secrets = {new_secret("sc_x_") for _ in range(100)}

    assert len(secrets) == 100
    assert all(s.startswith("sc_x_") and len(s) == len("sc_x_") + 43 for s in secrets)


def test_same_secret_compares_against_the_stored_hash() -> None:
    secret = new_secret("sc_x_")

    assert same_secret(secret, hash_secret(secret))
    assert not same_secret(secret + "a", hash_secret(secret))
