"""`datasets` builder for the VANER BioNER corpora, one `BuilderConfig` per corpus, and `load_corpus`.

Each corpus tags one canonical entity type (Disease, Chemical, Gene or Species, see `entity_types.py`); the
examples carry untyped O/B/I tags for it, as VANER trains one instruction per type.

Training corpora: NCBI-disease, BC5CDR-disease, BC5CDR-chem, BC4CHEMD, BC2GM, JNLPBA, linnaeus, s800.
CRAFT-species, CRAFT-ggp and CRAFT-chem are for the unseen-corpus evaluation only: never train on them.

Data come from a local folder (`data_dir`, holding `<name>/{train,dev,test}.tsv`) or, without one, from the
public MTL-Bioinformatics-2016 release (s800 has no CoNLL release to download: build it as described in
shared/data/README.md and pass `data_dir`). datasets >= 4 no longer runs builder scripts by path, so
`load_corpus` instantiates the builder itself (`download_and_prepare()` + `as_dataset()`, cached as usual).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from configuration_vaner import IOB_LABELS
from dataset_scripts.conll import CorpusFormatError, read_conll, untyped_tags
from dataset_scripts.entity_types import corpus_entity_type

__all__ = [
    "BioNerBuilder",
    "BioNerConfig",
    "CORPORA",
    "CorpusNotAvailableError",
    "SPLIT_FILES",
    "UNSEEN_CORPORA",
    "canonical_corpora",
    "canonical_corpus_name",
    "corpus_files",
    "load_corpus",
]

# datasets split -> file name in a corpus folder (the dev split may keep the sources' name `devel`)
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    datasets.Split.TRAIN: ("train.tsv",),
    datasets.Split.VALIDATION: ("dev.tsv", "devel.tsv"),
    datasets.Split.TEST: ("test.tsv",),
}

_MTL_COMMIT = "df0df02fae6dbb87d88ffcf323b9096528f06f84"  # the revision shared/data was copied from
_MTL = f"https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/{_MTL_COMMIT}"
_MTL_HOMEPAGE = "https://github.com/cambridgeltl/MTL-Bioinformatics-2016"
_S800_HOWTO = (
    "s800 has no public CoNLL release to download: convert the S800 1.0 standoff release "
    "(https://species.jensenlab.org/files/S800-1.0.tar.gz) with spyysalo/s800 and spyysalo/standoff2conll, "
    "as described in shared/data/README.md"
)


def _mtl_urls(folder: str) -> dict[str, str]:
    return {split: f"{_MTL}/data/{folder}/{names[-1]}" for split, names in SPLIT_FILES.items()}


@dataclass
class BioNerConfig(datasets.BuilderConfig):
    """One corpus: its name (as in `entity_types.CORPUS_TAG_TYPES`) and where its public release lives.

    Args:
        urls: split -> URL of the original release file; `None` when there is nothing to download.
        homepage: where the release is described.
        unseen: held out for the unseen-corpus evaluation (CRAFT); never part of a training mixture.
    """

    urls: dict[str, str] | None = None
    homepage: str = _MTL_HOMEPAGE
    unseen: bool = False
    version: datasets.Version | str | None = field(default_factory=lambda: datasets.Version("1.0.0"))

    @property
    def entity_type(self) -> str:
        return corpus_entity_type(self.name)


def _config(name: str, folder: str | None, description: str, **kwargs: Any) -> BioNerConfig:
    urls = _mtl_urls(folder) if folder else None
    return BioNerConfig(name=name, urls=urls, description=description, **kwargs)


_UNSEEN = "; for the unseen-corpus evaluation only, never train on it"
_CONFIGS = [
    _config("NCBI-disease", "NCBI-disease-IOB", "NCBI disease corpus (Dogan et al. 2014)"),
    _config("BC5CDR-disease", "BC5CDR-disease-IOB", "BioCreative V CDR, disease mentions (Li et al. 2016)"),
    _config("BC5CDR-chem", "BC5CDR-chem-IOB", "BioCreative V CDR, chemical mentions (Li et al. 2016)"),
    _config("BC4CHEMD", "BC4CHEMD", "BioCreative IV CHEMDNER chemical mentions (Krallinger et al. 2015)"),
    _config("BC2GM", "BC2GM-IOB", "BioCreative II gene mention (Smith et al. 2008)"),
    _config(
        "JNLPBA",
        "JNLPBA",
        "JNLPBA 2004 (GENIA); protein/DNA/RNA -> Gene, cell_line/cell_type -> O (as in the VANER paper)",
    ),
    _config("linnaeus", "linnaeus-IOB", "LINNAEUS species corpus (Gerner et al. 2010)"),
    _config(
        "s800",
        None,
        "S800 species corpus (Pafilis et al. 2013); data_dir required",
        homepage="https://species.jensenlab.org/",
    ),
    _config("CRAFT-species", "CRAFT-species-IOB", f"CRAFT, NCBITaxon mentions{_UNSEEN}", unseen=True),
    _config("CRAFT-ggp", "CRAFT-ggp-IOB", f"CRAFT, GGP (gene or gene product) mentions{_UNSEEN}", unseen=True),
    _config("CRAFT-chem", "CRAFT-chem-IOB", f"CRAFT, CHEBI mentions{_UNSEEN}", unseen=True),
]

CORPORA: list[str] = [config.name for config in _CONFIGS]
UNSEEN_CORPORA: list[str] = [config.name for config in _CONFIGS if config.unseen]


class CorpusNotAvailableError(RuntimeError):
    """The corpus could not be obtained (offline, or no public release): the message says how to pass `data_dir`."""


class BioNerBuilder(datasets.GeneratorBasedBuilder):
    """Sentences of one BioNER corpus with untyped O/B/I tags for the corpus' single canonical entity type."""

    BUILDER_CONFIG_CLASS = BioNerConfig
    BUILDER_CONFIGS = _CONFIGS

    def _info(self) -> datasets.DatasetInfo:
        features = datasets.Features(
            {
                "id": datasets.Value("string"),
                "tokens": datasets.List(datasets.Value("string")),
                "ner_tags": datasets.List(datasets.ClassLabel(names=list(IOB_LABELS))),
                "corpus": datasets.Value("string"),
                "entity_type": datasets.Value("string"),
            }
        )
        return datasets.DatasetInfo(
            description=self.config.description, features=features, homepage=self.config.homepage
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        if self.config.data_dir:
            files = corpus_files(self.config.name, self.config.data_dir)
        else:
            files = self._download(dl_manager)
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"path": str(path), "split": str(split)})
            for split, path in files.items()
        ]

    def _download(self, dl_manager: datasets.DownloadManager) -> dict[str, str]:
        name, urls = self.config.name, self.config.urls
        if urls is None:
            raise CorpusNotAvailableError(f"{_S800_HOWTO}. Then pass {_data_dir_hint(name)}.")
        try:
            return dl_manager.download(urls)
        except Exception as error:  # network / offline / HTTP errors of any backend: one clear message
            raise CorpusNotAvailableError(
                f"could not download corpus {name!r} from {_MTL_HOMEPAGE} ({type(error).__name__}: {error}). "
                f"Offline? Pass {_data_dir_hint(name)}, e.g. load_corpus({name!r}, data_dir='shared/data/bioner')."
            ) from None

    def _generate_examples(self, path: str, split: str):
        corpus, entity_type = self.config.name, self.config.entity_type
        for index, sentence in enumerate(read_conll(path)):
            example = {
                "id": f"{split}-{index}",
                "tokens": sentence.tokens,
                "ner_tags": untyped_tags(sentence, corpus, path),
                "corpus": corpus,
                "entity_type": entity_type,
            }
            yield index, example


