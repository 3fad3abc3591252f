"""The model code Transform and Trainer execute; its hash is their code version."""
