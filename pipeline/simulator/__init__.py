"""The offline OpenAI-compatible teacher used by the demo, the tests and the benchmarks."""
