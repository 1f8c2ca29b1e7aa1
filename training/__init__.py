"""finterm-train: teacher fine-tune, sparse transfer with distillation (SparseML), ONNX export, eval, bench."""
