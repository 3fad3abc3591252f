"""Talking to TF Serving: its config files (``files``) and the predict client (``client``)."""
