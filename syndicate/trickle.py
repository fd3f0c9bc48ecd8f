"""When each message of a job goes out: spacing between posts and quiet hours.

A burst of twenty new posts must not flood followers. A job with `spacing = "15m"` sends
at most one message per interval (per channel), the rest waiting their turn in order; with
`quiet_hours = "23:00-06:00"` nothing goes out in that span of the site's time zone, and
what waited goes out after it, oldest first, still spaced.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["in_quiet_hours", "quiet_hours_end", "send_times"]


def send_times(
    count: int,
    *,
    earliest: datetime,
    spacing: timedelta | None,
    quiet_hours: tuple[time, time] | None,
    timezone: ZoneInfo,
) -> list[datetime]:
    """The instants (UTC) at which `count` messages may go, in order."""
    times: list[datetime] = []
    moment = earliest
    for _ in range(count):
        if quiet_hours is not None:
            moment = quiet_hours_end(moment, quiet_hours, timezone) or moment
        times.append(moment.astimezone(UTC))
        if spacing is not None:
            moment = moment + spacing
    return times


def in_quiet_hours(moment: datetime, quiet_hours: tuple[time, time], timezone: ZoneInfo) -> bool:
    start, end = quiet_hours
    local = moment.astimezone(timezone).time()
    if start < end:  # e.g. 12:00-13:00
        return start <= local < end
    return local >= start or local < end  # across midnight, e.g. 23:00-06:00


def quiet_hours_end(
    moment: datetime, quiet_hours: tuple[time, time], timezone: ZoneInfo
) -> datetime | None:
    """When the quiet hours around `moment` end (UTC), or None if `moment` is not in them."""
    if not in_quiet_hours(moment, quiet_hours, timezone):
        return None
    local = moment.astimezone(timezone)
    end = quiet_hours[1]
    candidate = datetime.combine(local.date(), end, tzinfo=timezone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=timezone)
    # datetime.combine with a zone may land in a DST gap; normalising through UTC fixes it.
    return candidate.astimezone(UTC)
