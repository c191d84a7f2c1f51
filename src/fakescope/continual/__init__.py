"""Continual learning when new generators appear (system S4, CoReD).

A sequence of tasks (generators, families or groups of them) is learnt one
after the other; each task starts from the previous task's model (the
teacher). The methods differ only in the loss they add to the cross-entropy:
:mod:`.ft`, :mod:`.kd`, :mod:`.lwf`, :mod:`.tg`, :mod:`.cored`, :mod:`.ewc`,
and :mod:`.replay` (a memory of past images), each registered in
:data:`~.base.STRATEGIES`; import the filled registry and ``create_strategy``
from :mod:`.catalog`. :mod:`.runner` trains and evaluates a sequence
(resumable), :mod:`.metrics` computes AA / AF / BWT and :mod:`.report` writes
report.json / .md / .html. This file imports nothing (no import cycles).
"""
