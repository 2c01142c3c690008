"""The errors the tools print as one line, without a traceback."""


class PaSConfigError(ValueError):
    """A PaS setting cannot work (MACs target, gates, backbone, heads).

    The message says why in one line; ``tools/`` print it without a
    traceback.
    """


class DeployError(RuntimeError):
    """The config or checkpoint cannot be deployed (message says why)."""
