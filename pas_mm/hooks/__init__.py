from .dataset_check_hook import DatasetCheckHook
from .pas_search_hook import PaSSearchHook

__all__ = ['DatasetCheckHook', 'PaSSearchHook']
