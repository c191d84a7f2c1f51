"""Out-of-distribution detection (system S1): scorers, metrics, abstention, benchmark.

The scorer contract is :mod:`.base`; every scorer registers itself in
:data:`~.base.SCORERS`. Import the filled registry and ``create_scorer`` from
:mod:`.catalog`. Score direction everywhere: higher = more out-of-distribution.
This file imports nothing (a scorer imports its sibling ``base``, which runs
this file first: filling the registry here would be an import cycle).
"""
