"""dataset_scripts: the corpus builder (features, tag mapping, errors, caching), the mixture helper, real counts."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.compute as pc
import pytest

from configuration_vaner import VanerConfig
from conftest import write_corpus
from dataset_scripts import (
    CORPORA,
    UNSEEN_CORPORA,
    BioNerBuilder,
    CorpusFormatError,
    CorpusNotAvailableError,
    build_instruction_examples,
    load_corpus,
    mixture_config_fields,
    split_instruction_examples,
)
from dataset_scripts.bioner_builder import BioNerConfig
from dataset_scripts.conll import count_mentions, read_conll

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bioner"
DATA_DIR = Path(os.environ.get("VANER_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
O, B, I = 0, 1, 2


def tags(dataset: datasets.Dataset) -> list[list[int]]:
    return [list(row) for row in dataset["ner_tags"]]


# ----------------------------------------------------------------------------------------------- builder


def test_bc4chemd_fixture_features_and_labels(tmp_path):
    corpus = load_corpus("BC4CHEMD", data_dir=FIXTURES, cache_dir=tmp_path)

    assert set(corpus) == {"train", "validation", "test"}
    assert corpus["train"].features == datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=["O", "B", "I"])),
            "corpus": datasets.Value("string"),
            "entity_type": datasets.Value("string"),
        }
    )
    train = corpus["train"]
    assert train["id"][:] == ["train-0", "train-1"]
    assert train["tokens"][1] == ["Sodium", "chloride", "and", "glucose", "were", "infused", "."]
    assert tags(train) == [[B, O, O, O, O, O], [B, I, O, B, O, O, O]]
    assert set(train["corpus"]) == {"BC4CHEMD"} and set(train["entity_type"]) == {"Chemical"}
    assert corpus["validation"]["id"][:] == ["validation-0"] and tags(corpus["test"]) == [[B, I, O, O, O]]


def test_builder_class_is_usable_directly(tmp_path):
    builder = BioNerBuilder(config_name="BC4CHEMD", data_dir=str(FIXTURES / "BC4CHEMD"), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    assert builder.as_dataset(split="test")["tokens"][0] == ["Acetylsalicylic", "acid", "lowers", "risk", "."]


def test_jnlpba_maps_protein_dna_rna_to_gene_and_drops_cell_types(tmp_path):
    corpus = load_corpus("JNLPBA", data_dir=FIXTURES, cache_dir=tmp_path)
    train = corpus["train"]

    # -DOCSTART- lines separate documents and are not tokens
    assert train["tokens"][0][:2] == ["IL-2", "gene"] and len(train) == 3
    assert set(train["entity_type"]) == {"Gene"}
    assert tags(train) == [
        # IL-2 gene (DNA) ... T cells (cell_type -> O) ... NF-kappa B (protein)
        [B, I, O, O, O, O, O, B, I, O],
        # Jurkat cells (cell_line -> O), then protein and RNA side by side stay two mentions
        [O, O, B, B, O, O],
        [B, O, O],
    ]
    assert tags(corpus["validation"]) == [[O, O, O, O]]
    assert tags(corpus["test"]) == [[B, B, I, O]]


def test_dropped_type_followed_by_kept_mention_never_leaves_a_dangling_i(tmp_path):
    write_corpus(tmp_path / "data", "JNLPBA", "T\tB-cell_type\ncells\tI-cell_type\nIL-2\tB-protein\nR\tI-protein")
    corpus = load_corpus("JNLPBA", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert tags(corpus["train"]) == [[O, O, B, I]]


def test_corpus_folder_itself_and_devel_name_and_any_case_are_accepted(tmp_path):
    folder = write_corpus(tmp_path, "NCBI-disease", "colon\tB-Disease\ncancer\tI-Disease", dev="a\tO")
    (folder / "dev.tsv").rename(folder / "devel.tsv")
    corpus = load_corpus("ncbi-DISEASE", data_dir=folder, cache_dir=tmp_path / "cache")
    assert set(corpus["train"]["corpus"]) == {"NCBI-disease"}
    assert set(corpus["train"]["entity_type"]) == {"Disease"}
    assert tags(corpus["train"]) == [[B, I]]


@pytest.mark.parametrize(
    "corpus, train, line, message",
    [
        ("NCBI-disease", "a\tO\nb\tO\tO", 2, "expected 2 tab-separated columns"),
        ("NCBI-disease", "a\tO\n\nb", 3, "expected 2 tab-separated columns"),
        ("NCBI-disease", "a\tO\nb\tB-Chemical", 2, "unknown tag type 'Chemical'"),
        ("NCBI-disease", "a\tS-Disease", 1, "unknown tag 'S-Disease'"),
        ("NCBI-disease", "a\tO\n\nb\tO\nc\tI-Disease", 4, "'I-Disease' continues no Disease mention (it follows O)"),
        ("NCBI-disease", "a\tI-Disease", 1, "continues no Disease mention"),
        ("JNLPBA", "a\tB-protein\nb\tI-DNA", 2, "'I-DNA' continues no DNA mention (it follows a protein mention)"),
        ("JNLPBA", "a\tB-cell_type\nb\tI-protein", 2, "continues no protein mention"),
    ],
)
def test_malformed_files_raise_naming_file_and_line(tmp_path, corpus, train, line, message):
    folder = write_corpus(tmp_path / "data", corpus, train)
    with pytest.raises(CorpusFormatError, match="continues|columns|unknown") as error:
        load_corpus(corpus, data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert str(error.value).startswith(f"{folder / 'train.tsv'}:{line}: ")
    assert message in str(error.value)
    assert (error.value.path, error.value.line) == (str(folder / "train.tsv"), line)


def test_non_utf8_file_raises_naming_file_and_line(tmp_path):
    folder = write_corpus(tmp_path / "data", "linnaeus", "a\tO")
    (folder / "dev.tsv").write_bytes(b"a\tO\nb\xe9\tO\n\n")
    with pytest.raises(CorpusFormatError, match=r"dev.tsv:2: not UTF-8"):
        load_corpus("linnaeus", data_dir=folder, cache_dir=tmp_path / "cache")


def test_missing_split_file_names_the_file(tmp_path):
    folder = write_corpus(tmp_path / "data", "BC2GM", "a\tB-GENE")
    (folder / "test.tsv").unlink()
    with pytest.raises(FileNotFoundError, match=f"missing split file {folder / 'test.tsv'}"):
        load_corpus("BC2GM", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    builder = BioNerBuilder(config_name="BC2GM", data_dir=str(folder), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="test.tsv"):
        builder.download_and_prepare()


def test_edited_corpus_file_is_rebuilt_not_read_from_a_stale_cache(tmp_path):
    folder = write_corpus(tmp_path / "data", "s800", "mouse\tB-Species")
    assert load_corpus("s800", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")["train"]["tokens"][:] == [
        ["mouse"]
    ]
    (folder / "train.tsv").write_text("house\tB-Species\nmice\tI-Species\n\n", encoding="utf-8")
    reloaded = load_corpus("s800", data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert reloaded["train"]["tokens"][:] == [["house", "mice"]] and tags(reloaded["train"]) == [[B, I]]


def test_download_fails_offline_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # read at import time: patch the live value
    with pytest.raises(CorpusNotAvailableError) as error:
        load_corpus("NCBI-disease", cache_dir=tmp_path)
    message = str(error.value)
    assert "'NCBI-disease'" in message and "data_dir=" in message and "Traceback" not in message
    assert len(message.splitlines()) == 1


def test_s800_without_data_dir_explains_how_to_get_it(tmp_path):
    with pytest.raises(CorpusNotAvailableError, match=r"s800 has no public CoNLL release.*data_dir="):
        load_corpus("s800", cache_dir=tmp_path)


def test_read_conll_keeps_line_numbers_and_counts_typed_or_untyped_mentions(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("-DOCSTART-\tO\n\na\tB-x\nb\tI-x\n\n\nc\tO\n", encoding="utf-8")  # no final empty line
    sentences = list(read_conll(path))
    assert [(s.tokens, s.lines) for s in sentences] == [(["a", "b"], [3, 4]), (["c"], [7])]
    assert count_mentions(sentences[0].tags) == 1 and count_mentions(["B", "I", "B", "O"]) == 2


def test_unknown_corpus_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown corpus 'BC6'.*NCBI-disease"):
        load_corpus("BC6")


def test_every_corpus_has_a_config_with_its_canonical_type_and_craft_is_unseen():
    configs = {config.name: config for config in BioNerBuilder.BUILDER_CONFIGS}
    assert sorted(CORPORA) == sorted(
        ["NCBI-disease", "BC5CDR-disease", "BC5CDR-chem", "BC2GM", "JNLPBA", "BC4CHEMD", "linnaeus", "s800"]
        + ["CRAFT-species", "CRAFT-ggp", "CRAFT-chem"]
    )
    assert UNSEEN_CORPORA == ["CRAFT-species", "CRAFT-ggp", "CRAFT-chem"]
    expected = {"BC2GM": "Gene", "JNLPBA": "Gene", "CRAFT-species": "Species", "CRAFT-ggp": "Gene"}
    expected |= {"CRAFT-chem": "Chemical", "BC4CHEMD": "Chemical", "s800": "Species", "NCBI-disease": "Disease"}
    assert {name: configs[name].entity_type for name in expected} == expected
    assert all(isinstance(config, BioNerConfig) for config in configs.values())
    assert [name for name, config in configs.items() if config.urls is None] == ["s800"]
    assert configs["NCBI-disease"].urls["train"].endswith("/data/NCBI-disease-IOB/train.tsv")
    assert configs["NCBI-disease"].urls["validation"].endswith("/data/NCBI-disease-IOB/devel.tsv")


# ----------------------------------------------------------------------------------------------- mixture


def corpus_dataset(corpus: str, entity_type: str, n: int, **extra) -> datasets.Dataset:
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=["O", "B", "I"])),
            "corpus": datasets.Value("string"),
            "entity_type": datasets.Value("string"),
            **{key: datasets.Value("string") for key in extra},
        }
    )
    rows = {
        "id": [f"train-{i}" for i in range(n)],
        "tokens": [[f"w{i}", "x", "y"] for i in range(n)],
        "ner_tags": [[B, I, O] for _ in range(n)],
        "corpus": [corpus] * n,
        "entity_type": [entity_type] * n,
        **{key: [value] * n for key, value in extra.items()},
    }
    return datasets.Dataset.from_dict(rows, features=features)


def dbr_dataset(n: int) -> datasets.Dataset:
    """DBR rows as another builder may write them: string tags, no id column."""
    return datasets.Dataset.from_dict(
        {
            "tokens": [["aspirin", "and", "BRCA1"]] * n,
            "ner_tags": [["O", "O", "B"]] * n,
            "corpus": ["DBR"] * n,
            "entity_type": ["Gene"] * n,
        }
    )


@pytest.fixture
def mixture_inputs() -> list[datasets.Dataset]:
    return [
        corpus_dataset("NCBI-disease", "Disease", 20, source="x"),
        corpus_dataset("BC2GM", "Gene", 15),
        dbr_dataset(10),
    ]


def test_mixture_schema_instructions_and_labels(mixture_inputs):
    config = VanerConfig()
    mixture = build_instruction_examples(mixture_inputs, config)

    assert mixture.column_names == ["id", "instruction", "tokens", "labels", "corpus", "entity_type"]
    assert len(mixture) == 45 and len(set(mixture["id"])) == 45
    rows = {row["id"]: row for row in mixture}
    ncbi, dbr = rows["NCBI-disease-train-3"], rows["DBR-7"]
    assert ncbi["instruction"] == config.render_instruction("Disease", dataset="NCBI-disease")
    assert ncbi["instruction"] == "If any Disease entity is mentioned in the NCBI-disease input, extract it."
    assert ncbi["tokens"] == ["w3", "x", "y"] and ncbi["labels"] == [B, I, O]
    assert dbr["instruction"] == "If any Gene entity is mentioned in the input, extract it."
    assert dbr["labels"] == [O, O, B] and dbr["corpus"] == "DBR" and dbr["entity_type"] == "Gene"
    assert rows["BC2GM-train-0"]["instruction"] == config.render_instruction("Gene", dataset="BC2GM")


def test_mixture_without_dataset_names_uses_the_adapt_template(mixture_inputs):
    config = VanerConfig(instruction_template_no_dataset="Find {entity_type}.")
    mixture = build_instruction_examples(mixture_inputs, config, use_dataset_names=False)
    assert set(mixture["instruction"]) == {"Find Disease.", "Find Gene."}


def test_mixture_is_seeded_and_reproducible(mixture_inputs):
    first = build_instruction_examples(mixture_inputs, seed=3)["id"][:]
    assert build_instruction_examples(mixture_inputs, seed=3)["id"][:] == first
    assert build_instruction_examples(mixture_inputs, seed=4)["id"][:] != first
    unshuffled = build_instruction_examples(mixture_inputs, shuffle=False)["id"][:]
    assert sorted(first) == sorted(unshuffled) and first != unshuffled
    assert unshuffled[:2] == ["NCBI-disease-train-0", "NCBI-disease-train-1"] and unshuffled[-1] == "DBR-9"


def test_split_examples_keep_corpus_order_and_cut_to_the_first_sentences():
    split = corpus_dataset("NCBI-disease", "Disease", 5)
    first = split_instruction_examples(split, use_dataset_names=True, max_sentences=3)
    assert first["id"][:] == ["NCBI-disease-train-0", "NCBI-disease-train-1", "NCBI-disease-train-2"]
    assert "NCBI-disease" in first[0]["instruction"]
    whole = split_instruction_examples(split, use_dataset_names=False, max_sentences=None)
    assert len(whole) == 5 and "NCBI-disease" not in whole[0]["instruction"]
    assert len(split_instruction_examples(split, use_dataset_names=True, max_sentences=50)) == 5


def test_mixture_caps_each_corpus_reproducibly(mixture_inputs):
    capped = build_instruction_examples(mixture_inputs, max_examples_per_corpus=12, seed=1)
    assert Counter(capped["corpus"]) == {"NCBI-disease": 12, "BC2GM": 12, "DBR": 10}
    again = build_instruction_examples(mixture_inputs, max_examples_per_corpus=12, seed=1)
    assert again["id"][:] == capped["id"][:]


def test_mixture_reads_classlabel_ids_by_name_not_by_position():
    features = datasets.Features(
        {
            "tokens": datasets.List(datasets.Value("string")),
            "ner_tags": datasets.List(datasets.ClassLabel(names=["B", "I", "O"])),
            "corpus": datasets.Value("string"),
            "entity_type": datasets.Value("string"),
        }
    )
    rows = {"tokens": [["a", "b", "c"]], "ner_tags": [[2, 0, 1]], "corpus": ["DBR"], "entity_type": ["Species"]}
    mixture = build_instruction_examples([datasets.Dataset.from_dict(rows, features=features)])
    assert mixture["labels"][0] == [O, B, I]


def test_mixture_rejects_duplicates_and_broken_labels(mixture_inputs):
    with pytest.raises(ValueError, match="duplicate example id 'BC2GM-train-0'"):
        build_instruction_examples([mixture_inputs[1], mixture_inputs[1]])
    broken = datasets.Dataset.from_dict(
        {"tokens": [["a", "b"]], "ner_tags": [[0, 2]], "corpus": ["DBR"], "entity_type": ["Gene"]}
    )
    with pytest.raises(ValueError, match="row DBR-0: an I label continues no mention"):
        build_instruction_examples([broken])
    with pytest.raises(ValueError, match="lacks columns"):
        build_instruction_examples([mixture_inputs[0].remove_columns("entity_type")])


def test_mixture_of_loaded_corpora_and_config_fields(tmp_path, mixture_inputs):
    jnlpba = load_corpus("JNLPBA", data_dir=FIXTURES, cache_dir=tmp_path)["train"]
    mixture = build_instruction_examples([jnlpba, mixture_inputs[2]])
    assert rows_of(mixture, "JNLPBA-train-1")["labels"] == [O, O, B, B, O, O]

    fields = mixture_config_fields([jnlpba, *mixture_inputs])
    assert fields == {
        "dataset_names": ["JNLPBA", "NCBI-disease", "BC2GM"],
        "dataset_entity_types": {"JNLPBA": "Gene", "NCBI-disease": "Disease", "BC2GM": "Gene"},
    }
    config = VanerConfig(**fields)
    assert config.render_instruction("Gene", dataset="JNLPBA") == rows_of(mixture, "JNLPBA-train-0")["instruction"]
    assert mixture_config_fields(mixture_inputs, use_dataset_names=False) == {
        "dataset_names": [],
        "dataset_entity_types": {},
    }


def rows_of(dataset: datasets.Dataset, row_id: str) -> dict:
    return dataset[dataset["id"][:].index(row_id)]


# ----------------------------------------------------------------------------------------------- real data

# shared/data/README.md: (sentences, tokens, mentions on the original typed tags) per split
README_COUNTS = {
    "NCBI-disease": [(5424, 135701, 5134), (923, 23969, 787), (940, 24497, 960)],
    "BC5CDR-disease": [(4560, 118170, 4182), (4581, 117453, 4246), (4797, 124750, 4424)],
    "BC5CDR-chem": [(4560, 118170, 5203), (4581, 117453, 5347), (4797, 124750, 5385)],
    "BC2GM": [(12574, 355405, 15197), (2519, 71042, 3061), (5038, 143465, 6325)],
    "JNLPBA": [(16807, 445090, 46750), (1739, 47461, 4551), (3856, 101039, 8662)],
    "linnaeus": [(11935, 280960, 2119), (4078, 93815, 711), (7142, 164653, 1433)],
    "s800": [(5733, 147291, 2557), (830, 22217, 384), (1630, 42298, 767)],
    "CRAFT-species": [(10875, 278226, 3361), (3730, 100166, 1548), (7425, 196904, 2485)],
    "CRAFT-ggp": [(10875, 278226, 8531), (3730, 100166, 2301), (7425, 196904, 5282)],
    "CRAFT-chem": [(10875, 278226, 3377), (3730, 100166, 1044), (7425, 196904, 2381)],
}
JNLPBA_TYPES = [
    {"protein": 27803, "DNA": 8481, "cell_type": 6192, "cell_line": 3430, "RNA": 844},
    {"protein": 2466, "DNA": 1052, "cell_type": 526, "cell_line": 400, "RNA": 107},
    {"protein": 5067, "cell_type": 1921, "DNA": 1056, "cell_line": 500, "RNA": 118},
]
SPLITS = [("train", "train.tsv"), ("validation", "dev.tsv"), ("test", "test.tsv")]


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("real_corpora_cache")


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"real corpora not found at {DATA_DIR} (set VANER_DATA_DIR)")
@pytest.mark.parametrize("name", list(README_COUNTS))
def test_real_corpus_counts_match_the_data_readme(name, real_cache):
    data_dir = DATA_DIR / ("bioner_unseen" if name in UNSEEN_CORPORA else "bioner")
    corpus = load_corpus(name, data_dir=data_dir, cache_dir=real_cache)
    for (split, file_name), (sentences, tokens, mentions), index in zip(SPLITS, README_COUNTS[name], range(3)):
        original = Counter(
            tag[2:] for sentence in read_conll(data_dir / name / file_name) for tag in sentence.tags if tag[:2] == "B-"
        )
        table = corpus[split].data
        labels = pc.list_flatten(table.column("ner_tags"))
        measured = (len(corpus[split]), len(pc.list_flatten(table.column("tokens"))), original.total())
        assert measured == (sentences, tokens, mentions), f"{name}/{split}"
        kept = mentions if name != "JNLPBA" else sum(JNLPBA_TYPES[index][t] for t in ("protein", "DNA", "RNA"))
        assert pc.sum(pc.equal(labels, B)).as_py() == kept, f"{name}/{split} mentions after mapping"
        if name == "JNLPBA":
            assert original == JNLPBA_TYPES[index]


def test_context_precedes_corpus_instructions_in_split_order_but_not_dbr():
    corpus = datasets.Dataset.from_dict({"tokens": [["a"], ["b", "c"], ["d"]], "ner_tags": [[0], [1, 2], [0]],
                                "corpus": ["X"] * 3, "entity_type": ["Disease"] * 3})
    dbr = datasets.Dataset.from_dict({"tokens": [["e"], ["f"]], "ner_tags": [[1], [1]], "corpus": ["DBR"] * 2,
                             "entity_type": ["Disease"] * 2})
    config = VanerConfig(context_sentences=1)
    plain = config.render_instruction("Disease", "X")
    out = build_instruction_examples([corpus, dbr], config, shuffle=False)
    assert out["instruction"][:3] == [plain, f"a {plain}", f"b c {plain}"]
    assert out["instruction"][3:] == [config.render_instruction("Disease")] * 2
    two = split_instruction_examples(corpus, use_dataset_names=True, config=VanerConfig(context_sentences=2))
    assert two["instruction"][2] == f"a b c {plain}"
    assert split_instruction_examples(corpus, use_dataset_names=True)["instruction"] == [plain] * 3
