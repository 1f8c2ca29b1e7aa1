"""Tweet sources: replay files, the demo market simulator, the live X stream."""
