import pytest

from shared.sealing import Sealer, SealError, derive_key

OLD, NEW = "o" * 40, "n" * 40
CONTACT = {"email": "anna.canary@example.se", "name": "Anna Kanariefågel"}


def test_a_sealed_contact_opens_to_the_same_values_and_hides_them():
    sealer = Sealer([NEW])
    token = sealer.seal(CONTACT)
    assert "anna" not in token.lower()
    assert "Kanarie" not in token
    assert sealer.open(token) == CONTACT


def test_each_seal_is_different_even_for_the_same_values():
    sealer = Sealer([NEW])
    assert sealer.seal(CONTACT) != sealer.seal(CONTACT)


def test_a_tampered_token_is_refused_with_a_named_error():
    sealer = Sealer([NEW])
    token = sealer.seal(CONTACT)
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(SealError):
        sealer.open(tampered)
    with pytest.raises(SealError):
        Sealer([OLD]).open(token)


def test_rotation_opens_old_seals_and_reseals_under_the_new_key():
    old_token = Sealer([OLD]).seal(CONTACT)
    rotated = Sealer([NEW, OLD])
    assert rotated.open(old_token) == CONTACT
    fresh = rotated.reseal(old_token)
    assert Sealer([NEW]).open(fresh) == CONTACT


def test_keys_differ_by_purpose():
    assert derive_key(NEW, "seal/v1") != derive_key(NEW, "links/v1")


def test_the_services_build_their_sealer_from_the_settings_key_list_only():
    """One place reads the key list (``sealer_for(settings.secret_keys)``): a
    ``Sealer`` built from the current key alone cannot open what was sealed
    before a rotation (issue 12: every email cancelled as "member erased")."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found: list[str] = []
    for path in sorted([*root.glob("services/**/*.py"), *root.glob("shared/**/*.py")]):
        if path == root / "shared" / "sealing.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ("Sealer", "MultiFernet", "Fernet"):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert found == []