def _data_dir_hint(name: str) -> str:
    return f"data_dir=<folder holding {name}/train.tsv, dev.tsv, test.tsv>"


def corpus_files(name: str, data_dir: str | os.PathLike) -> dict[str, Path]:
    """Split -> file of corpus `name` under `data_dir` (its parent folder or the corpus folder itself)."""
    folder = Path(data_dir)
    if (folder / name).is_dir():
        folder = folder / name
    files = {}
    for split, names in SPLIT_FILES.items():
        found = [folder / file for file in names if (folder / file).is_file()]
        if not found:
            raise FileNotFoundError(
                f"corpus {name!r}: missing split file {folder / names[0]} (data_dir={str(data_dir)!r} must hold "
                f"{name}/train.tsv, dev.tsv, test.tsv, or be that folder)"
            )
        files[split] = found[0]
    return files


def load_corpus(
    name: str, data_dir: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None, **kwargs: Any
) -> datasets.DatasetDict:
    """Build corpus `name` through `BioNerBuilder` and return its train / validation / test splits.

    Args:
        name: a corpus of `CORPORA` (case-insensitive).
        data_dir: folder holding `<name>/{train,dev,test}.tsv` (or the corpus folder itself); `None` downloads
            the public release.
        cache_dir: datasets cache (default: the usual `HF_DATASETS_CACHE`).
        **kwargs: passed to `download_and_prepare` (e.g. `download_mode="force_redownload"`).

    Raises:
        CorpusFormatError: a malformed file (the message names file and line).
        FileNotFoundError: a missing split file.
        CorpusNotAvailableError: no `data_dir` and the release cannot be downloaded.
    """
    name = canonical_corpus_name(name)
    files = corpus_files(name, data_dir) if data_dir is not None else {}
    builder = BioNerBuilder(
        config_name=name,
        data_dir=str(files[datasets.Split.TRAIN].parent.resolve()) if files else None,
        cache_dir=None if cache_dir is None else str(cache_dir),
        hash=_cache_hash(files.values()),
    )
    try:
        builder.download_and_prepare(**kwargs)
    except datasets.exceptions.DatasetGenerationError as error:
        if isinstance(error.__cause__, CorpusFormatError):
            raise error.__cause__ from None  # the file:line message, not datasets' generic wrapper
        raise
    return builder.as_dataset()


