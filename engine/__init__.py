"""Inference: model folders, tokenization, engines (DeepSparse, ONNX Runtime) and the classifier.

classifier.py scores tweets; model_folder.py reads model folders (one task, or one encoder with
a head per task); tokenization.py and shapes.py make padded batches; backend.py is the `Backend`
protocol and the registry of engines (ort.py, deepsparse.py); compile_queue.py and bridge.py
compile DeepSparse shapes in the background and say who scores meanwhile; status.py words it.
"""
