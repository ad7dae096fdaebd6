"""Clean existing instruction datasets: read them tolerantly, repair, reject by named rules, drop near-duplicates."""
