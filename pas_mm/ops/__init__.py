from .dbc_gate import BinarizeSTE, DBCGate
from .raw_forward import raw_forward

__all__ = ['BinarizeSTE', 'DBCGate', 'raw_forward']
