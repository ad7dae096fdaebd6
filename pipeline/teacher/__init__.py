"""The teacher LLM behind an OpenAI-compatible API: client, rate limits, response cache, prices."""
