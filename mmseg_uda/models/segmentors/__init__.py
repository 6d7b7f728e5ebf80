from .hrda_encoder_decoder import HRDAEncoderDecoder, get_crop_box, slide_boxes

__all__ = ['HRDAEncoderDecoder', 'get_crop_box', 'slide_boxes']
