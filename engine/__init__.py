"""Inference: text normalization, tokenization, engines (DeepSparse, ONNX Runtime), model folders, batching."""
