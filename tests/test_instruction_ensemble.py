"""The instruction-ensemble probe: member parsing and probability averaging, checked by hand."""

import pytest
import torch

from benchmarks.instruction_ensemble_dev import parse_member, score_average


def _member(probabilities, bias=0.0):
    gold = [[1, 2, 0]]  # one entity: words 0-1
    return {"corpus": {"probabilities": [torch.tensor(probabilities)], "biases": [bias], "decoding": "argmax",
                       "reach": None, "gold": gold, "tokens": [["a", "b", "c"]]}}


def test_parse_member_reads_folder_and_mode():
    assert parse_member("models/x:named") == ("models/x", True, False)
    assert parse_member("C:/models/x:unnamed") == ("C:/models/x", False, False)
    assert parse_member("models/x:named:context") == ("models/x", True, True)
    with pytest.raises(SystemExit, match="models/x:both"):
        parse_member("models/x:both")


def test_average_of_two_members_can_fix_what_each_gets_wrong():
    # member 1 ends the entity one word early, member 2 runs it one word long; their mean tags B I O
    early = _member([[0.1, 0.9, 0.0], [0.6, 0.0, 0.4], [0.9, 0.0, 0.1]])
    late = _member([[0.1, 0.9, 0.0], [0.1, 0.0, 0.9], [0.45, 0.0, 0.55]])
    assert score_average([early], "corpus")["f1"] == 0.0
    assert score_average([late], "corpus")["f1"] == 0.0
    both = score_average([early, late], "corpus")
    assert both["f1"] == pytest.approx(100.0) and both["entities"] == 1

