"""Supervised fine-tuning on a dataset (TRL / PEFT); torch and transformers load only inside functions."""
