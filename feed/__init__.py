"""Where tweets come from and where scored tweets go: sources, pipeline, recorder, headless output, aggregation, config."""
