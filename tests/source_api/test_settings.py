"""ApiSettings refuses configurations that would break every request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from source_api.settings import ApiSettings


def test_defaults_run_locally() -> None:
    settings = ApiSettings()
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert settings.api_key is None
    assert (settings.api_default_limit, settings.api_max_limit) == (1000, 5000)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"OLIST_API_KEY": ""}, "OLIST_API_KEY is set but empty"),
        (
            {"OLIST_API_DEFAULT_LIMIT": "20", "OLIST_API_MAX_LIMIT": "10"},
            "OLIST_API_DEFAULT_LIMIT (20) is above OLIST_API_MAX_LIMIT (10)",
        ),
        (
            {"OLIST_API_POOL_MIN_SIZE": "5", "OLIST_API_POOL_MAX_SIZE": "4"},
            "OLIST_API_POOL_MIN_SIZE (5) is above OLIST_API_POOL_MAX_SIZE (4)",
        ),
        ({"OLIST_API_MAX_LIMIT": "5001"}, "Input should be less than or equal to 5000"),
    ],
)
def test_settings_that_would_refuse_every_request_are_rejected(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        ApiSettings()
    assert message in str(caught.value)


def test_api_key_is_kept_secret_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIST_API_KEY", "do-not-print")
    settings = ApiSettings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "do-not-print"
    assert "do-not-print" not in repr(settings)
