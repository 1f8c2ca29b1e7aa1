"""The live X API v2 source: filtered stream, with recent search when the stream is not available."""
