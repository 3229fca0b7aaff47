"""Build-time tools: synthetic data, training, importing legacy pickles, the CLI.

Not part of the Lambda image; may use scikit-learn and pandas.
"""
