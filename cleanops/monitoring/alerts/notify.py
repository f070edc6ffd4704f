"""Sending one message about an alert to each of its targets, through apprise.

A target is an e-mail address (sent through CLEANOPS_NOTIFY_SMTP_URL) or an apprise URL
(`json://` webhooks, `slack://`, ...). Each target gets its own tries with exponential
backoff, and one row in `cleanops.notifications` whatever happens: a failing channel is
recorded, never raised, so it cannot fail a run or the sensor. What is stored, logged and
returned names the target masked (apprise's privacy URL) and passes errors through
`secrets.redact`; the passwords and tokens in the URLs are remembered as secrets first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from cleanops import secrets, settings
from cleanops.pipelines import recipients as rcpt

log = logging.getLogger(__name__)
ERROR_LENGTH = 500


@dataclass(frozen=True)
class Target:
    """Where one message goes: `url` may hold a secret and stays in memory; `shown` is masked."""

    channel: str
    shown: str
    url: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Outcome:
    target: Target
    sent: bool
    attempts: int
    error: str | None


def _remember_url_secrets(url: str) -> None:
    """The password and the path and query values of a URL: where apprise URLs keep tokens."""
    try:
        parts = urlsplit(url)
    except ValueError:
        secrets.remember(url)
        return
    secrets.remember(parts.password)
    for segment in parts.path.split("/"):
        if len(segment) >= 8:
            secrets.remember(segment)
    for _, value in parse_qsl(parts.query):
        if len(value) >= 8 and "@" not in value:
            secrets.remember(value)


def smtp_mailto(smtp_url: str, address: str) -> str:
    """apprise's mailto URL for one address through the configured SMTP server.

    `smtp://` sends in the clear (a local relay), `smtp+starttls://` upgrades with STARTTLS,
    `smtps://` is TLS from the start. `?from=` sets the sender (default cleanops@<host>, or
    cleanops@localhost when the host is an IP address)."""
    parts = urlsplit(smtp_url)
    scheme = parts.scheme.lower()
    modes = {"smtp": ("mailto", "insecure"), "smtp+starttls": ("mailtos", "starttls"), "smtps": ("mailtos", "ssl")}
    if scheme not in modes or not parts.hostname:
        raise ValueError("CLEANOPS_NOTIFY_SMTP_URL: expected smtp://, smtp+starttls:// or smtps://host[:port]")
    secrets.remember(parts.password)
    apprise_scheme, mode = modes[scheme]
    query = dict(parse_qsl(parts.query))
    host_is_name = any(c.isalpha() for c in parts.hostname) and ":" not in parts.hostname
    sender = query.get("from") or f"cleanops@{parts.hostname if host_is_name else 'localhost'}"
    login = ""
    if parts.username:
        login = quote(parts.username, safe="") + (":" + quote(parts.password, safe="") if parts.password else "") + "@"
    port = f":{parts.port}" if parts.port else ""
    params = urlencode({"smtp": parts.hostname, "from": sender, "to": address, "mode": mode})
    return f"{apprise_scheme}://{login}{parts.hostname}{port}?{params}"


def _shown(url: str) -> str:
    """apprise's privacy URL (password masked) without its options, tokens masked too."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    shown = plugin.url(privacy=True).split("?", 1)[0] if plugin else url
    return secrets.redact(shown)


def target_for(recipient: str) -> Target:
    """A recipient as a target; a problem (no SMTP server, a bad URL) becomes a failed target."""
    try:
        resolved = rcpt.resolve(recipient)
        channel = rcpt.channel_of(resolved)
    except ValueError as error:
        return Target("unknown", secrets.redact(recipient)[:200], None, secrets.redact(str(error)))
    if channel == "email" and "://" not in resolved:
        smtp = settings.notify_smtp_url()
        if not smtp:
            return Target("email", resolved, None, "no SMTP server configured (CLEANOPS_NOTIFY_SMTP_URL)")
        try:
            return Target("email", resolved, smtp_mailto(smtp, resolved))
        except ValueError as error:
            return Target("email", resolved, None, str(error))
    url = rcpt.apprise_url(resolved)
    _remember_url_secrets(url)
    return Target(channel, _shown(url), url)


def targets(recipients: list[str], channels: list[str] | tuple[str, ...] = ()) -> list[Target]:
    """Distinct targets for these recipients, limited to `channels` when any are given."""
    seen, found = set(), []
    for recipient in recipients:
        target = target_for(recipient)
        if channels and target.channel not in channels and target.problem is None:
            continue
        key = target.url or target.shown
        if key not in seen:
            seen.add(key)
            found.append(target)
    return found


CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10


def with_timeouts(url: str) -> str:
    """apprise's connect and read timeouts (`cto`, `rto`), short unless the URL sets them: a
    server that does not answer must not hold the 30-second sensor tick for long."""
    separator = "&" if "?" in url else "?"
    extra = {name: value for name, value in (("cto", CONNECT_TIMEOUT), ("rto", READ_TIMEOUT))
             if f"{name}=" not in url.split("?", 1)[-1]}
    return url + separator + urlencode(extra) if extra else url


def _try_once(url: str, title: str, body: str) -> str | None:
    """None when apprise delivered; else the (redacted) reason."""
    import apprise

    app = apprise.Apprise()
    if not app.add(with_timeouts(url)):
        return "apprise cannot use this URL"
    with apprise.LogCapture(level=logging.WARNING) as captured:
        delivered = bool(app.notify(title=title, body=body))
        text = captured.getvalue()
    if delivered:
        return None
    lines = [line.split(" - ", 2)[-1] for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines) or "apprise reported a failure"


def send(target: Target, title: str, body: str, attempts: int, backoff: float) -> Outcome:
    """Up to `attempts` tries, waiting backoff, 2×backoff, ... between them; never raises."""
    if target.url is None:
        return Outcome(target, False, 0, target.problem)
    error = None
    for attempt in range(1, attempts + 1):
        try:
            error = _try_once(target.url, title, body)
        except Exception as exc:  # noqa: BLE001 - a channel's failure must not reach the sensor
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            return Outcome(target, True, attempt, None)
        if attempt < attempts:
            time.sleep(backoff * 2 ** (attempt - 1))
    error = secrets.redact(error or "")[:ERROR_LENGTH]
    log.warning("notification to %s (%s) failed after %d attempts: %s", target.shown, target.channel, attempts, error)
    return Outcome(target, False, attempts, error)


def retry_settings() -> tuple[int, float]:
    """Attempts and backoff from the settings; a bad value falls back to 3 tries, 2 s."""
    try:
        return settings.notify_attempts(), settings.notify_backoff_seconds()
    except ValueError as error:
        log.warning("%s; using 3 attempts, 2 s backoff", error)
        return 3, 2.0
