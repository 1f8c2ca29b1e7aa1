"""Bluesky's public firehose through Jetstream (no account): cashtag posts, live."""
