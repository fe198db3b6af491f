"""The model-code digest of the warm key: a checked refactor reads as the code before it; any other
change is new code."""

from pipeline import families
from pipeline.config import Settings
from pipeline.modelling import warmstart


def test_code_entered_as_equivalent_reads_as_the_earlier_code_and_other_code_does_not(monkeypatch):
    linear = families.create("linear", Settings())
    monkeypatch.setattr(warmstart, "_digest", lambda modules: "refactored")
    monkeypatch.setattr(warmstart, "EQUIVALENT_CODE", {"refactored": "before"})
    assert warmstart.model_code_digest(linear) == "before"

    monkeypatch.setattr(warmstart, "_digest", lambda modules: "changed")
    assert warmstart.model_code_digest(linear) == "changed"


def test_the_digest_changes_with_a_module_of_the_model():
    naive = families.create("naive", Settings())
    modules = tuple(warmstart.model_modules(naive))
    assert "pipeline.families.naive" in modules
    assert warmstart._digest(modules) != warmstart._digest(tuple(m for m in modules if m != "pipeline.families.naive"))
