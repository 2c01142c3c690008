from .macs_loss import MACsLoss, format_macs, parse_macs

__all__ = ['MACsLoss', 'format_macs', 'parse_macs']
