"""The Textual monitor and the command-line entry point."""
