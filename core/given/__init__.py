"""The user's own strokes: read from the API's list or an SVG and checked (``strokes``:
``GivenStroke``, ``Start``), then placed on the optimization canvas, the locked ones as a fixed
background and the free ones as start rows (``canvas``)."""
