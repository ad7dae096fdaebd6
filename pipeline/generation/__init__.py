"""Seed tasks to kept examples: prompts, parsing, quality rules, exact ROUGE-L novelty, and the engine."""
