"""Run guards: the run lock, the owner record, output and CSV checks, scratch directories."""
