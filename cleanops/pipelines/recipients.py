"""Who a message goes to: e-mail addresses and apprise URLs, and the channel each belongs to.

Used by the pipeline schema (a bad recipient or channel is a validation error at
`cleanops pipelines validate`, naming file and field) and by the sender. Every check
returns a value or raises ValueError with a readable message; nothing else escapes, so any
text a pipeline file holds gives either a valid recipient or a clear error.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+", re.ASCII)
URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]{0,15})://\S+", re.ASCII)

# channel name -> the apprise URL schemes that reach it
CHANNELS: dict[str, tuple[str, ...]] = {
    "email": ("mailto", "mailtos"),
    "webhook": ("json", "jsons", "http", "https"),
    "slack": ("slack",),
    "teams": ("msteams", "workflows"),
    "pagerduty": ("pagerduty",),
    "discord": ("discord",),
    "telegram": ("tgram",),
    "ntfy": ("ntfy", "ntfys"),
}
SCHEME_CHANNEL = {scheme: channel for channel, schemes in CHANNELS.items() for scheme in schemes}
MAX_LENGTH = 2000


def check_channel(name: str) -> str:
    """A known channel name, or ValueError listing the known ones."""
    if name not in CHANNELS:
        raise ValueError(f"unknown channel {name!r}; known channels: {', '.join(CHANNELS)}")
    return name


def apprise_url(recipient: str) -> str:
    """The apprise URL of a recipient that is a URL: plain http(s) becomes a JSON webhook."""
    scheme, rest = recipient.split("://", 1)
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        return ("jsons" if scheme == "https" else "json") + "://" + rest
    return scheme + "://" + rest


def _check_url(recipient: str, scheme: str) -> str:
    import apprise

    channel = SCHEME_CHANNEL.get(scheme.lower())
    if channel is None:
        raise ValueError(f"unsupported URL scheme {scheme!r}; use an e-mail address or a URL of: "
                         + ", ".join(sorted(SCHEME_CHANNEL)))
    try:
        plugin = apprise.Apprise.instantiate(apprise_url(recipient), suppress_exceptions=True)
    except Exception:  # noqa: BLE001 - apprise's parsers must not turn a typo into a crash of validation
        plugin = None
    if not plugin:
        raise ValueError(f"malformed {channel} URL (apprise cannot use it); see docs/monitoring.md")
    return channel


def channel_of(recipient: str) -> str:
    """The channel of a recipient (resolved: no `${VAR}` left), or ValueError."""
    if not isinstance(recipient, str) or not recipient.strip():
        raise ValueError("empty recipient")
    if len(recipient) > MAX_LENGTH:
        raise ValueError(f"recipient longer than {MAX_LENGTH} characters")
    match = URL.fullmatch(recipient)
    if match:
        return _check_url(recipient, match.group(1))
    if "://" in recipient:
        raise ValueError("malformed URL: expected scheme://... without spaces")
    if EMAIL.fullmatch(recipient):
        return "email"
    raise ValueError("not an e-mail address (name@example.com) nor an apprise URL (scheme://...)")


def resolve(recipient: str) -> str:
    """`${VAR}` references replaced from the environment (remembered as secrets); a
    reference to an unset variable raises ValueError naming it (a missing credential)."""
    from cleanops import secrets

    try:
        return secrets.resolve_references(recipient, "recipient")
    except secrets.MissingVariable as error:
        raise ValueError(str(error).removeprefix("recipient: ")) from None


def check_recipient(recipient: str) -> str:
    """The recipient as written, once its resolved form is a valid address or URL."""
    channel_of(resolve(recipient))
    return recipient
