"""The TFX pipeline: typed config, the one pipeline definition, runners, ops and views."""
