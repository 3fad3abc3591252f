"""Multi-worker training plumbing: the Trainer executor, the cluster job file, worker processes."""
