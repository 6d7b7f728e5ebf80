from .uda_data_preprocessor import UDADataPreProcessor

__all__ = ['UDADataPreProcessor']
