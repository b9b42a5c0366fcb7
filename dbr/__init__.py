"""Dense Bioentities Recognition (DBR) data: phrase mining, KB retrieval, dense-sentence assembly, Hub export.

`build_dbr.py` at the repository root is the CLI and the one function that chains these steps.
"""
