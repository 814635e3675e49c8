"""`webhooks:` in the configuration: every mistake named by its key path, secrets never echoed."""

from __future__ import annotations

import base64
from pathlib import Path

import anyio
import pytest

from pasarela.assembly import build_runtime
from pasarela.config.webhooks import DEFAULT_SCHEDULE
from pasarela.errors import ConfigError
from tests.helpers.processes import run_pasarela
from tests.webhooks.support import ENV, SECRET_A, config_text, loaded

SHORT_SECRET = "whsec_" + base64.b64encode(b"s" * 12).decode()


def problems(text: str, directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loaded(text, directory)
    return [str(p) for p in caught.value.problems]


def endpoint(**fields: str) -> str:
    item = {"principal": "alpha", "url": '"https://hooks.example.com/in"', "secret": '"${secret:HOOK_A}"'}
    item |= {"events": '["job.*"]'} | fields
    return "    extra: {" + ", ".join(f"{k}: {v}" for k, v in item.items()) + "}\n"


def test_defaults_and_a_valid_endpoint(tmp_path: Path) -> None:
    config = loaded(
        config_text("http://127.0.0.1:9", state="sqlite:///./s.db", endpoints=endpoint()), tmp_path
    )
    hooks = config.settings.webhooks
    assert hooks.endpoints["extra"].timeout == 10.0
    assert hooks.endpoints["extra"].secret.get_secret_value() == SECRET_A
    assert loaded("version: 1\n", tmp_path).settings.webhooks.retry_schedule == DEFAULT_SCHEDULE
    assert SECRET_A in config.redactor, "a resolved secret is masked in every log line"


@pytest.mark.parametrize(
    ("fields", "path", "expected"),
    [
        ({"secret": '"not-a-secret-value"'}, "secret", "expected a Standard Webhooks secret: `whsec_`"),
        ({"secret": '"whsec_%%%notbase64%%%"'}, "secret", "the base64 of 24 to 64 random bytes"),
        ({"secret": f'"{SHORT_SECRET}"'}, "secret", "this one decodes to 12 bytes"),
        ({"url": '"http://hooks.example.com/in"'}, "url", "https is required"),
        ({"url": '"ftp://hooks.example.com/in"'}, "url", "expected an https:// URL"),
        ({"url": '"https://user:pw@hooks.example.com/in"'}, "url", "credentials in the URL"),
        ({"events": "[]"}, "events", "at least 1 item"),
        ({"events": '["job completed"]'}, "events[0]", "should match pattern"),
        ({"principal": '"bad principal"'}, "principal", "should match pattern"),
        ({"timeout": "soon"}, "timeout", "expected a duration"),
        ({"retries": "3"}, "retries", "unknown key; expected one of: events, insecure_http, principal"),
    ],
)
def test_each_mistake_is_named_by_its_key_path(
    tmp_path: Path, fields: dict[str, str], path: str, expected: str
) -> None:
    text = config_text("http://127.0.0.1:9", state="sqlite:///./s.db", endpoints=endpoint(**fields))
    found = problems(text, tmp_path)
    assert len(found) == 1, found
    assert f": webhooks.endpoints.extra.{path}: " in found[0]
    assert expected in found[0]
    assert "notbase64" not in found[0] and "not-a-secret-value" not in found[0], "secrets are never echoed"


def test_plain_http_is_allowed_to_loopback_or_when_asked(tmp_path: Path) -> None:
    more = (
        endpoint(url='"http://localhost:8000/in"')
        + endpoint(url='"http://[::1]:8000/in"').replace("extra", "six")
        + endpoint(url='"http://hooks.internal/in"', insecure_http="true").replace("extra", "asked")
    )
    config = loaded(config_text("http://127.0.0.1:9", state="sqlite:///./s.db", endpoints=more), tmp_path)
    assert {"extra", "six", "asked"} <= set(config.settings.webhooks.endpoints)


def test_schedule_and_settings_are_checked(tmp_path: Path) -> None:
    text = config_text(
        "http://127.0.0.1:9", state="sqlite:///./s.db", schedule="[]", webhooks="  concurrency: 0\n"
    )
    found = problems(text, tmp_path)
    assert any("webhooks.retry_schedule: " in p and "at least 1 item" in p for p in found), found
    assert any("webhooks.concurrency: " in p for p in found), found
    found = problems(
        config_text("http://127.0.0.1:9", state="sqlite:///./s.db", schedule="[0s, 30d]"), tmp_path
    )
    assert "webhooks.retry_schedule: a wait longer than 7 days" in found[0]


def test_an_endpoint_of_an_unknown_principal_is_refused_at_build(tmp_path: Path) -> None:
    text = config_text("http://127.0.0.1:9", state="sqlite:///./s.db", endpoints=endpoint(principal="gamma"))
    config = loaded(text, tmp_path)
    with pytest.raises(ConfigError) as caught:
        anyio.run(lambda: build_runtime(config, read_only=True))
    [problem] = caught.value.problems
    assert problem.path == "webhooks.endpoints.extra.principal"
    assert problem.line is not None
    assert "no principal named 'gamma' in identity.api_keys (known: alpha, beta)" in problem.message


def test_pasarela_check_reports_webhook_problems_with_file_line_and_key_path(tmp_path: Path) -> None:
    text = config_text(
        "http://127.0.0.1:9", state="sqlite:///./s.db", endpoints=endpoint(url='"http://10.1.2.3/in"')
    )
    config = tmp_path / "pasarela.yaml"
    config.write_text(text)
    done = run_pasarela("check", "-c", str(config), env=ENV)
    assert done.returncode == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith("    extra:"))
    assert f"pasarela.yaml:{line}: webhooks.endpoints.extra.url: https is required" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "s.db").exists(), "checking creates no state"
