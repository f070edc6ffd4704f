"""Recipients and channels of a pipeline's `notifications` block: valid, or a validation error
naming file and field at `cleanops pipelines validate` — never an exception."""

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cleanops.cli.main import cli
from cleanops.monitoring.alerts import notify
from cleanops.pipelines import recipients
from cleanops.pipelines.schema import Notifications
from cleanops_tests.conftest import unique_id, write_pipeline


def _spec(notifications: dict) -> dict:
    return {"pipeline_id": unique_id("notify"), "notifications": notifications,
            "data_sources": [{"id": "users", "type": "csv", "path": "data/users.csv"}]}


def _validate(path):
    result = CliRunner().invoke(cli, ["pipelines", "validate", str(path)])
    return result.exit_code, result.output


@pytest.mark.parametrize("notifications, field, words", [
    ({"channels": ["email", "smoke-signal"]}, "notifications.channels[1]", "unknown channel 'smoke-signal'"),
    ({"on_failure": ["ops@"]}, "notifications.on_failure[0]", "not an e-mail address"),
    ({"on_success": ["ops@example.com", "ftp://files.example.com"]}, "notifications.on_success[1]",
     "unsupported URL scheme 'ftp'"),
    ({"on_failure": ["json://"]}, "notifications.on_failure[0]", "malformed URL"),
    ({"on_failure": ["${CLEANOPS_TEST_UNSET_HOOK}"]}, "notifications.on_failure[0]",
     "CLEANOPS_TEST_UNSET_HOOK is not set"),
    ({"on_failure": ["json://hooks.example.com/x"], "channels": ["email"]}, "notifications",
     "on_failure[0] is a webhook recipient but channels lists only email"),
])
def test_bad_notifications_are_validation_errors_naming_file_and_field(pipelines_dir, notifications, field, words):
    path = write_pipeline(pipelines_dir, _spec(notifications))
    code, output = _validate(path)
    assert code != 0, output
    assert path.name in output and field in output and words in output, output


def test_good_notifications_validate(pipelines_dir, monkeypatch):
    monkeypatch.setenv("CLEANOPS_TEST_SLACK_HOOK", "slack://T1234567/B1234567/abcdefghijklmnop")
    (pipelines_dir / "data").mkdir()
    (pipelines_dir / "data" / "users.csv").write_text("user_id\n1\n")
    path = write_pipeline(pipelines_dir, _spec({
        "on_failure": ["ops@example.com", "https://hooks.example.com/cleanops", "${CLEANOPS_TEST_SLACK_HOOK}"],
        "on_success": ["team@example.com"], "channels": ["email", "webhook", "slack"]}))
    code, output = _validate(path)
    assert code == 0, output


def test_channels_filter_targets_and_mask_tokens(monkeypatch):
    monkeypatch.setenv("CLEANOPS_NOTIFY_SMTP_URL", "smtp://user:Passw0rdLong@mail.example.com:2525")
    found = notify.targets(["ops@example.com", "https://hooks.example.com/services/SecretTokenValue1"], ["email"])
    assert [(t.channel, t.shown) for t in found] == [("email", "ops@example.com")]
    [hook] = notify.targets(["https://hooks.example.com/services/SecretTokenValue1"])
    assert hook.channel == "webhook" and hook.url.startswith("jsons://") and "SecretTokenValue1" not in hook.shown
    assert "Passw0rdLong" in found[0].url and "Passw0rdLong" not in found[0].shown


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.from_regex(r"[a-z]{1,8}://\S{0,40}", fullmatch=True),
                 st.from_regex(r"[\w.+-]{0,12}@[\w.-]{0,20}", fullmatch=True)))
def test_any_recipient_text_is_accepted_or_a_clear_error(text):
    try:
        channel = recipients.channel_of(text)
    except ValueError as error:
        assert str(error)
    else:
        assert channel in recipients.CHANNELS
    try:
        Notifications.model_validate({"on_failure": [text]})
    except ValidationError as error:
        assert error.errors()[0]["loc"] == ("on_failure", 0)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_channel_text_is_accepted_or_a_clear_error(text):
    try:
        Notifications.model_validate({"channels": [text]})
    except ValidationError as error:
        assert error.errors()[0]["loc"] == ("channels", 0) and "unknown channel" in str(error)
    else:
        assert text in recipients.CHANNELS
