"""Continual learning when new generators appear (system S4, CoReD).

A sequence of tasks (generators, families or groups of them) is learnt one
after the other; each task starts from the previous task's model (the
teacher). The methods differ only in the loss they add to the cross-entropy:
:mod:`.ft`, :mod:`.kd`, :mod:`.lwf`, :mod:`.tg`, :mod:`.cored`, :mod:`.ewc`,
and :mod:`.replay` (a memory of past images). :mod:`.runner` trains and
evaluates a sequence (resumable), :mod:`.metrics` computes AA / AF / BWT and
:mod:`.report` writes report.json / .md / .html.
"""

from fakescope.continual import cored, ewc, ft, kd, lwf, replay, tg  # noqa: F401 - registration
from fakescope.continual.base import STRATEGIES, ContinualStrategy, create_strategy

__all__ = ["STRATEGIES", "ContinualStrategy", "create_strategy"]
