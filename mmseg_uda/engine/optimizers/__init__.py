from .merged_groups_constructor import (
                                        MergedGroupsOptimWrapperConstructor,
                                        merge_param_groups,
)
from .multi_optim_constructor import MultiOptimWrapperConstructor
from .trainable_constructor import TrainableOptimWrapperConstructor

__all__ = [
    'MergedGroupsOptimWrapperConstructor', 'MultiOptimWrapperConstructor',
    'TrainableOptimWrapperConstructor', 'merge_param_groups'
]
