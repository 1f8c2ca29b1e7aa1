"""The scoring pipeline: a source thread, micro-batches, one scoring thread, sinks."""
