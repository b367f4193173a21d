"""The CLIPasso method's math: the strokes optimized (``strokes``), the differentiable rasterizer
(``render``), the paired augmentations (``augment``), the CLIP losses (``losses``) and where
strokes start, from saliency (``starts``)."""
