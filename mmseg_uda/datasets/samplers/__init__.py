from .uda_sampler import UDAIndex, UDASampler, make_index, stream_index

__all__ = ['UDAIndex', 'UDASampler', 'make_index', 'stream_index']
