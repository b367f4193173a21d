"""The frozen CLIP networks (open_clip): devices, loading the models and their weights with clear
errors, the load cache (``models``), and the loss ResNet rewritten at load into the same function
with less work: BatchNorm folded, class-token-only attention pool (``fast_resnet``)."""
