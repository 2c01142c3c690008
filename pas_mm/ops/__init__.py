from .dbc_gate import BinarizeSTE, DBCGate

__all__ = ['BinarizeSTE', 'DBCGate']
