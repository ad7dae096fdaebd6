"""The project's own seed tasks, shipped as package data so an installed `alpaca-pipeline` finds them."""
