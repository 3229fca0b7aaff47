"""The model and the input rules: what a customer may send, the model directory, the pipeline and
the booster, scores, drift. No HTTP, no files.
"""
