"""ApiSettings refuses configurations that would break every request or leave the API open."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from source_api.settings import ApiSettings


def test_defaults_run_locally_once_a_key_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIST_API_KEY", "k")
    settings = ApiSettings()
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8000)
    assert (settings.api_auth_disabled, settings.api_auth_metrics, settings.api_auth_docs) == (
        False,
        True,
        True,
    )
    assert (settings.api_default_limit, settings.api_max_limit) == (1000, 5000)


def test_authentication_is_on_unless_explicitly_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        ApiSettings()
    assert "OLIST_API_KEY is not set: the API requires a key by default" in str(caught.value)
    assert "OLIST_API_AUTH_DISABLED=true for local development" in str(caught.value)
    monkeypatch.setenv("OLIST_API_AUTH_DISABLED", "true")
    assert ApiSettings().api_keys == ()


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"OLIST_API_KEY": ""}, "OLIST_API_KEY is set but empty"),
        ({"OLIST_API_KEY": "k", "OLIST_API_KEY_PREVIOUS": ""},
         "OLIST_API_KEY_PREVIOUS is set but empty"),
        ({"OLIST_API_KEY_PREVIOUS": "old"}, "OLIST_API_KEY_PREVIOUS alone is not enough"),
        ({"OLIST_API_KEY": "k", "OLIST_API_AUTH_DISABLED": "true"},
         "OLIST_API_AUTH_DISABLED is true but an API key is set"),
        ({"OLIST_API_KEY": "k", "OLIST_API_DEFAULT_LIMIT": "20", "OLIST_API_MAX_LIMIT": "10"},
         "OLIST_API_DEFAULT_LIMIT (20) is above OLIST_API_MAX_LIMIT (10)"),
        ({"OLIST_API_KEY": "k", "OLIST_API_POOL_MIN_SIZE": "5", "OLIST_API_POOL_MAX_SIZE": "4"},
         "OLIST_API_POOL_MIN_SIZE (5) is above OLIST_API_POOL_MAX_SIZE (4)"),
        ({"OLIST_API_KEY": "k", "OLIST_API_MAX_LIMIT": "5001"},
         "Input should be less than or equal to 5000"),
    ],
)  # fmt: skip
def test_settings_that_would_refuse_every_request_are_rejected(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        ApiSettings()
    assert message in str(caught.value)


def test_api_keys_are_kept_secret_in_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIST_API_KEY", "do-not-print")
    monkeypatch.setenv("OLIST_API_KEY_PREVIOUS", "nor-this")
    settings = ApiSettings()
    assert [key.get_secret_value() for key in settings.api_keys] == ["do-not-print", "nor-this"]
    assert "do-not-print" not in repr(settings)
    assert "nor-this" not in repr(settings)
