"""Benchmarks that print numbers: scan speed (:mod:`.speed`), single-image latency and cold
start (:mod:`.latency`), probe-head fit times (:mod:`.heads`), HTTP load (:mod:`.loadtest`)."""
