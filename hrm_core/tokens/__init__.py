"""Tokens: the SentencePiece tokenizer, the pre-tokenized BIO-aligned table and the one windowing rule for long inputs."""
