"""Training ResRank: example files, their builders, the two losses, the YAML config and the trainer."""
