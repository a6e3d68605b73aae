"""kombu's Redis transport, with one change: an entry of the queue that is not a message
(not JSON, not UTF-8, JSON without a message's fields) is logged and dropped.

kombu decodes each entry it pops inside the worker's event loop and lets the error escape,
which stops the whole worker ("Unrecoverable error: JSONDecodeError"). The entry is already
off the queue by then, so dropping it loses nothing a producer of ours wrote; a well-formed
message whose body or arguments are wrong goes on to Celery and the task, which drop or
fail it themselves.
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)


class Channel(kombu_redis.Channel):
    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # Raised while decoding the popped entry or building a Message from it; the
            # error names the defect, never the entry's content.
            log.error(
                "dropped an entry of the queue that is not a message: %s: %.200s",
                type(exc).__name__,
                exc,
            )
            return True


class Transport(kombu_redis.Transport):
    Channel = Channel
