"""PubTator documents: reading title/abstract blocks, writing spans back with offsets over `title + " " + abstract`."""

from __future__ import annotations

import io
import re

import pytest

from pubtator import PubtatorDocument, read_pubtator, write_pubtator

SAMPLE = (
    "111|t|BRCA1 and breast cancer.\n"
    "111|a|Carriers of BRCA1 mutations.\n"
    "111\t10\t23\tbreast cancer\tDisease\tD001943\n"
    "\n"
    "222|t|Aspirin alone.\n"
    "222|a|\n"
)


def test_read_pubtator_documents_and_the_text_offsets_count_over(tmp_path):
    path = tmp_path / "docs.pubtator"
    path.write_text(SAMPLE, encoding="utf-8")
    first, second = read_pubtator(path)
    assert (first.pmid, first.title, first.abstract) == ("111", "BRCA1 and breast cancer.", "Carriers of BRCA1 mutations.")
    assert first.text[10:23] == "breast cancer"  # the file's own annotation lands on its mention
    assert first.text.index("Carriers") == len(first.title) + 1
    assert (second.pmid, second.text) == ("222", "Aspirin alone.")


def test_lines_split_at_line_feeds_only_and_a_bom_is_dropped(tmp_path):
    title = "Page\x0cbreak and a line\u2028separator in BRCA1."  # pdftotext puts form feeds between pages
    path = tmp_path / "bom.pubtator"
    path.write_bytes(f"\ufeff111|t|{title}\r\n111|a|Abstract.\r\n".encode("utf-8"))
    (document,) = read_pubtator(path)
    assert (document.pmid, document.title, document.abstract) == ("111", title, "Abstract.")
    assert document.text.index("BRCA1") == title.index("BRCA1")  # offsets count over the whole, unsplit title


def test_a_written_mention_keeps_its_length(tmp_path):
    document = PubtatorDocument("111", "Staphylococcus\u00a0aureus and breast  cancer here.")
    text = document.text
    spans = [{"entity_group": "Species", "word": text[0:21], "start": 0, "end": 21, "score": 0.9},
             {"entity_group": "Disease", "word": text[26:40], "start": 26, "end": 40, "score": 0.9}]
    stream = io.StringIO()
    write_pubtator([document], [spans], stream)
    annotations = [line.split("\t") for line in stream.getvalue().splitlines()[2:4]]
    for (_, start, end, mention, _), span in zip(annotations, spans):
        assert len(mention) == int(end) - int(start) == len(span["word"])
    assert annotations[0][3] == "Staphylococcus\u00a0aureus" and annotations[1][3] == "breast  cancer"


def test_write_then_read_round_trip_with_and_without_concept_ids(tmp_path):
    document = PubtatorDocument("111", "BRCA1 and breast cancer.", "Carriers of BRCA1 mutations.")
    spans = [
        {"entity_group": "Gene", "word": "BRCA1", "start": 0, "end": 5, "score": 0.9},
        {"entity_group": "Disease", "word": "breast\tcancer", "start": 10, "end": 23, "score": 0.8,
         "ids": [{"id": "MESH:D001943", "name": "Breast Neoplasms", "score": 0.7}]},
    ]
    stream = io.StringIO()
    write_pubtator([document], [spans], stream)
    assert stream.getvalue() == (
        "111|t|BRCA1 and breast cancer.\n"
        "111|a|Carriers of BRCA1 mutations.\n"
        "111\t0\t5\tBRCA1\tGene\n"
        "111\t10\t23\tbreast cancer\tDisease\tMESH:D001943\n"
        "\n"
    )
    path = tmp_path / "out.pubtator"
    path.write_text(stream.getvalue(), encoding="utf-8")
    assert read_pubtator(path) == [document]
    with pytest.raises(ValueError):  # one list of spans per document
        write_pubtator([document], [], io.StringIO())


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("111|a|abstract first\n", 1, "without its title"),
        ("111|t|T\n222|a|other document\n", 2, "without its title"),
        ("111|t|T\n111|t|again\n", 2, "second title"),
        ("111|t|T\nfree text\n", 2, "expected 'PMID|t|title'"),
        ("111|t|T\n999\t0\t1\tT\tGene\n", 2, "of the document above it"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, content, line, message):
    path = tmp_path / "bad.pubtator"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"bad\.pubtator, line {line}: .*{re.escape(message)}"):
        read_pubtator(path)
