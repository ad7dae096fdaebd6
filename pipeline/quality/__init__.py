"""Cleaning existing instruction datasets with generation's rules."""
