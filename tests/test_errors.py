"""How problems read: file:line:col, and a repeated message counted, not flooded."""

from __future__ import annotations

from sigmaform.errors import ConfigError, Problem, problem_lines


def test_problem_format() -> None:
    assert str(Problem("a.yaml", 3, 5, "spec.x", "bad")) == "a.yaml:3:5: spec.x: bad"
    assert str(Problem("a.yaml", message="bad")) == "a.yaml: bad"
    assert str(Problem("a.yaml", 1, 1, "", "odd", "warning")) == "a.yaml:1:1: warning: odd"


def test_repeated_message_shows_three_then_a_count() -> None:
    same = [Problem(f"f{i}.yaml", 1, 1, "p", "unset X") for i in range(5)]
    other = Problem("g.yaml", 2, 1, "q", "different")
    lines = problem_lines(sorted([*same, other]))
    assert lines == [
        "f0.yaml:1:1: p: unset X",
        "f1.yaml:1:1: p: unset X",
        "f2.yaml:1:1: p: unset X",
        "... and 2 more with the same message",
        "g.yaml:2:1: q: different",
    ]
    error = ConfigError([*same, other])
    assert len(error.problems) == 6  # every problem kept for --format json
    assert str(error) == "\n".join(lines)
