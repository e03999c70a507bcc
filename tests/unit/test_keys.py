from app.tenants import keys


def test_generated_key_parses_back_to_its_prefix_and_matches_its_hash() -> None:
    new = keys.generate_key()
    assert new.plaintext.startswith(f"hf_{new.prefix}_")
    assert keys.parse_prefix(new.plaintext) == new.prefix
    assert keys.matches(new.plaintext, new.key_hash)
    assert new.plaintext not in new.key_hash


def test_keys_are_unique_and_a_changed_character_does_not_match() -> None:
    a, b = keys.generate_key(), keys.generate_key()
    assert a.plaintext != b.plaintext and a.prefix != b.prefix
    tampered = a.plaintext[:-1] + ("A" if a.plaintext[-1] != "A" else "B")
    assert not keys.matches(tampered, a.key_hash)


def test_malformed_strings_have_no_prefix() -> None:
    for candidate in [
        "",
        "hf_",
        "hf_short_secret",
        "Bearer x",
        "hf_" + "a" * 12 + "_" + "b" * 39,
        "xx_" + "a" * 12 + "_" + "b" * 40,
        "hf_" + "a" * 12 + "_" + "b" * 39 + "!",
    ]:
        assert keys.parse_prefix(candidate) is None


def test_admin_grants_every_scope_and_others_only_themselves() -> None:
    assert keys.grants(frozenset({"admin"}), "events:write")
    assert keys.grants(frozenset({"admin"}), "read")
    assert keys.grants(frozenset({"read"}), "read")
    assert not keys.grants(frozenset({"read"}), "events:write")
    assert not keys.grants(frozenset({"events:write"}), "read")
    assert not keys.grants(frozenset({"read", "events:write"}), "admin")
