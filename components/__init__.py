"""Custom TFX components and resolvers: DataGate, AtomicPusher, TFLiteConverter, span resolvers."""
