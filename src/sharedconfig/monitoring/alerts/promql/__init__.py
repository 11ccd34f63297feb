"""PromQL with Prometheus's semantics: parsing (``promql-parser``), the sample store, the evaluator.

``values`` holds the types every piece shares: labels, samples, series, vectors and matrices, with
timestamps in integer milliseconds as Prometheus keeps them.
"""
