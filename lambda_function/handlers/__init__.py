"""The Lambda handlers template.yaml names, one small module per function: each loads its settings
and model once per container and builds its handler with its package's factory.
"""
