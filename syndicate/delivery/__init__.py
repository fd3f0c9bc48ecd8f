"""Sending queued deliveries: claim, send through the channel, record what happened.

A delivery row moves queued → claimed → sending → sent / failed / unknown (see
docs/architecture.md). The package is four rooms:

- `queue`: the rows in the database — claiming with a lease, recording outcomes,
  recovering a stopped worker's rows, an editor's requeue and resume;
- `sender`: sends claimed rows through their channels and decides what each outcome
  means (retry, pause, bounce);
- `outage`: a channel that cannot reach its server, paused as a whole;
- `policy`: the `[delivery]` settings and the waits they give;

and `worker.deliver_due`, one delivery pass over all of them. The message each row
carries is composed by `syndicate.messages`.
"""

from __future__ import annotations

from syndicate.delivery.policy import DeliveryPolicy
from syndicate.delivery.queue import requeue, resume
from syndicate.delivery.sender import STATUS_FRESH_SECONDS
from syndicate.delivery.worker import deliver_due

__all__ = ["STATUS_FRESH_SECONDS", "DeliveryPolicy", "deliver_due", "requeue", "resume"]
