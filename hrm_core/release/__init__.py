"""Release: calibration, ONNX export, the decision policy a bundle carries, model bundles, evaluation reports and the champion gate."""
