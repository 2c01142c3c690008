from .pas_search_hook import PaSSearchHook

__all__ = ['PaSSearchHook']
