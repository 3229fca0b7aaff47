"""The HTTP path's capture: decisions kept by reference while the request is answered, their
records built and delivered after the answer has gone.

Adding a request's decisions costs a list append (bench/capture.py measures it); building the
records and sending them happens later, in one of three ways:

- under Lambda, an internal extension (extension.py): Lambda lets it finish after the runtime
  has returned the response and before it freezes the environment, so every invocation's
  records are delivered within that invocation and nothing waits in a frozen buffer;
- under `amex-scoring serve`, a background thread every second, and at exit;
- under `amex-scoring invoke`, when the command ends (`close`).
"""

from __future__ import annotations

import atexit
import os
import random
import threading
from collections.abc import Callable

from lambda_function.core.scoring import Loaded, Model
from lambda_function.monitoring.decisions import Decisions

MAX_PENDING = 100_000  # customers kept before delivery: beyond it, records go to the log at once


class CaptureRecorder:
    def __init__(
        self,
        model: Model,
        destination: str,
        inputs: str = "all",
        sample_rate: float = 1.0,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.model, self.inputs, self.sample_rate = model, inputs, sample_rate
        self.destination = destination  # delivery.sink_for's: a folder, an s3:// prefix, firehose:STREAM
        self._chance = chance
        self._pending: list[Decisions] = []
        self._pending_customers = 0
        self._lock = threading.Lock()

    def add(self, decisions: Decisions) -> None:
        """Keep a request's decisions (all of them, or none: requests are sampled whole)."""
        if self.sample_rate < 1.0 and self._chance() >= self.sample_rate:
            return
        with self._lock:
            self._pending.append(decisions)
            self._pending_customers += len(decisions.ids)
            overflow = self._pending_customers > MAX_PENDING
        if overflow:  # delivery is far behind: write what is kept to the log rather than grow
            self.flush(to_log=True)

    def take(self) -> list[Decisions]:
        """The decisions kept so far, which are then no longer kept."""
        with self._lock:
            pending, self._pending, self._pending_customers = self._pending, [], 0
        return pending

    def flush(self, to_log: bool = False) -> int:
        """Build and deliver every pending record; returns how many there were."""
        pending = self.take()
        if not pending:
            return 0
        # Imported here, after the first answer: the HTTP function starts without pyarrow.
        import pyarrow as pa

        from lambda_function.monitoring.capture import capture_table
        from lambda_function.monitoring.delivery import deliver_or_log, record_lines, report_undelivered

        table = pa.concat_tables([capture_table(self.model, decisions, self.inputs) for decisions in pending])
        if to_log:
            reason = f"more than {MAX_PENDING} customers were waiting for delivery"
            report_undelivered(record_lines(table), reason)
        else:
            deliver_or_log(self.destination, table, "http")
        return int(table.num_rows)

    def start_timer(self, seconds: float = 1.0) -> None:
        """Deliver every `seconds` from a background thread, and once more at exit."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(seconds):
                self.flush()

        threading.Thread(target=run, name="capture-flush", daemon=True).start()

        def at_exit() -> None:
            stop.set()
            self.flush()

        atexit.register(at_exit)

    def start(self) -> Callable[[], None]:
        """Start delivering; returns what the handler calls once it has answered."""
        if os.environ.get("AWS_LAMBDA_RUNTIME_API"):  # under Lambda's runtime (or its emulator)
            from lambda_function.monitoring.extension import DeliveryExtension

            return DeliveryExtension(self).done
        self.start_timer()
        return lambda: None


def http_capture(loaded: Loaded) -> CaptureRecorder | None:
    """The HTTP path's recorder for the settings' CAPTURE_URI, or None when capture is off."""
    settings = loaded.settings
    if settings.capture_uri is None:
        return None
    return CaptureRecorder(loaded.model, settings.capture_uri, settings.capture_inputs, settings.capture_sample_rate)
