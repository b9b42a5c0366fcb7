"""Workshop code for the corpora: `datasets` builders for the BioNER corpora and the training-mixture helper.

Not shipped with the model (see DESIGN.md): it may import the model files, never the other way round.
"""

from dataset_scripts.bioner_builder import (
    CORPORA,
    UNSEEN_CORPORA,
    BioNerBuilder,
    BioNerConfig,
    CorpusNotAvailableError,
    canonical_corpora,
    canonical_corpus_name,
    corpus_files,
    load_corpus,
)
from dataset_scripts.conll import CorpusFormatError
from dataset_scripts.mixture import (
    DBR_CORPUS,
    INSTRUCTION_FEATURES,
    build_instruction_examples,
    mixture_config_fields,
    split_instruction_examples,
)

__all__ = [
    "CORPORA",
    "DBR_CORPUS",
    "INSTRUCTION_FEATURES",
    "UNSEEN_CORPORA",
    "BioNerBuilder",
    "BioNerConfig",
    "CorpusFormatError",
    "CorpusNotAvailableError",
    "build_instruction_examples",
    "canonical_corpora",
    "canonical_corpus_name",
    "corpus_files",
    "load_corpus",
    "mixture_config_fields",
    "split_instruction_examples",
]