def canonical_corpus_name(name: str) -> str:
    """The builder's spelling of corpus `name` (names are case-insensitive); raises `ValueError` on an unknown one."""
    by_lower = {corpus.lower(): corpus for corpus in CORPORA}
    if name.lower() not in by_lower:
        raise ValueError(f"unknown corpus {name!r}; known: {CORPORA}")
    return by_lower[name.lower()]


def canonical_corpora(
    names: Iterable[str], data_dir: str | os.PathLike | None = None, option: str = "--corpora"
) -> list[str]:
    """`names` in the builders' spelling, checked before any slow step: unknown names, and (with `data_dir`) missing
    split files, raise here with a message that names `option`.

    Corpus names are case-insensitive for the builders, but instructions, DBR folders and a model's dataset names
    use the canonical spelling, so a script normalises its names once, here.
    """
    canonical, unknown = [], []
    for name in names:
        try:
            canonical.append(canonical_corpus_name(name))
        except ValueError:
            unknown.append(name)
    if unknown:
        raise ValueError(f"{option}: unknown corpus {unknown}; known: {CORPORA}")
    if data_dir is not None:
        for name in canonical:
            try:
                corpus_files(name, data_dir)
            except FileNotFoundError as error:
                raise FileNotFoundError(f"{option} {name} with --data-dir {data_dir}: {error}") from None
    return canonical


def _cache_hash(files: Iterable[Path]) -> str:
    """Cache key: the parsing code, the type table, and the size/mtime of local input files.

    So an edited corpus file or a changed mapping rule rebuilds the dataset instead of reusing a stale cache.
    """
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for module in ("bioner_builder.py", "conll.py", "entity_types.py"):
        digest.update((here / module).read_bytes())
    for path in files:
        stat = Path(path).stat()
        digest.update(f"{Path(path).resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
