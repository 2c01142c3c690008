"""The error a PaS config raises when the model is built."""


class PaSConfigError(ValueError):
    """A PaS setting cannot work (MACs target, gates, backbone, heads).

    The message says why in one line; ``tools/`` print it without a
    traceback.
    """
