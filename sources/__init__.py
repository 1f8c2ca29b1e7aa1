"""Where posts come from: one module (or folder, for a service of several files) per source; registry.py lists them."""
