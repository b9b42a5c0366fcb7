"""Baselines for the paper-reproduction ablation table (workshop code: not shipped with the model)."""
