import pytest
from pydantic import ValidationError

from app.config import Settings, normalize_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_database_urls_are_normalised_to_asyncpg(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize("bad", ["mysql://u@h/d", "not a url", "sqlite:///x.db"])
def test_non_postgres_urls_fail_fast(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", bad)
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        Settings()


def test_empty_database_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert Settings().database_url is None


def test_settings_read_holdfast_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDFAST_PORT", "9001")
    monkeypatch.setenv("HOLDFAST_MAX_BODY_BYTES", "2048")
    settings = Settings()
    assert settings.port == 9001
    assert settings.max_body_bytes == 2048


def test_invalid_numbers_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLDFAST_PORT", "70000")
    with pytest.raises(ValidationError, match=r"(?i)port"):
        Settings()
