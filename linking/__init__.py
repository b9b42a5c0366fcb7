"""Entity-linking workshop helpers (KB loading, synonym groups). Not shipped to the Hub; `linking_vaner.py` is."""
