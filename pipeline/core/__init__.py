"""What every stage shares: records, errors, JSON I/O, the run folder's file names, the seeded split."""
