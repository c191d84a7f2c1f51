"""``ft``: plain fine-tuning - the student learns each new task with cross-entropy only.

The lower bound of every continual method: nothing keeps the old tasks.
"""

from __future__ import annotations

from fakescope.continual.base import STRATEGIES, ContinualStrategy


@STRATEGIES.register("ft")
class FineTune(ContinualStrategy):
    """Cross-entropy only; :meth:`penalty` is 0 (the base class's behaviour)."""

    name = "ft"
