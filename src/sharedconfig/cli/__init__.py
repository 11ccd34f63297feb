"""The command-line interface (``sharedconfig ...``)."""
