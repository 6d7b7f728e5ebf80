from .multi_optim_constructor import MultiOptimWrapperConstructor
from .trainable_constructor import TrainableOptimWrapperConstructor

__all__ = ['MultiOptimWrapperConstructor', 'TrainableOptimWrapperConstructor']
