"""What an attempt leads to: delivered (2xx), the endpoint disabled (410 Gone), another attempt
per the schedule (at least as late as the receiver's Retry-After, within a cap), or failed once
the schedule is spent."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Sequence

from pasarela.webhooks.outbox import DELIVERED, DISABLED, FAILED, PENDING, Attempt, Outcome

GONE = 410


def decide(
    round_attempts: int, attempt: Attempt, schedule: Sequence[float], retry_after_max: float, now: float
) -> Outcome:
    """`round_attempts` counts this attempt: schedule[n] is the wait before attempt n + 1."""
    code = attempt.status_code
    if code is not None and 200 <= code < 300:
        return Outcome(DELIVERED, now)
    if code == GONE:
        return Outcome(DISABLED, now, reason=f"the receiver answered {attempt.error or 'HTTP 410'}")
    if round_attempts >= len(schedule):
        return Outcome(FAILED, now)
    wait = schedule[round_attempts]
    if attempt.retry_after is not None:
        wait = max(wait, min(attempt.retry_after, retry_after_max))
    return Outcome(PENDING, now + wait)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date; None if neither."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # HTTP dates are GMT
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, moment.timestamp() - now)
