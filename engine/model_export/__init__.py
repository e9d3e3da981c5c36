"""A saved run as a standalone graph (ONNX, OpenVINO IR) that scores images without this workbench: the graph,
the runtimes that run it, and `engine export`, which writes one only after it scores the run's test set as
the method does."""
