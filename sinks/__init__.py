"""Where scored posts go: headless JSON lines, the recorder, the aggregates the screen shows."""
