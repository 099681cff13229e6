"""Web text and tokens: the embedded corpus and hub corpora, the tokenizers, token-level mixing with exposure accounting, and the pipeline that builds a run's data."""
