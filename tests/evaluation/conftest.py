"""A small hand-computable example shared by the evaluation tests.

gold                                   ranked predictions (score)
d1  E11.9, I10, J18.9                  E11.9 .9 | E11.65 .8 | I10 .6 | K21.9 .3 | J18.9 .2
d2  R50.9                              R50.81 .7 | R50.9 .4
d3  (none)                             Z00.00 .55
d4  I10                                I10 .95

At threshold 0.5 the predicted sets are
d1 {E11.9, E11.65, I10}   d2 {R50.81}   d3 {Z00.00}   d4 {I10}
so TP = 3 (E11.9@d1, I10@d1, I10@d4), FP = 3 (E11.65, R50.81, Z00.00),
FN = 2 (J18.9@d1, R50.9@d2).
"""

from __future__ import annotations

import pytest

GOLD = {
    "d1": {"E11.9", "I10", "J18.9"},
    "d2": {"R50.9"},
    "d3": set(),
    "d4": {"I10"},
}
SCORED = {
    "d1": [("E11.9", 0.9), ("E11.65", 0.8), ("I10", 0.6), ("K21.9", 0.3), ("J18.9", 0.2)],
    "d2": [("R50.81", 0.7), ("R50.9", 0.4)],
    "d3": [("Z00.00", 0.55)],
    "d4": [("I10", 0.95)],
}
PREDICTED = {
    "d1": {"E11.9", "E11.65", "I10"},
    "d2": {"R50.81"},
    "d3": {"Z00.00"},
    "d4": {"I10"},
}


@pytest.fixture()
def gold() -> dict:
    return {k: set(v) for k, v in GOLD.items()}


@pytest.fixture()
def scored() -> dict:
    return {k: list(v) for k, v in SCORED.items()}


@pytest.fixture()
def predicted() -> dict:
    return {k: set(v) for k, v in PREDICTED.items()}
