"""ML Metadata: the connection and the one query layer every reader uses."""
