"""Deadline Alert callbacks, imported by dotted path in the triggerer (this folder is on its ``sys.path``).

``deadline_missed`` is the ``AsyncCallback`` of every DAG's Deadline Alert (built by
``fleet_alerting.deadlines.build_deadline``). The scheduler queues it once when a run misses its deadline;
the triggerer awaits it with the run's context and the alert's kwargs. Sending is blocking I/O (SMTP, HTTP)
and reads connections through the sync Task SDK, so it runs in a worker thread, off the event loop. The
result is returned as text: the triggerer stores it in the callback's ``output`` column (a dict fails there).
"""

from __future__ import annotations

import asyncio
from typing import Any


async def deadline_missed(context: dict[str, Any] | None = None, deadline_name: str = "deadline",
                          interval_s: float = 0.0) -> str:
    """Notify the missed deadline; the returned text is stored as the callback's output."""
    from fleet_alerting.deadlines import notify_deadline_missed

    result = await asyncio.to_thread(notify_deadline_missed, context, deadline_name, interval_s)
    return f"{result['subject']} — sent via {', '.join(result['sent']) or 'no channel'}"
