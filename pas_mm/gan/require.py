"""One-line error when the optional mmagic extra is missing."""
import importlib

MMAGIC_INSTALL = 'bash tools/install.sh --with-mmagic'


class MMagicMissingError(ImportError):
    """mmagic (or a package its models import) is not installed."""


def require_mmagic() -> None:
    """Import ``mmagic.models``; raise a one-line error naming the install.

    Raises:
        MMagicMissingError: mmagic or one of its imports is missing.
    """
    try:
        importlib.import_module('mmagic.models')
        importlib.import_module('mmagic.datasets')
    except ImportError as e:
        raise MMagicMissingError(
            f'pas_mm.gan needs mmagic 1.2.0 ({type(e).__name__}: {e}); '
            f'install it with `{MMAGIC_INSTALL}`') from None
