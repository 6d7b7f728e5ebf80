from .uda_loop import UDAIterBasedTrainLoop

__all__ = ['UDAIterBasedTrainLoop']
