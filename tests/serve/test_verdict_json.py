"""The server's JSON reads the verdict's fields: ``ood`` is ``Verdict.ood``, never the reason text."""

from __future__ import annotations

from fakescope.inference.decision import error_verdict
from fakescope.inference.types import REASON_OOD, Verdict
from fakescope.serve.app import _Output, verdict_json


def test_ood_comes_from_the_field_not_the_reason() -> None:
    flagged = Verdict("a", 0.9, 0.9, "unsure", "odd input", 7.0, "fake", "", ood=True)
    assert verdict_json("a.png", _Output(flagged, None, ""))["ood"] is True
    # a reason that merely reads like the OOD one does not make the flag
    lookalike = Verdict("b", 0.9, 0.9, "unsure", REASON_OOD, 1.0, "fake", "", ood=False)
    assert verdict_json("b.png", _Output(lookalike, None, ""))["ood"] is False
    no_abstainer = Verdict("c", 0.2, 0.2, "real", "below threshold", None, "real", "")
    assert verdict_json("c.png", _Output(no_abstainer, None, ""))["ood"] is None


def test_error_verdict_keeps_the_wire_format() -> None:
    got = verdict_json("x.png", _Output(error_verdict("x", "cannot decode"), None, ""))
    assert got["verdict"] == "" and got["class"] == "" and got["error"] == "cannot decode"
    assert got["p_fake"] is None and got["ood"] is None
