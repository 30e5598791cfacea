"""Readers and writers for the file formats of the TREC / Pyserini / rank_llm ecosystem."""
